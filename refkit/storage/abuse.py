"""Abuse and privacy work inside a store's transactions: identities, flags, signals, erasure.

Each function takes the open connection of the caller's transaction, so a flag is stored
with the referral or the conversion that raised it, or not at all.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, delete, func, insert, select, update

from ..models import Fingerprint, FlaggedReferral
from .schema import (
    conversions,
    counters,
    erasures,
    flags,
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
    "clear_flags",
    "erase",
    "flag",
    "flagged_referrals",
    "identify",
    "on_referral",
    "purge_signals",
    "same_email",
    "subject_for",
]

#: A referral is flagged while it has a flag that nobody cleared.
OPEN = flags.c.cleared_at.is_(None)


def flag(
    connection: Connection,
    insert_ignore: Any,
    referee_id: str,
    referrer_id: str,
    reason: str,
    at: datetime,
) -> None:
    """Flag a referral for review (once per reason: a cleared flag stays cleared)."""
    values = {"referee_id": referee_id, "referrer_id": referrer_id, "reason": reason}
    insert_ignore(connection, flags, {**values, "created_at": at})


def same_email(connection: Connection, first: str, second: str) -> bool:
    """Whether both users registered the same normalized email (see ``identify``)."""
    theirs = select(identities.c.email_hash).where(identities.c.user_id == first)
    found = connection.execute(
        select(func.count()).where(
            identities.c.user_id == second, identities.c.email_hash.in_(theirs)
        )
    ).scalar()
    return bool(found)


def identify(
    connection: Connection,
    insert_ignore: Any,
    user_id: str,
    email_hash: str,
    disposable: bool,
    at: datetime,
) -> None:
    """Store (or replace) the user's email hash; flag their referral if the domain is
    disposable."""
    values = {"email_hash": email_hash, "disposable": disposable}
    if not insert_ignore(connection, identities, {"user_id": user_id, "created_at": at, **values}):
        connection.execute(
            update(identities).where(identities.c.user_id == user_id).values(**values)
        )
    referrer_id = (
        connection.execute(
            select(referrals.c.referrer_id).where(referrals.c.referee_id == user_id)
        ).scalar()
        if disposable
        else None
    )
    if referrer_id is not None:
        flag(connection, insert_ignore, user_id, referrer_id, "disposable_email", at)


def on_referral(
    connection: Connection,
    insert_ignore: Any,
    referee_id: str,
    referrer_id: str,
    click: Fingerprint | None,
    signup: Fingerprint | None,
    at: datetime,
    *,
    disposable: bool | None = None,
) -> None:
    """A referral was just made: keep its signals (hashes only) and raise its flags.

    ``disposable``: whether the referee's email is disposable, if the caller read it already.
    """
    if click is not None or signup is not None:
        connection.execute(
            insert(signals).values(
                referee_id=referee_id,
                click_ip=click.ip if click else None,
                click_ua=click.user_agent if click else None,
                clicked_at=click.at if click else None,
                signup_ip=signup.ip if signup else None,
                signup_ua=signup.user_agent if signup else None,
                created_at=at,
            )
        )
    if (
        click is not None
        and signup is not None
        and click.ip is not None
        and click.user_agent is not None
        and (click.ip, click.user_agent) == (signup.ip, signup.user_agent)
    ):
        flag(connection, insert_ignore, referee_id, referrer_id, "same_device", at)
    if disposable is None:
        disposable = connection.execute(
            select(identities.c.disposable).where(identities.c.user_id == referee_id)
        ).scalar()
    if disposable:
        flag(connection, insert_ignore, referee_id, referrer_id, "disposable_email", at)


def flagged_referrals(connection: Connection, limit: int) -> list[FlaggedReferral]:
    rows = connection.execute(
        select(
            flags.c.referee_id,
            flags.c.reason,
            flags.c.created_at,
            referrals.c.referrer_id,
            referrals.c.created_at.label("referred_at"),
        )
        .join(referrals, referrals.c.referee_id == flags.c.referee_id)
        .where(OPEN)
        .order_by(flags.c.created_at.desc(), flags.c.referee_id, flags.c.reason)
    ).all()
    grouped: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.referee_id].append(row)
    result = [
        FlaggedReferral(
            referee_id=referee,
            referrer_id=found[0].referrer_id,
            reasons=tuple(sorted(row.reason for row in found)),
            flagged_at=max(row.created_at for row in found),
            referred_at=found[0].referred_at,
        )
        for referee, found in grouped.items()
    ]
    result.sort(key=lambda f: (f.flagged_at, f.referee_id), reverse=True)
    return result[:limit]


def clear_flags(connection: Connection, referee_id: str, at: datetime) -> int:
    result = connection.execute(
        update(flags).where(flags.c.referee_id == referee_id, OPEN).values(cleared_at=at)
    )
    return int(result.rowcount)


def purge_signals(connection: Connection, before: datetime) -> int:
    result = connection.execute(delete(signals).where(signals.c.created_at < before))
    return int(result.rowcount)


def subject_for(connection: Connection, user_id: str, pseudonyms: tuple[str, ...]) -> str:
    """The id refkit stores for ``user_id``: its pseudonym if the user was erased."""
    found = connection.execute(
        select(erasures.c.pseudonym).where(erasures.c.pseudonym.in_(pseudonyms))
    ).scalar()
    return str(found) if found is not None else user_id


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
    insert_ignore: Any,
    user_id: str,
    pseudonym: str,
    spare_number: int,
    at: datetime,
) -> None:
    """Replace ``user_id`` by ``pseudonym`` in every table; delete keys and signal hashes.

    Foreign keys cannot be deferred on every database, so rows referenced by others are
    copied under the pseudonym, their dependents moved, and the originals deleted.

    :param spare_number: an unused referrer number, held by the old referrer row for the
        moment the pseudonym's copy takes over its number (so the number is never freed
        for someone else: the old code keeps pointing at the pseudonym, which
        :meth:`~refkit.ReferralProgram.resolve` refuses).
    """
    insert_ignore(connection, erasures, {"pseudonym": pseudonym, "erased_at": at})
    old_referrer = connection.execute(
        select(referrers).where(referrers.c.user_id == user_id)
    ).first()
    if old_referrer is not None:
        connection.execute(
            update(referrers).where(referrers.c.user_id == user_id).values(number=spare_number)
        )
        connection.execute(
            referrers.insert().values(
                user_id=pseudonym, number=old_referrer.number, created_at=old_referrer.created_at
            )
        )
        connection.execute(
            update(visits)
            .where(visits.c.referrer_id == user_id)
            .values(referrer_id=pseudonym, visitor=None)
        )
        connection.execute(
            update(counters).where(counters.c.referrer_id == user_id).values(referrer_id=pseudonym)
        )
        connection.execute(
            update(referrer_totals)
            .where(referrer_totals.c.referrer_id == user_id)
            .values(referrer_id=pseudonym)
        )
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
    connection.execute(
        update(ledger).where(ledger.c.beneficiary_id == user_id).values(beneficiary_id=pseudonym)
    )
    connection.execute(
        update(flags)
        .where((flags.c.referee_id == user_id) | (flags.c.referrer_id == user_id))
        .values(
            referee_id=_swap(flags.c.referee_id, user_id, pseudonym),
            referrer_id=_swap(flags.c.referrer_id, user_id, pseudonym),
        )
    )
    connection.execute(delete(identities).where(identities.c.user_id == user_id))
    connection.execute(delete(signals).where(signals.c.referee_id.in_((user_id, pseudonym))))
