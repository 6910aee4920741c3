"""Rewards: created pending from a conversion's decision, approved when due or by hand,
revoked, and revoked, reversed or lowered by refunds; taken over, while pending, by an order
dated earlier (:func:`take_over`). Every change appends its ledger entry.

State changes are conditional ``UPDATE ... WHERE status = 'pending'`` and caps a conditional
``UPDATE ... WHERE rewards < cap``: the database settles every race, never a read in Python
followed by a write.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final, Literal

from sqlalchemy import Connection, Integer, String, bindparam, select, update

from ..conditions import due
from ..errors import ValidationError
from ..models import EarnedReward, Referral
from ..money import to_minor
from ..rules import PlannedReward
from ..storage.dialects import insert_ignore, insert_ignore_rows
from ..storage.records import reward_from_row, value_of
from ..storage.schema import UTCDateTime, conversions, counters, rewards
from . import ledger

__all__ = [
    "TAKE_OVER_ROUNDS",
    "Outcome",
    "approve_due",
    "create",
    "listing",
    "of_order",
    "refund",
    "set_status",
    "take_over",
]

#: How many times :func:`take_over` reads again after losing a race, and a conversion tries
#: again after one (each lost race means another transaction committed a change to the same
#: rows: a guard, not a limit reached in practice).
TAKE_OVER_ROUNDS: Final = 64
#: What became of a planned reward: created, or refused by the database.
Outcome = EarnedReward | Literal["cap_reached", "already_rewarded"]

#: Move reward ``:reward_id`` from status ``:old`` to ``:new``; one row if it moved.
TRANSITION: Final = (
    update(rewards)
    .where(
        rewards.c.id == bindparam("reward_id", type_=Integer),
        rewards.c.status == bindparam("old", type_=String),
    )
    .values(status=bindparam("new", type_=String))
)
#: Take one of referrer ``:referrer``'s capped reward slots unless ``:cap`` are taken.
TAKE_SLOT: Final = (
    update(counters)
    .where(
        counters.c.referrer_id == bindparam("referrer", type_=String),
        counters.c.rewards < bindparam("cap", type_=Integer),
    )
    .values(rewards=counters.c.rewards + 1)
)
#: Give one slot back (the reward it was taken for was not created after all).
GIVE_SLOT_BACK: Final = (
    update(counters)
    .where(counters.c.referrer_id == bindparam("referrer", type_=String), counters.c.rewards > 0)
    .values(rewards=counters.c.rewards - 1)
)
#: The pending rewards holding the roles of referee ``:referee`` (slot 0) that an order dated
#: ``:at`` takes over: those of orders dated after it.
LATER_PENDING: Final = (
    select(rewards.c.id, rewards.c.role)
    .where(
        rewards.c.referee_id == bindparam("referee", type_=String),
        rewards.c.slot == 0,
        rewards.c.status == "pending",
        rewards.c.created_at > bindparam("at", type_=UTCDateTime),
    )
    .order_by(rewards.c.id)
)
#: Revoke pending reward ``:reward_id`` and move it out of its role's slot 0 (into the slot of
#: its own id), so another order's reward can take the role.
STEP_ASIDE: Final = (
    update(rewards)
    .where(
        rewards.c.id == bindparam("reward_id", type_=Integer),
        rewards.c.status == "pending",
        rewards.c.slot == 0,
    )
    .values(status="revoked", slot=rewards.c.id)
)
#: Reward ``:reward_id``.
REWARD: Final = select(rewards).where(rewards.c.id == bindparam("reward_id", type_=Integer))
#: The rewards of order ``:order_id``, oldest first.
OF_ORDER: Final = (
    select(rewards)
    .where(rewards.c.order_id == bindparam("order_id", type_=String))
    .order_by(rewards.c.id)
)


def minor_units(value: Decimal, currency: str | None) -> int:
    """A reward's value in minor units (points when ``currency`` is ``None``)."""
    return int(value) if currency is None else to_minor(value, currency, "reward")


def _take_slot(connection: Connection, referrer_id: str, cap: int) -> bool:
    insert_ignore(connection, counters, {"referrer_id": referrer_id, "rewards": 0})
    taken = connection.execute(TAKE_SLOT, {"referrer": referrer_id, "cap": cap})
    return taken.rowcount == 1


