"""Erasure (GDPR): a user's id replaced by a stable keyed pseudonym in every table.

Also how the other steps find an erased user: the context statements of
:mod:`~refkit.steps.referrals` and :mod:`~refkit.steps.conversions` check the first
:data:`PSEUDONYM_SLOTS` candidate pseudonyms (one per secret key) themselves
(:func:`slots`), and :func:`erased_beyond_slots` looks up older ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, case, delete, select, update

from ..storage.dialects import add_to_total, insert_ignore
from ..storage.prepared import Prepared
from ..storage.schema import (
    balances,
    conversions,
    counters,
    discount_claims,
    erasures,
    flags,
    identities,
    keyring,
    ledger,
    referrals,
    referrer_totals,
    referrers,
    revoked_codes,
    rewards,
    signals,
    visits,
)
from .referrers import number_of, spare_number

__all__ = [
    "PSEUDONYM_SLOTS",
    "erase",
    "read_context",
    "replace_keyring",
    "stored_keyring",
    "subject_for",
    "was_erased",
]

#: How many pseudonyms (one per secret key) the context statements check; more keys than
#: this are checked by :func:`erased_beyond_slots`.
PSEUDONYM_SLOTS: Final = 3


def read_context(
    connection: Connection,
    statement: Prepared,
    parameters: dict[str, Any],
    user_id: str,
    pseudonyms: tuple[str, ...],
) -> tuple[Any, str | None]:
    """The one row of a context statement about ``user_id``, and the user's pseudonym if
    they were erased: the statement checks the first :data:`PSEUDONYM_SLOTS` candidates in
    ``:pseudonym0..`` (the last repeated to fill the slots, an impossible one if there are
    none) and returns it as ``erased``; older ones are looked up after it."""
    candidates = pseudonyms[:PSEUDONYM_SLOTS] or ("",)
    filled = candidates + candidates[-1:] * (PSEUDONYM_SLOTS - len(candidates))
    parameters.update((f"pseudonym{i}", slot) for i, slot in enumerate(filled))
    row = statement.row(connection, parameters)
    assert row is not None  # one row, always
    erased = row.erased
    if erased is None and len(pseudonyms) > PSEUDONYM_SLOTS:
        subject = subject_for(connection, user_id, pseudonyms[PSEUDONYM_SLOTS:])
        erased = None if subject == user_id else subject
    return row, erased


def stored_keyring(connection: Connection) -> list[tuple[str, str]]:
    """The retired pepper keys, wrapped (:mod:`refkit.keyring`): ``(key_id, wrapped)``."""
    rows = connection.execute(select(keyring.c.key_id, keyring.c.wrapped).order_by("created_at"))
    return [(row.key_id, row.wrapped) for row in rows]


def replace_keyring(connection: Connection, wrapped: list[tuple[str, str]], at: datetime) -> None:
    """Store ``wrapped`` (``(key_id, wrapped)`` pairs) as the whole keyring."""
    connection.execute(delete(keyring))
    for key_id, sealed in wrapped:
        connection.execute(keyring.insert().values(key_id=key_id, wrapped=sealed, created_at=at))


def was_erased(connection: Connection, pseudonym: str) -> bool:
    """Whether ``pseudonym`` is the pseudonym of an erased user."""
    found = connection.execute(
        select(erasures.c.pseudonym).where(erasures.c.pseudonym == pseudonym)
    ).first()
    return found is not None


def subject_for(connection: Connection, user_id: str, pseudonyms: tuple[str, ...]) -> str:
    """The id refkit stores for ``user_id``: its pseudonym (one of ``pseudonyms``) if the
    user was erased."""
    found = connection.execute(
        select(erasures.c.pseudonym).where(erasures.c.pseudonym.in_(pseudonyms))
    ).scalar()
    return str(found) if found is not None else user_id


def _merge_counters(connection: Connection, user_id: str, pseudonym: str) -> None:
    """Move the user's capped-reward count onto the pseudonym. A returning referrer's count
    started at the pseudonym's (:func:`~refkit.steps.referrers.assign_number`), so the larger
    of the two is the person's."""
    mine = connection.execute(
        select(counters.c.rewards).where(counters.c.referrer_id == user_id)
    ).scalar()
    if mine is None:
        return
    connection.execute(delete(counters).where(counters.c.referrer_id == user_id))
    insert_ignore(connection, counters, {"referrer_id": pseudonym, "rewards": 0})
    connection.execute(
        update(counters)
        .where(counters.c.referrer_id == pseudonym, counters.c.rewards < mine)
        .values(rewards=mine)
    )


def _merge_totals(connection: Connection, user_id: str, pseudonym: str) -> None:
    """Add the user's running totals to the pseudonym's (which has some if the user was
    erased before)."""
    rows = connection.execute(
        select(referrer_totals).where(referrer_totals.c.referrer_id == user_id)
    ).all()
    connection.execute(delete(referrer_totals).where(referrer_totals.c.referrer_id == user_id))
    for row in rows:
        key = {"referrer_id": pseudonym, "shard": row.shard}
        add_to_total(
            connection, referrer_totals, key, {"visits": row.visits, "signups": row.signups}
        )


def _swap(column: Any, old: str, new: str) -> Any:
    return case((column == old, new), else_=column)


