"""Referrals: a referee bound to a referrer, once and for good, never in a cycle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from sqlalchemy import Boolean, Connection, String, bindparam, select, text

from ..models import Fingerprint, Referral, Source
from ..storage.dialects import insert_ignore
from ..storage.prepared import Prepared
from ..storage.records import referral_from_row
from ..storage.schema import UTCDateTime, referrals
from . import erasure, review
from .referrers import add_to_totals

__all__ = ["Attribution", "Refusal", "attribute", "referral_for", "referral_of"]

Refusal = Literal["self_referral", "cycle", "already_referred", "same_email", "existing_customer"]

_BINDING_LOCK_KEY = 0x7265666B697402  # pg_advisory_xact_lock key serializing new referrals

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
        r.referee_id, r.referrer_id, r.source, r.campaign, r.created_at,
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
    """  # noqa: S608 (only the constant cycle query is included)
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
) -> Attribution:
    """Bind ``referee_id`` (or its pseudonym, one of ``pseudonyms``, if the referee was
    erased) to ``referrer_id`` unless a rule refuses it: the referee is bound already, is
    the referrer, shares their email, bought before (a referral binds a new customer) or
    would close a cycle."""
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
    if connection.dialect.name == "postgresql":
        # Check-then-insert is safe only if no other binding commits in between: two or
        # more concurrent bindings (a->b, b->c, c->a) could each pass the check and close
        # a cycle together; so new bindings take turns, and check again once it is
        # theirs. SQLite already serializes writers (BEGIN IMMEDIATE).
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BINDING_LOCK_KEY})
        parameters = {"referee": referee_id, "referrer": referrer_id}
        cycle = bool(connection.execute(CYCLE, parameters).scalar())
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
    }
    if insert_ignore(connection, referrals, values) is not None:
        add_to_totals(connection, referrer_id, signups=1)
        review.on_referral(
            connection, referee_id, referrer_id, click, signup, at, disposable=context.disposable
        )
        return Attribution(Referral(referee_id, referrer_id, source, at, campaign), True)
    existing = referral_of(connection, referee_id)  # lost a race
    if existing is None:  # the unordered pair exists: B already refers A
        return Attribution(None, False, "cycle")
    refused: Refusal | None = None if existing.referrer_id == referrer_id else "already_referred"
    return Attribution(existing, False, refused)


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
