"""Referrals: a referee bound to a referrer, once and for good, never in a cycle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from sqlalchemy import Boolean, Connection, String, bindparam, select, text

from ..models import Fingerprint, Referral, Source
from ..storage.dialects import insert_ignore
from ..storage.prepared import Prepared
from ..storage.records import REFERRAL_COLUMNS, referral_from_row
from ..storage.schema import referrals
from . import erasure, review
from .referrers import add_to_totals
from .visits import TAGS

__all__ = ["Attribution", "Refusal", "attribute", "referral_for", "referral_of"]

Refusal = Literal["self_referral", "cycle", "already_referred", "same_email", "existing_customer"]

#: The root of ``:referrer``'s chain of referrers (the first one up the chain who has no
#: referrer; ``:referrer`` itself if nobody referred them), and whether binding ``:referee``
#: to ``:referrer`` would close a cycle, read in one snapshot.
_ROOT_AND_CYCLE_SQL: Final = """
    WITH RECURSIVE chain(user_id) AS (
        SELECT CAST(:referrer AS VARCHAR(255))
        UNION
        SELECT up.referrer_id
        FROM refkit_referrals up JOIN chain ON up.referee_id = chain.user_id
    )
    SELECT
        (SELECT user_id FROM chain WHERE NOT EXISTS (
            SELECT 1 FROM refkit_referrals r WHERE r.referee_id = chain.user_id
        ) LIMIT 1) AS root,
        EXISTS (SELECT 1 FROM chain WHERE user_id = :referee) AS cycle
"""
ROOT_AND_CYCLE: Final = text(_ROOT_AND_CYCLE_SQL).columns(root=String, cycle=Boolean)
#: A lock on one user id for the rest of the transaction (an advisory lock is keyed by a
#: number: a hash collision only makes two bindings wait for each other).
_LOCK_USER: Final = text("SELECT pg_advisory_xact_lock(hashtextextended(:user_id, 7265))")

#: Whether binding ``:referee`` to ``:referrer`` would close a cycle: the walk up the chain of
#: referrers from ``:referrer`` meets ``:referee``. UNION (not UNION ALL) drops repeats, so the
#: walk ends even on a cycle, and there is no depth limit a long chain could slip past.
_CYCLE_SQL: Final = """
    WITH RECURSIVE chain(user_id) AS (
        SELECT referrer_id FROM refkit_referrals WHERE referee_id = :referrer
        UNION
        SELECT up.referrer_id
        FROM refkit_referrals up JOIN chain ON up.referee_id = chain.user_id
    )
    SELECT 1 FROM chain WHERE user_id = :referee
