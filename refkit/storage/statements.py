"""Statements built once, at import, for the hot paths.

Building a SQLAlchemy statement (``select(...).where(...)``, ``insert(...).values(...)``) and
computing its cache key costs several times what executing it costs; statements built once
with :func:`~sqlalchemy.bindparam` placeholders skip both (the compiled form is cached per
dialect by the engine). The conversion path runs only these.
"""

from __future__ import annotations

from functools import cache, partial
from typing import Any

from sqlalchemy import String, Table, and_, bindparam, exists, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import Executable

from .driver import DriverStatement
from .schema import conversions, erasures, identities, ledger, referrals, rewards, signals

__all__ = [
    "CONVERSION_CONTEXT",
    "CONVERSION_INSERT",
    "LEDGER_INSERT",
    "ON_CONFLICT_DIALECTS",
    "PSEUDONYM_SLOTS",
    "REWARD_INSERT",
    "insert_ignore",
]

#: Dialects with ``INSERT ... ON CONFLICT DO NOTHING RETURNING``.
ON_CONFLICT_DIALECTS = ("postgresql", "sqlite")


@cache
def insert_ignore(table: Table, dialect: str, *, returning: bool) -> Executable:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING key`` for ``table`` on ``dialect`` (one
    of :data:`ON_CONFLICT_DIALECTS`); the values come as execution parameters. Returns the
    id column (``returning``) or the first primary-key column, so a row means "inserted"
    (psycopg reports a rowcount of -1 for this statement)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    key = table.c.id if returning else next(iter(table.primary_key.columns))
    return insert(table).on_conflict_do_nothing().returning(key)


#: How many pseudonyms (one per secret key) the conversion context checks; more keys than
#: this are checked in a second statement.
PSEUDONYM_SLOTS = 3


def _conversion_context(_dialect: str) -> Any:
    customer = bindparam("customer", type_=String)
    other = identities.alias("other")
    mine = identities.alias("mine")
    one = select(literal(1).label("one")).subquery("one")

    def rewarded(role: str) -> Any:
        return exists().where(rewards.c.referee_id == customer, rewards.c.role == role)

    return select(
        select(erasures.c.pseudonym)
        .where(
            erasures.c.pseudonym.in_(
                [bindparam(f"pseudonym{i}", type_=String) for i in range(PSEUDONYM_SLOTS)]
            )
        )
        .limit(1)
        .scalar_subquery()
        .label("erased"),
        exists().where(conversions.c.order_id == bindparam("order_id")).label("replay"),
        exists().where(conversions.c.customer_id == customer).label("bought_before"),
        rewarded("referrer").label("referrer_rewarded"),
        rewarded("referee").label("referee_rewarded"),
        referrals.c.referee_id,
        referrals.c.referrer_id,
        referrals.c.source,
        referrals.c.campaign,
        referrals.c.created_at,
        exists()
        .where(
            mine.c.user_id == referrals.c.referee_id,
            other.c.user_id == referrals.c.referrer_id,
            other.c.email_hash == mine.c.email_hash,
        )
        .label("same_email"),
        select(signals.c.clicked_at)
        .where(signals.c.referee_id == referrals.c.referee_id)
        .scalar_subquery()
        .label("clicked_at"),
    ).select_from(one.outerjoin(referrals, and_(referrals.c.referee_id == customer)))


#: Everything a conversion decides on, in one row, for the customer ``:customer``: their
#: pseudonym if they were erased (``erased``: ``:pseudonym0..2`` are the candidates), whether
#: ``:order_id`` is already stored (``replay``), whether they bought before, which rewards
#: their referral already paid, their referral's columns (all ``None`` if not referred),
#: whether referee and referrer registered one email, and when the referee clicked.
CONVERSION_CONTEXT = DriverStatement(
    _conversion_context,
    ("customer", "order_id", *(f"pseudonym{i}" for i in range(PSEUDONYM_SLOTS))),
)

#: A conversion row unless its order id is stored; returns the order id if inserted.
CONVERSION_INSERT = DriverStatement(
    partial(insert_ignore, conversions, returning=False),
    (
        "order_id",
        "customer_id",
        "amount_minor",
        "refunded_minor",
        "currency",
        "created_at",
        "referrer_id",
        "campaign",
        "reasons",
    ),
)

#: A reward unless its referee already has one in that role; returns the new id.
REWARD_INSERT = DriverStatement(
    partial(insert_ignore, rewards, returning=True),
    (
        "order_id",
        "referee_id",
        "referrer_id",
        "beneficiary_id",
        "role",
        "kind",
        "value_minor",
        "original_minor",
        "currency",
        "status",
        "created_at",
        "due_at",
    ),
)

#: Ledger entries (see ``sql._entry``).
LEDGER_INSERT = DriverStatement(
    lambda _dialect: ledger.insert(),
    (
        "reward_id",
        "beneficiary_id",
        "kind",
        "once_key",
        "pending_minor",
        "approved_minor",
        "currency",
        "created_at",
    ),
)
