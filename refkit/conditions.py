"""The SQL conditions and expressions shared by the engine and every report, each written once.

A second copy of a condition drifts: the dashboard once counted rewards as "due" that
:meth:`~refkit.ReferralProgram.approve_due` then left pending (those of flagged referrals).
So the writes (``approve_due``) and the read model (:mod:`refkit.reports`) both build their
statements from the names here:

==========================  ====================================================================
:data:`NET`                 an order's amount net of refunds, in minor units
:data:`COUNTED`             the reward statuses that cost the shop something (pending, approved)
:func:`counted`             a reward is in one of them
:data:`OPEN_FLAG`           a review flag nobody has cleared yet
:func:`due`                 a reward ``approve_due`` approves at ``now``
:func:`toward_milestones`   a referrer's reward that counts toward their milestones
:func:`period`              a timestamp falls in ``[since, until)``
==========================  ====================================================================
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, exists

from .storage.schema import conversions, flags, rewards

__all__ = ["COUNTED", "NET", "OPEN_FLAG", "counted", "due", "period", "toward_milestones"]

#: An order's amount net of refunds, in minor units of its currency.
NET: Final = conversions.c.amount_minor - conversions.c.refunded_minor
#: The reward statuses that cost the shop something: not revoked, not reversed.
COUNTED: Final = ("pending", "approved")
#: A review flag that nobody has cleared: while a referral has one, its rewards wait.
OPEN_FLAG: Final = flags.c.cleared_at.is_(None)


def counted() -> ColumnElement[bool]:
    """A reward that costs the shop something (see :data:`COUNTED`)."""
    return rewards.c.status.in_(COUNTED)


def due(now: datetime) -> ColumnElement[bool]:
    """A reward :meth:`~refkit.ReferralProgram.approve_due` approves at ``now``: pending,
    past its hold period (``due_at <= now``), and its referee has no open review flag."""
    return and_(
        rewards.c.status == "pending",
        rewards.c.due_at <= now,
        ~exists().where(and_(flags.c.referee_id == rewards.c.referee_id, OPEN_FLAG)),
    )


def toward_milestones(referrer_id: Any) -> ColumnElement[bool]:
    """A reward that counts toward ``referrer_id``'s milestones: the referrer reward of one
    of their own referrals (an order's reward, never a bonus or a grant), approved now.
    Pending rewards wait (a refund in the hold period cannot farm a milestone); revoked and
    reversed ones do not count. Read through ``ix_refkit_rewards_beneficiary``."""
    return and_(
        rewards.c.beneficiary_id == referrer_id,
        rewards.c.status == "approved",
        rewards.c.role == "referrer",
        rewards.c.order_id.is_not(None),
    )


def period(
    column: Any, since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    """``column`` in ``[since, until)``; either bound may be ``None`` (open).

    A list, for ``.where(*period(...))``: with neither bound there is no condition at all,
    and no WHERE clause (SQLite counts a whole table several times faster without one,
    even ``WHERE 1 = 1``).
    """
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return conditions