def _rebind(connection: Connection, row: Any, referee: str, referrer: str) -> None:
    """Copy a referral under new ids, move its rewards onto the copy, delete the original.

    Every statement leaves every constraint true: the copy exists before the rewards point
    at it, and each reward's ids change in one UPDATE (the one-level CHECK holds).
    """
    low, high = sorted((referee, referrer))
    connection.execute(
        referrals.insert().values(
            referee_id=referee,
            referrer_id=referrer,
            source=row.source,
            campaign=row.campaign,
            channel=row.channel,
            utm_source=row.utm_source,
            utm_medium=row.utm_medium,
            utm_campaign=row.utm_campaign,
            pair_low=low,
            pair_high=high,
            created_at=row.created_at,
        )
    )
    connection.execute(
        update(rewards)
        .where(rewards.c.referee_id == row.referee_id, rewards.c.referrer_id == row.referrer_id)
        .values(
            referee_id=referee,
            referrer_id=referrer,
            beneficiary_id=case((rewards.c.role == "referee", referee), else_=referrer),
        )
    )
    connection.execute(
        delete(referrals).where(
            referrals.c.referee_id == row.referee_id, referrals.c.referrer_id == row.referrer_id
        )
    )


def erase(
    connection: Connection,
    user_id: str,
    pseudonyms: tuple[str, ...],
    candidates: Callable[[], int],
    at: datetime,
) -> str:
    """Replace ``user_id`` by its pseudonym in every table; delete keys and signal hashes;
    return the pseudonym: the one stored if the user was erased before (under any key of
    ``pseudonyms``), else the first (the newest key's).

    Foreign keys cannot be deferred on every database, so rows referenced by others are
    copied under the pseudonym, their dependents moved, and the originals deleted. The old
    referrer row keeps an unused number drawn from ``candidates()`` for the moment the
    pseudonym's copy takes over its number (so the number is never freed for someone else:
    the old code keeps pointing at the pseudonym, which
    :meth:`~refkit.ReferralProgram.resolve` refuses).
    """
    pseudonym = subject_for(connection, user_id, pseudonyms)
    if pseudonym == user_id:
        pseudonym = pseudonyms[0]
    insert_ignore(connection, erasures, {"pseudonym": pseudonym, "erased_at": at})
    old_referrer = connection.execute(
        select(referrers).where(referrers.c.user_id == user_id)
    ).first()
    if old_referrer is not None:
        connection.execute(
            update(referrers)
            .where(referrers.c.user_id == user_id)
            .values(number=spare_number(connection, candidates))
        )
        # Erased before and back with a new code (a returning referrer): the pseudonym holds
        # the first code's number, so the new code's number is kept by a retired row of its
        # own, whose id (an unused pseudonym) no code resolves to.
        again = number_of(connection, pseudonym) is not None
        holder = f"{pseudonym}:{old_referrer.number}" if again else pseudonym
        connection.execute(
            referrers.insert().values(
                user_id=holder, number=old_referrer.number, created_at=old_referrer.created_at
            )
        )
        connection.execute(
            update(visits)
            .where(visits.c.referrer_id == user_id)
            .values(referrer_id=pseudonym, visitor=None)
        )
        _merge_counters(connection, user_id, pseudonym)
        _merge_totals(connection, user_id, pseudonym)
    as_referee = connection.execute(
        select(referrals).where(referrals.c.referee_id == user_id)
    ).first()
    if as_referee is not None:
        _rebind(connection, as_referee, pseudonym, as_referee.referrer_id)
    as_referrer = connection.execute(
        select(referrals).where(referrals.c.referrer_id == user_id)
    ).all()
    for row in as_referrer:
        # The referee keeps its id (the primary key), so its rewards park on a temporary
        # referral while the referral's referrer changes under them.
        parked = f"refkit-moving:{uuid.uuid4().hex}"
        _rebind(connection, row, parked, pseudonym)
        moved = connection.execute(select(referrals).where(referrals.c.referee_id == parked)).one()
        _rebind(connection, moved, row.referee_id, pseudonym)
    if old_referrer is not None:
        connection.execute(delete(referrers).where(referrers.c.user_id == user_id))
    connection.execute(
        update(conversions)
        .where((conversions.c.customer_id == user_id) | (conversions.c.referrer_id == user_id))
        .values(
            customer_id=_swap(conversions.c.customer_id, user_id, pseudonym),
            referrer_id=_swap(conversions.c.referrer_id, user_id, pseudonym),
        )
    )
    connection.execute(  # milestone bonuses and grants (revision 0010): no referral
        update(rewards)
        .where(rewards.c.order_id.is_(None), rewards.c.referrer_id == user_id)
        .values(referrer_id=pseudonym, beneficiary_id=pseudonym)
    )
    connection.execute(
        update(ledger).where(ledger.c.beneficiary_id == user_id).values(beneficiary_id=pseudonym)
    )
    connection.execute(
        update(balances)
        .where(balances.c.beneficiary_id == user_id)
        .values(beneficiary_id=pseudonym)
    )
    connection.execute(
        update(flags)
        .where((flags.c.referee_id == user_id) | (flags.c.referrer_id == user_id))
        .values(
            referee_id=_swap(flags.c.referee_id, user_id, pseudonym),
            referrer_id=_swap(flags.c.referrer_id, user_id, pseudonym),
        )
    )
    claims = discount_claims
    connection.execute(
        update(claims)
        .where((claims.c.referee_id == user_id) | (claims.c.referrer_id == user_id))
        .values(
            referee_id=_swap(claims.c.referee_id, user_id, pseudonym),
            referrer_id=_swap(claims.c.referrer_id, user_id, pseudonym),
            slot=_swap(claims.c.slot, user_id, pseudonym),
        )
    )
    connection.execute(
        update(revoked_codes).where(revoked_codes.c.user_id == user_id).values(user_id=pseudonym)
    )
    connection.execute(delete(identities).where(identities.c.user_id == user_id))
    connection.execute(delete(signals).where(signals.c.referee_id.in_((user_id, pseudonym))))
    return pseudonym
