"""Referrers: the number behind each user's code, and each referrer's running totals."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, Integer, String, bindparam, exists, func, select, update

from ..errors import StorageError
from ..storage.dialects import add_to_total, insert_ignore
from ..storage.prepared import Prepared
from ..storage.schema import (
    TOTAL_SHARDS,
    counters,
    erasures,
    referrer_totals,
    referrers,
    revoked_codes,
)

__all__ = [
    "add_to_totals",
    "assign_number",
    "is_revoked",
    "number_of",
    "renumber",
    "spare_number",
    "user_for_number",
]

_ATTEMPTS = 64

#: The referrer number of user ``:user_id``.
NUMBER_OF_USER: Final = Prepared(
    select(referrers.c.number).where(referrers.c.user_id == bindparam("user_id", type_=String)),
    ("user_id",),
)
#: The user id holding referrer number ``:number``.
USER_OF_NUMBER: Final = Prepared(
    select(referrers.c.user_id).where(referrers.c.number == bindparam("number", type_=Integer)),
    ("number",),
)
#: Whether referrer number ``:number`` is taken (held, or behind a revoked code).
NUMBER_TAKEN: Final = select(
    exists().where(referrers.c.number == bindparam("number"))
    | exists().where(revoked_codes.c.number == bindparam("number"))
)
#: Whether referrer number ``:number`` is behind a revoked code.
NUMBER_REVOKED: Final = select(
    exists().where(revoked_codes.c.number == bindparam("number", type_=Integer))
)
#: Give user ``:holder`` referrer number ``:new_number``.
SET_NUMBER: Final = (
    update(referrers)
    .where(referrers.c.user_id == bindparam("holder", type_=String))
    .values(number=bindparam("new_number", type_=Integer))
)


def number_of(connection: Connection, user_id: str) -> int | None:
    """The user's referrer number, or ``None`` if they have none yet."""
    number: int | None = NUMBER_OF_USER.scalar(connection, {"user_id": user_id})
    return number


def user_for_number(connection: Connection, number: int) -> str | None:
    """The user a referrer number belongs to, or ``None``."""
    user_id: str | None = USER_OF_NUMBER.scalar(connection, {"number": number})
    return user_id


def assign_number(
    connection: Connection,
    user_id: str,
    candidates: Callable[[], int],
    at: datetime,
    pseudonyms: tuple[str, ...] = (),
) -> int:
    """The user's referrer number, assigning a free one from ``candidates()`` if they have
    none (the unique number settles two users drawing the same one).

    A user erased before (one of ``pseudonyms`` is stored) comes back with a new number,
    and with the capped-reward count of their pseudonym: ``max_rewards_per_referrer``
    counts the person, not the code.
    """
    for _ in range(_ATTEMPTS):
        number = candidates()
        if is_revoked(connection, number):
            continue
        values = {"user_id": user_id, "number": number, "created_at": at}
        if insert_ignore(connection, referrers, values) is not None:
            if pseudonyms:
                _carry_count(connection, user_id, pseudonyms)
            return number
        existing = number_of(connection, user_id)
        if existing is not None:
            return existing
    raise StorageError("could not assign a referrer number: the code space is full")


def is_revoked(connection: Connection, number: int) -> bool:
    """Whether ``number`` is behind a revoked code."""
    return bool(connection.execute(NUMBER_REVOKED, {"number": number}).scalar())


def renumber(
    connection: Connection, user_id: str, candidates: Callable[[], int], at: datetime
) -> int:
    """Revoke the user's code: their number is kept in ``refkit_revoked_codes`` (never given
    out again) and they get a new one, which is returned. Their referrals, rewards and
    totals stay: they hang on the user id, not on the code."""
    old = number_of(connection, user_id)
    if old is None:
        return assign_number(connection, user_id, candidates, at)
    new = spare_number(connection, candidates)
    insert_ignore(connection, revoked_codes, {"number": old, "user_id": user_id, "revoked_at": at})
    connection.execute(SET_NUMBER, {"holder": user_id, "new_number": new})
    return new


def _carry_count(connection: Connection, user_id: str, pseudonyms: tuple[str, ...]) -> None:
    taken = connection.execute(
        select(func.max(counters.c.rewards)).where(
            counters.c.referrer_id.in_(
                select(erasures.c.pseudonym).where(erasures.c.pseudonym.in_(pseudonyms))
            )
        )
    ).scalar()
    if taken:
        insert_ignore(connection, counters, {"referrer_id": user_id, "rewards": taken})


def spare_number(connection: Connection, candidates: Callable[[], int]) -> int:
    """A referrer number nobody holds (see :func:`refkit.steps.erasure.erase`)."""
    for _ in range(_ATTEMPTS):
        number = candidates()
        if not connection.execute(NUMBER_TAKEN, {"number": number}).scalar():
            return number
    raise StorageError("could not find a free referrer number: the code space is full")


def add_to_totals(
    connection: Connection, referrer_id: str, *, visits: int = 0, signups: int = 0
) -> None:
    """Add to the referrer's running totals (one shard of them, picked at random, so a
    viral link's visits do not all wait for one row lock)."""
    key = {"referrer_id": referrer_id, "shard": secrets.randbelow(TOTAL_SHARDS)}
    add_to_total(connection, referrer_totals, key, {"visits": visits, "signups": signups})
