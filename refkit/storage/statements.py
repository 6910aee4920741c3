"""Statements built once, at import, for the hot paths.

Building a SQLAlchemy statement (``select(...).where(...)``, ``insert(...).values(...)``) and
computing its cache key costs several times what executing it costs; statements built once
with :func:`~sqlalchemy.bindparam` placeholders skip both (the compiled form is cached per
dialect by the engine). The conversion path runs only these.
"""

from __future__ import annotations

from functools import cache, partial
from typing import Any

from sqlalchemy import (
    Boolean,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    exists,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import Executable

from .driver import DriverStatement
from .schema import (
    UTCDateTime,
    conversions,
    erasures,
    identities,
    ledger,
    referrals,
    referrer_totals,
    referrers,
    rewards,
    signals,
    visits,
)

__all__ = [
    "ATTRIBUTION_CONTEXT",
    "CONVERSION_CONTEXT",
    "NUMBER_OF_USER",
    "REFERRAL_INSERT",
    "USER_OF_NUMBER",
    "VISIT_BY_NUMBER",
    "VISIT_INSERT",
    "CONVERSION_INSERT",
    "LEDGER_INSERT",
    "ON_CONFLICT_DIALECTS",
    "PSEUDONYM_SLOTS",
    "REWARD_INSERT",
    "TOTALS_BUMP",
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

#: Everything a new binding of ``:referee`` to ``:referrer`` is checked against, in one row:
#: the referee's pseudonym if they were erased, their referral if they have one (all
#: ``None`` if not), whether both registered one email, whether the referrer is the
#: referee's referral descendant (a cycle: the walk up from the referrer meets the referee;
#: UNION, not UNION ALL, ends it even on a cycle), and whether the referee's email is
#: disposable.
ATTRIBUTION_CONTEXT = DriverStatement(
    lambda _dialect: text(
        """
        SELECT
            (
                SELECT pseudonym FROM refkit_erasures
                WHERE pseudonym IN (:pseudonym0, :pseudonym1, :pseudonym2) LIMIT 1
            ) AS erased,
            r.referee_id, r.referrer_id, r.source, r.campaign, r.created_at,
            EXISTS (
                SELECT 1 FROM refkit_identities mine
                JOIN refkit_identities other ON other.email_hash = mine.email_hash
                WHERE mine.user_id = :referee AND other.user_id = :referrer
            ) AS same_email,
            EXISTS (
                WITH RECURSIVE chain(user_id) AS (
                    SELECT referrer_id FROM refkit_referrals WHERE referee_id = :referrer
                    UNION
                    SELECT up.referrer_id
                    FROM refkit_referrals up JOIN chain ON up.referee_id = chain.user_id
                )
                SELECT 1 FROM chain WHERE user_id = :referee
            ) AS cycle,
            (SELECT disposable FROM refkit_identities WHERE user_id = :referee) AS disposable
        FROM (SELECT 1 AS one) AS one
        LEFT OUTER JOIN refkit_referrals r ON r.referee_id = :referee
        """
    ).columns(
        erased=String,
        referee_id=String,
        referrer_id=String,
        source=String,
        campaign=String,
        created_at=UTCDateTime,
        same_email=Boolean,
        cycle=Boolean,
        disposable=Boolean,
    ),
    ("referee", "referrer", *(f"pseudonym{i}" for i in range(PSEUDONYM_SLOTS))),
)

#: A referral unless the referee (or the pair) has one; returns the referee id if inserted.
REFERRAL_INSERT = DriverStatement(
    partial(insert_ignore, referrals, returning=False),
    ("referee_id", "referrer_id", "source", "campaign", "pair_low", "pair_high", "created_at"),
)

#: The user id holding referrer number ``:number``.
USER_OF_NUMBER = DriverStatement(
    lambda _dialect: select(referrers.c.user_id).where(
        referrers.c.number == bindparam("number", type_=Integer)
    ),
    ("number",),
)

#: The referrer number of user ``:user_id``.
NUMBER_OF_USER = DriverStatement(
    lambda _dialect: select(referrers.c.number).where(
        referrers.c.user_id == bindparam("user_id", type_=String)
    ),
    ("user_id",),
)

#: A visit for a known referrer; returns its id.
VISIT_INSERT = DriverStatement(
    lambda _dialect: visits.insert().returning(visits.c.id),
    ("referrer_id", "campaign", "visitor", "created_at"),
)

#: A visit for the holder of referrer number ``:number`` unless that is an erased user (a
#: pseudonym: it starts with ``:erased_prefix``, ``:prefix_length`` characters); returns
#: its id and the referrer, or no row.
VISIT_BY_NUMBER = DriverStatement(
    lambda _dialect: (
        visits.insert()
        .from_select(
            ["referrer_id", "campaign", "visitor", "created_at"],
            select(
                referrers.c.user_id,
                bindparam("campaign", type_=String),
                bindparam("visitor", type_=String),
                bindparam("created_at", type_=UTCDateTime),
            ).where(
                referrers.c.number == bindparam("number", type_=Integer),
                func.substr(referrers.c.user_id, 1, bindparam("prefix_length", type_=Integer))
                != bindparam("erased_prefix", type_=String),
            ),
        )
        .returning(visits.c.id, visits.c.referrer_id)
    ),
    ("number", "campaign", "visitor", "created_at", "erased_prefix", "prefix_length"),
)


def _totals_bump(dialect: str) -> Executable:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(referrer_totals)
    return statement.on_conflict_do_update(
        index_elements=[referrer_totals.c.referrer_id, referrer_totals.c.shard],
        set_={
            "visits": referrer_totals.c.visits + statement.excluded.visits,
            "signups": referrer_totals.c.signups + statement.excluded.signups,
        },
    )


#: Add ``:visits`` and ``:signups`` to one shard of a referrer's running totals (only on
#: :data:`ON_CONFLICT_DIALECTS`).
TOTALS_BUMP = DriverStatement(_totals_bump, ("referrer_id", "shard", "visits", "signups"))