"""
CYCLE: Final = text(f"SELECT EXISTS ({_CYCLE_SQL}) AS cycle").columns(cycle=Boolean)

#: Everything a new binding of ``:referee`` to ``:referrer`` is checked against, in one row:
#: the referee's pseudonym if they were erased (``:pseudonym0..2`` are the candidates), their
#: referral if they have one (all ``None`` if not), whether both registered one email,
#: whether the binding would close a cycle (:data:`CYCLE`), whether the referee's email
#: is disposable, and whether the referee has bought before (then they are no new customer).
ATTRIBUTION_CONTEXT: Final = Prepared(
    text(
        f"""
    SELECT
        (
            SELECT pseudonym FROM refkit_erasures
            WHERE pseudonym IN (:pseudonym0, :pseudonym1, :pseudonym2) LIMIT 1
        ) AS erased,
        {", ".join(f"r.{name}" for name in REFERRAL_COLUMNS)},
        EXISTS (
            SELECT 1 FROM refkit_identities mine
            JOIN refkit_identities other ON other.email_hash = mine.email_hash
            WHERE mine.user_id = :referee AND other.user_id = :referrer
        ) AS same_email,
        EXISTS ({_CYCLE_SQL}) AS cycle,
        (SELECT disposable FROM refkit_identities WHERE user_id = :referee) AS disposable,
        EXISTS (
            SELECT 1 FROM refkit_conversions WHERE customer_id = :referee
        ) AS bought_before
    FROM (SELECT 1 AS one) AS one
    LEFT OUTER JOIN refkit_referrals r ON r.referee_id = :referee
    """  # noqa: S608 (only constants are included: the cycle query, the column names)
    ).columns(
        erased=String,
        **{name: referrals.c[name].type for name in REFERRAL_COLUMNS},
        same_email=Boolean,
        cycle=Boolean,
        disposable=Boolean,
        bought_before=Boolean,
    ),
    ("referee", "referrer", *(f"pseudonym{i}" for i in range(erasure.PSEUDONYM_SLOTS))),
)

#: The referral of ``:referee_id``.
REFERRAL_OF: Final = select(referrals).where(
    referrals.c.referee_id == bindparam("referee_id", type_=String)
)


@dataclass(frozen=True, slots=True)
class Attribution:
    """What :func:`attribute` did: the referral (new or existing), whether it is new, and
    why no referral was made."""

    referral: Referral | None
    created: bool
    refused: Refusal | None = None


@dataclass(frozen=True, slots=True)
class _Context:
    erased: str | None
    bound: Referral | None
    same_email: bool
    cycle: bool
    disposable: bool
    bought_before: bool


def _context(
    connection: Connection, referee_id: str, referrer_id: str, pseudonyms: tuple[str, ...]
) -> _Context:
    parameters = {"referee": referee_id, "referrer": referrer_id}
    row, erased = erasure.read_context(
        connection, ATTRIBUTION_CONTEXT, parameters, referee_id, pseudonyms
    )
    return _Context(
        erased=erased,
        bound=None if row.referee_id is None else referral_from_row(row),
        same_email=bool(row.same_email),
        cycle=bool(row.cycle),
        disposable=bool(row.disposable),
        bought_before=bool(row.bought_before),
    )


def attribute(
    connection: Connection,
    referee_id: str,
    referrer_id: str,
    source: Source,
    campaign: str | None,
    at: datetime,
    click: Fingerprint | None = None,
    signup: Fingerprint | None = None,
    pseudonyms: tuple[str, ...] = (),
    tags: Mapping[str, str | None] | None = None,
    variant: str | None = None,
) -> Attribution:
    """Bind ``referee_id`` (or its pseudonym, one of ``pseudonyms``, if the referee was
    erased) to ``referrer_id``, in the A/B test's ``variant`` if any, unless a rule refuses
    it: the referee is bound already, is the referrer, shares their email, bought before (a
    referral binds a new customer) or would close a cycle. ``tags`` are kept with a new
    referral (:data:`~.visits.TAGS`)."""
    tagged = {tag: (tags or {}).get(tag) for tag in TAGS}
    context = _context(connection, referee_id, referrer_id, pseudonyms)
    if context.erased is not None:
        referee_id = context.erased
        context = _context(connection, referee_id, referrer_id, ())
    if context.bound is not None:
        same = context.bound.referrer_id == referrer_id
        return Attribution(context.bound, False, None if same else "already_referred")
    if referee_id == referrer_id:
        return Attribution(None, False, "self_referral")
    if context.same_email:
        return Attribution(None, False, "same_email")
    if context.bought_before:
        return Attribution(None, False, "existing_customer")
    cycle = context.cycle
    if connection.dialect.name == "postgresql" and not cycle:
        cycle = _check_cycle_locked(connection, referee_id, referrer_id)
    if cycle:
        return Attribution(None, False, "cycle")
    low, high = sorted((referee_id, referrer_id))
    values = {
        "referee_id": referee_id,
        "referrer_id": referrer_id,
        "source": source,
        "campaign": campaign,
        "pair_low": low,
        "pair_high": high,
        "created_at": at,
        **tagged,
        "variant": variant,
    }
    if insert_ignore(connection, referrals, values) is not None:
        add_to_totals(connection, referrer_id, signups=1)
        review.on_referral(
            connection, referee_id, referrer_id, click, signup, at, disposable=context.disposable
        )
        referral = Referral(
            referee_id, referrer_id, source, at, campaign, **tagged, variant=variant
        )
        return Attribution(referral, True)
    existing = referral_of(connection, referee_id)  # lost a race
    if existing is None:  # the unordered pair exists: B already refers A
        return Attribution(None, False, "cycle")
    refused: Refusal | None = None if existing.referrer_id == referrer_id else "already_referred"
    return Attribution(existing, False, refused)


def _check_cycle_locked(connection: Connection, referee_id: str, referrer_id: str) -> bool:
    """Whether binding ``referee_id`` to ``referrer_id`` closes a cycle, checked under
    locks that keep the answer true until this transaction ends (PostgreSQL, READ COMMITTED).

    A check-then-insert alone is not enough: concurrent bindings (a->b, b->c, c->a) could
    each pass it and close a cycle together. But a referee has one referrer, so the chain
    above ``referrer_id`` can only grow at its root (the one user in it without a referrer),
    by a binding whose referee is that root. So every binding locks its referee's id, then
    the root of its referrer's chain, and checks again (each statement sees what committed
    before it); if the root changed meanwhile, it locks the new one and checks again. Two
    bindings wait for each other only when one's referee is the other's root (they could
    close a cycle together); if both wait in turn, PostgreSQL's deadlock detection fails one,
    which is retried and then sees the other's referral. Unrelated signups never wait on
    each other, and the waits are bounded by the call's ``lock_timeout``. The locks are
    transaction-scoped (``pg_advisory_xact_lock``), so they work behind PgBouncer.
    SQLite needs none of this: its writers take turns (``BEGIN IMMEDIATE``).
    """
    locked = {referee_id}
    connection.execute(_LOCK_USER, {"user_id": referee_id})
    parameters = {"referee": referee_id, "referrer": referrer_id}
    while True:
        row = connection.execute(ROOT_AND_CYCLE, parameters).one()
        if row.cycle:
            return True
        if row.root is None or row.root in locked:
            return False
        locked.add(row.root)
        connection.execute(_LOCK_USER, {"user_id": row.root})


def referral_for(
    connection: Connection, referee_id: str, pseudonyms: tuple[str, ...]
) -> Referral | None:
    """The referral of ``referee_id`` (or of its pseudonym, one of ``pseudonyms``, if the
    referee was erased), or ``None``."""
    return referral_of(connection, erasure.subject_for(connection, referee_id, pseudonyms))


def referral_of(connection: Connection, referee_id: str) -> Referral | None:
    """The referee's referral, or ``None``."""
    row = connection.execute(REFERRAL_OF, {"referee_id": referee_id}).first()
    return None if row is None else referral_from_row(row)
