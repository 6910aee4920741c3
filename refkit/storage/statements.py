"""Statements built once, at import, for the hot paths.

Building a SQLAlchemy statement (``select(...).where(...)``, ``insert(...).values(...)``) and
computing its cache key costs several times what executing it costs; statements built once
with :func:`~sqlalchemy.bindparam` placeholders skip both (the compiled form is cached per
dialect by the engine). The conversion path runs only these.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import String, Table, and_, bindparam, exists, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import Executable

from .schema import conversions, erasures, identities, ledger, referrals, rewards, signals

__all__ = ["CONVERSION_CONTEXT", "LEDGER_INSERT", "ON_CONFLICT_DIALECTS", "insert_ignore"]

#: Dialects with ``INSERT ... ON CONFLICT DO NOTHING RETURNING``.
ON_CONFLICT_DIALECTS = ("postgresql", "sqlite")


@cache
def insert_ignore(table: Table, dialect: str, returning: bool) -> Executable:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING key`` for ``table`` on ``dialect`` (one
    of :data:`ON_CONFLICT_DIALECTS`); the values come as execution parameters. Returns the
    id column (``returning``) or the first primary-key column, so a row means "inserted"
    (psycopg reports a rowcount of -1 for this statement)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    key = table.c.id if returning else next(iter(table.primary_key.columns))
    return insert(table).on_conflict_do_nothing().returning(key)


def _conversion_context() -> Any:
    customer = bindparam("customer", type_=String)
    other = identities.alias("other")
    mine = identities.alias("mine")
    one = select(literal(1).label("one")).subquery("one")

    def rewarded(role: str) -> Any:
        return exists().where(rewards.c.referee_id == customer, rewards.c.role == role)

    return select(
        select(erasures.c.pseudonym)
        .where(erasures.c.pseudonym.in_(bindparam("pseudonyms", expanding=True)))
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
#: pseudonym if they were erased (``erased``: :pseudonyms holds the candidates), whether
#: ``:order_id`` is already stored (``replay``), whether they bought before, which rewards
#: their referral already paid, their referral's columns (all ``None`` if not referred),
#: whether referee and referrer registered one email, and when the referee clicked.
CONVERSION_CONTEXT = _conversion_context()

#: One ledger entry; every column is an execution parameter.
LEDGER_INSERT = ledger.insert()
