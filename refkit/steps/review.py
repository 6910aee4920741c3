"""Review: the emails users registered (as keyed hashes), fraud signals, and the flags that
hold a referral's rewards until someone looks.

Each function runs in the caller's transaction, so a flag is stored with the referral or the
conversion that raised it, or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, delete, insert, select, update

from ..conditions import OPEN_FLAG
from ..models import Fingerprint, FlaggedReferral
from ..storage.dialects import insert_ignore
from ..storage.schema import flags, identities, referrals, signals
from . import erasure

__all__ = [
    "OPEN",
    "clear_flags",
    "flag",
    "flagged_referrals",
    "identify",
    "on_referral",
    "purge_signals",
]

#: A referral is flagged while it has a flag that nobody cleared.
OPEN: Final = OPEN_FLAG  # the one definition, shared with the reports


def flag(
    connection: Connection, referee_id: str, referrer_id: str, reason: str, at: datetime
) -> None:
    """Flag a referral for review (once per reason: a cleared flag stays cleared)."""
    values = {"referee_id": referee_id, "referrer_id": referrer_id, "reason": reason}
    insert_ignore(connection, flags, {**values, "created_at": at})


def identify(
    connection: Connection,
    user_id: str,
    pseudonyms: tuple[str, ...],
    email_hash: str,
    disposable: bool,
    at: datetime,
) -> None:
    """Store (or replace) the user's email hash, under their pseudonym (one of
    ``pseudonyms``) if they were erased; flag their referral if the domain is disposable."""
    user_id = erasure.subject_for(connection, user_id, pseudonyms)
    values = {"email_hash": email_hash, "disposable": disposable}
    row = {"user_id": user_id, "created_at": at, **values}
    if insert_ignore(connection, identities, row) is None:
        connection.execute(
            update(identities).where(identities.c.user_id == user_id).values(**values)
        )
    if not disposable:
        return
    referrer_id = connection.execute(
        select(referrals.c.referrer_id).where(referrals.c.referee_id == user_id)
    ).scalar()
    if referrer_id is not None:
        flag(connection, user_id, referrer_id, "disposable_email", at)


def on_referral(
    connection: Connection,
    referee_id: str,
    referrer_id: str,
    click: Fingerprint | None,
    signup: Fingerprint | None,
    at: datetime,
    *,
    disposable: bool,
) -> None:
    """A referral was just made: keep its signals (hashes only) and raise its flags.

    :param disposable: whether the referee's email is disposable.
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
        flag(connection, referee_id, referrer_id, "same_device", at)
    if disposable:
        flag(connection, referee_id, referrer_id, "disposable_email", at)


def flagged_referrals(connection: Connection, limit: int) -> list[FlaggedReferral]:
    """Referrals with open flags, the most recently flagged first."""
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


def clear_flags(
    connection: Connection, referee_id: str, pseudonyms: tuple[str, ...], at: datetime
) -> int:
    """Mark the referral's open flags as reviewed (the referee's pseudonym's, one of
    ``pseudonyms``, if they were erased); how many there were."""
    referee_id = erasure.subject_for(connection, referee_id, pseudonyms)
    result = connection.execute(
        update(flags).where(flags.c.referee_id == referee_id, OPEN).values(cleared_at=at)
    )
    return int(result.rowcount)


def purge_signals(connection: Connection, before: datetime) -> int:
    """Delete fraud signals stored before ``before``; how many referrals had some."""
    result = connection.execute(delete(signals).where(signals.c.created_at < before))
    return int(result.rowcount)
