"""Rewards that belong to no order: milestone bonuses and rewards granted by hand.

A milestone counts the referrer's own referrals whose referrer reward is approved
(:func:`refkit.conditions.toward_milestones`); :func:`reach` runs in the transaction that
approved rewards, after the approvals. It pays every milestone the count has reached and
that is not paid yet, each as an approved reward, once per referrer and milestone: the
insert is an insert-or-ignore against UNIQUE (``referrer_id``, ``milestone``), so any number
of processes approving the same referrer's rewards pay a milestone once.

So that none of them misses one either, :func:`reach` first takes the referrer's row lock
(their ``refkit_counters`` row, the one caps use): on PostgreSQL two transactions approving
two rewards of one referrer would otherwise each count the other's approval out (it is not
committed yet) and both stop one short. With the lock the second waits, and its count (a
new statement, a new snapshot under READ COMMITTED) sees the first's commit. SQLite runs one
writer at a time already.

A grant (:func:`grant`) is idempotent by its ``reference`` (UNIQUE): the same call again
finds the stored reward, a different one under the same reference is a conflict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Connection, Integer, String, bindparam, func, select, update

from ..conditions import toward_milestones
from ..errors import ConflictError
from ..models import EarnedReward
from ..rules import Milestone, Reward
from ..storage.dialects import insert_ignore
from ..storage.records import reward_from_row, value_of
from ..storage.schema import counters, rewards
from . import ledger
from .rewards import minor_units

__all__ = ["Grant", "grant", "reach", "reached_by"]

_REFERRER = bindparam("referrer", type_=String)
#: Lock referrer ``:referrer``'s row until the transaction ends (a write that changes nothing).
LOCK: Final = (
    update(counters).where(counters.c.referrer_id == _REFERRER).values(rewards=counters.c.rewards)
)
#: How many of referrer ``:referrer``'s referrals count toward their milestones now.
COUNT: Final = select(func.count()).select_from(rewards).where(toward_milestones(_REFERRER))
#: The milestones paid to ``:referrer``, by count.
REACHED: Final = (
    select(rewards.c.milestone)
    .where(rewards.c.referrer_id == _REFERRER, rewards.c.milestone.is_not(None))
    .order_by(rewards.c.milestone)
)
#: The milestone bonus of ``:referrer`` for count ``:milestone``.
BONUS: Final = select(rewards).where(
    rewards.c.referrer_id == _REFERRER,
    rewards.c.milestone == bindparam("milestone", type_=Integer),
)
#: The grant of reference ``:reference``.
GRANTED: Final = select(rewards).where(rewards.c.reference == bindparam("reference", type_=String))


def _values(
    user_id: str, reward: Reward, at: datetime, role: str, **extra: Any
) -> tuple[dict[str, Any], int]:
    minor = minor_units(reward.value, reward.currency)
    values = {
        "order_id": None,
        "referee_id": None,
        "referrer_id": user_id,
        "beneficiary_id": user_id,
        "role": role,
        "kind": reward.kind,
        "value_minor": minor,
        "original_minor": minor,
        "currency": reward.currency,
        "status": "approved",
        "created_at": at,
        "due_at": at,
        "milestone": None,
        "reference": None,
        "reason": None,
        **extra,
    }
    return values, minor


def _record(reward_id: int, values: dict[str, Any]) -> EarnedReward:
    value = value_of(values["value_minor"], values["currency"])
    return EarnedReward(
        id=reward_id,
        order_id=None,
        beneficiary_id=values["beneficiary_id"],
        role=values["role"],
        kind=values["kind"],
        value=value,
        currency=values["currency"],
        status="approved",
        created_at=values["created_at"],
        due_at=values["due_at"],
        referee_id=None,
        referrer_id=values["referrer_id"],
        original_value=value,
        milestone=values["milestone"],
        reference=values["reference"],
        reason=values["reason"],
    )


def _book(connection: Connection, reward: EarnedReward, minor: int, at: datetime) -> None:
    """The ledger of a reward created approved: accrued, then approved at once."""
    ledger.append(
        connection,
        [
            ledger.entry(reward, "accrued", at, pending=minor),
            ledger.entry(reward, "approved", at, pending=-minor, approved=minor),
        ],
    )


def reach(
    connection: Connection, referrer_id: str, milestones: Sequence[Milestone], at: datetime
) -> list[EarnedReward]:
    """Pay referrer ``referrer_id`` every milestone their count has reached and that is not
    paid yet (see the module's doc); the new bonuses, by count."""
    if not milestones:
        return []
    insert_ignore(connection, counters, {"referrer_id": referrer_id, "rewards": 0})
    connection.execute(LOCK, {"referrer": referrer_id})
    count = connection.execute(COUNT, {"referrer": referrer_id}).scalar_one()
    paid: list[EarnedReward] = []
    for milestone in milestones:
        if milestone.count > count:
            break
        values, minor = _values(
            referrer_id, milestone.reward, at, "referrer", milestone=milestone.count
        )
        reward_id = insert_ignore(connection, rewards, values)
        if reward_id is None:
            continue  # paid before (or by a concurrent call, which the lock made wait)
        bonus = _record(reward_id, values)
        _book(connection, bonus, minor, at)
        paid.append(bonus)
    return paid


def reached_by(connection: Connection, referrer_id: str) -> tuple[int, ...]:
    """The counts of the milestones paid to ``referrer_id``."""
    return tuple(connection.execute(REACHED, {"referrer": referrer_id}).scalars())


@dataclass(frozen=True, slots=True)
class Grant:
    """A reward given by hand, validated (see :meth:`refkit.ReferralProgram.grant`)."""

    user_id: str
    reward: Reward
    reference: str
    reason: str
    at: datetime


def grant(connection: Connection, new: Grant) -> tuple[EarnedReward, bool]:
    """Store a granted reward, approved, with its ledger; ``(reward, created)``.

    :raises ConflictError: the reference was used for another user or reward.
    """
    values, minor = _values(
        new.user_id, new.reward, new.at, "grant", reference=new.reference, reason=new.reason
    )
    reward_id = insert_ignore(connection, rewards, values)
    if reward_id is None:
        stored = reward_from_row(connection.execute(GRANTED, {"reference": new.reference}).one())
        if (stored.beneficiary_id, stored.kind, stored.currency, stored.original_value) != (
            new.user_id,
            new.reward.kind,
            new.reward.currency,
            value_of(minor, new.reward.currency),
        ):
            shown = stored.currency or "points"
            raise ConflictError(
                new.reference,
                f"reference {new.reference!r} was already used to grant "
                f"{_shown(stored.original_value)} {shown} to {stored.beneficiary_id!r}; "
                "use a new reference for a different grant",
            )
        return stored, False
    reward = _record(reward_id, values)
    _book(connection, reward, minor, new.at)
    return reward, True


def _shown(value: Decimal) -> str:
    return format(value, "f")