def create(
    connection: Connection,
    order_id: str,
    referral: Referral,
    plans: Sequence[PlannedReward],
    at: datetime,
    due_at: datetime,
    cap: int | None,
) -> list[Outcome]:
    """Create the planned rewards, pending until ``due_at``, with their ledger entries.

    :param cap: at most this many referrer rewards per referrer (``None``: no cap).
    :returns: for each plan, the reward, or why the database refused it: the referrer's cap
        was reached, or another order of this referee got the reward first.
    """
    outcomes: list[Outcome | None] = []
    planned: list[tuple[int, PlannedReward, int, dict[str, Any]]] = []
    for plan in plans:
        capped = plan.role == "referrer" and cap is not None
        if capped and not _take_slot(connection, referral.referrer_id, cap or 0):
            outcomes.append("cap_reached")
            continue
        minor = minor_units(plan.value, plan.currency)
        values = {
            "order_id": order_id,
            "referee_id": referral.referee_id,
            "referrer_id": referral.referrer_id,
            "beneficiary_id": plan.beneficiary_id,
            "role": plan.role,
            "kind": plan.kind,
            "value_minor": minor,
            "original_minor": minor,
            "currency": plan.currency,
            "status": "pending",
            "created_at": at,
            "due_at": due_at,
        }
        planned.append((len(outcomes), plan, minor, values))
        outcomes.append(None)
    # One statement for all of them (the roles differ: one reward per referee and role).
    created = insert_ignore_rows(
        connection, rewards, [values for *_, values in planned], by="role", owner="order_id"
    )
    accrued: list[dict[str, Any]] = []
    for index, plan, minor, _ in planned:
        reward_id = created.get(plan.role)
        if reward_id is None:
            if plan.role == "referrer" and cap is not None:
                connection.execute(GIVE_SLOT_BACK, {"referrer": referral.referrer_id})
            outcomes[index] = "already_rewarded"
            continue
        value = value_of(minor, plan.currency)
        reward = EarnedReward(
            id=reward_id,
            order_id=order_id,
            beneficiary_id=plan.beneficiary_id,
            role=plan.role,
            kind=plan.kind,
            value=value,
            currency=plan.currency,
            status="pending",
            created_at=at,
            due_at=due_at,
            referee_id=referral.referee_id,
            referrer_id=referral.referrer_id,
            original_value=value,  # not lowered yet
        )
        outcomes[index] = reward
        accrued.append(ledger.entry(reward, "accrued", at, pending=minor))
    ledger.append(connection, accrued)
    return [outcome for outcome in outcomes if outcome is not None]


def _reward(connection: Connection, reward_id: int) -> EarnedReward:
    return reward_from_row(connection.execute(REWARD, {"reward_id": reward_id}).one())


def _transition(connection: Connection, reward_id: int, old: str, new: str) -> bool:
    moved = connection.execute(TRANSITION, {"reward_id": reward_id, "old": old, "new": new})
    return moved.rowcount == 1


def of_order(connection: Connection, order_id: str) -> tuple[EarnedReward, ...]:
    """The rewards order ``order_id`` created, oldest first."""
    rows = connection.execute(OF_ORDER, {"order_id": order_id})
    return tuple(reward_from_row(row) for row in rows)


def set_status(
    connection: Connection, reward_id: int, status: str, at: datetime
) -> EarnedReward | None:
    """Approve or revoke one pending reward; ``None`` if it is not pending."""
    if status not in ("approved", "revoked"):
        raise ValidationError(f"a pending reward can be approved or revoked, not {status!r}")
    if not _transition(connection, reward_id, "pending", status):
        return None
    reward = _reward(connection, reward_id)
    minor = minor_units(reward.value, reward.currency)
    approved = minor if status == "approved" else 0
    ledger.append(connection, [ledger.entry(reward, status, at, pending=-minor, approved=approved)])
    return reward


def take_over(
    connection: Connection,
    referee_id: str,
    roles: Collection[str],
    at: datetime,
    now: datetime,
    cap: int | None,
) -> tuple[list[EarnedReward], bool]:
    """Revoke referee ``referee_id``'s pending rewards for ``roles`` that orders dated after
    ``at`` earned, and free their roles, so an order dated ``at`` can earn them
    (``first_purchase_only``: those orders were not the first purchase after all).

    Approved rewards stay where they are. Each revoked reward moves out of slot 0 (UNIQUE
    referee, role, slot keeps one reward per role there), gets its ``"revoked"`` ledger entry
    dated ``now`` (never before its accrual), and gives its referrer's capped slot back
    (``cap`` not ``None``).

    :returns: the rewards revoked, and whether another transaction changed one of the
        rewards meanwhile (PostgreSQL): what this one was refused may be free now.
    """
    revoked: list[EarnedReward] = []
    raced = False
    for _ in range(TAKE_OVER_ROUNDS):
        found = connection.execute(LATER_PENDING, {"referee": referee_id, "at": at}).all()
        lost = False
        for reward_id, role in found:
            if role not in roles:
                continue
            if connection.execute(STEP_ASIDE, {"reward_id": reward_id}).rowcount != 1:
                # PostgreSQL: another transaction approved it, or took it over and may have
                # put a later-dated order's reward in its place: read again
                lost = raced = True
                continue
            reward = _reward(connection, reward_id)
            minor = minor_units(reward.value, reward.currency)
            when = max(now, reward.created_at)
            ledger.append(connection, [ledger.entry(reward, "revoked", when, pending=-minor)])
            if role == "referrer" and cap is not None:
                connection.execute(GIVE_SLOT_BACK, {"referrer": reward.referrer_id})
            revoked.append(reward)
        if not lost:
            break
    return revoked, raced


def approve_due(connection: Connection, now: datetime, limit: int) -> list[EarnedReward]:
    """Approve up to ``limit`` pending rewards whose hold period has passed, oldest due
    first, skipping those of flagged referrals."""
    ids = connection.execute(
        select(rewards.c.id).where(due(now)).order_by(rewards.c.due_at, rewards.c.id).limit(limit)
    ).scalars()
    approved = (set_status(connection, reward_id, "approved", now) for reward_id in ids.all())
    return [reward for reward in approved if reward is not None]


def refund(
    connection: Connection, order_id: str, amount_minor: int | None, at: datetime
) -> list[EarnedReward]:
    """Refund order ``order_id`` in full (``amount_minor`` ``None``) or in part.

    A full refund revokes the order's pending rewards and reverses its approved ones; a
    partial one lowers percent rewards in proportion.

    :returns: the rewards that changed.
    :raises ValidationError: an unknown order, or more than is left to refund.
    """
    query = select(conversions).where(conversions.c.order_id == order_id)
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None:
        raise ValidationError(f"no conversion was recorded with order_id {order_id!r}")
    remaining = row.amount_minor - row.refunded_minor
    refund = remaining if amount_minor is None else amount_minor
    if refund > remaining:
        raise ValidationError(
            f"refund of order {order_id!r} exceeds what is left to refund "
            f"({remaining} minor units of {row.currency})"
        )
    if refund == 0:
        return []
    refunded = row.refunded_minor + refund
    connection.execute(
        update(conversions)
        .where(conversions.c.order_id == order_id)
        .values(refunded_minor=refunded)
    )
    full = refunded == row.amount_minor
    changed: list[EarnedReward] = []
    live = (
        select(rewards)
        .where(rewards.c.order_id == order_id, rewards.c.status.in_(("pending", "approved")))
        .order_by(rewards.c.id)
    )
    if postgres:
        # Lock the rewards read here, or approve_due could approve one between this read
        # and the writes below: a full refund would then leave it approved, a partial one
        # would debit the wrong (pending) balance.
        live = live.with_for_update()
    for reward in connection.execute(live).all():
        if full:
            status = "revoked" if reward.status == "pending" else "reversed"
            if _transition(connection, reward.id, reward.status, status):
                ledger.debit(connection, reward, status, reward.value_minor, at)
        elif reward.kind == "percent":
            kept = Decimal(row.amount_minor - refunded) / Decimal(row.amount_minor)
            value = int((reward.original_minor * kept).to_integral_value(ROUND_HALF_EVEN))
            reduction = reward.value_minor - value
            if reduction <= 0:
                continue
            connection.execute(
                update(rewards).where(rewards.c.id == reward.id).values(value_minor=value)
            )
            ledger.debit(connection, reward, "adjusted", reduction, at)
        else:
            continue
        changed.append(_reward(connection, reward.id))
    return changed


def listing(
    connection: Connection, beneficiary_id: str | None, status: str | None, limit: int
) -> list[EarnedReward]:
    """Rewards, newest first, optionally for one beneficiary or in one status."""
    query = select(rewards).order_by(rewards.c.created_at.desc(), rewards.c.id.desc()).limit(limit)
    if beneficiary_id is not None:
        query = query.where(rewards.c.beneficiary_id == beneficiary_id)
    if status is not None:
        query = query.where(rewards.c.status == status)
    return [reward_from_row(row) for row in connection.execute(query)]
