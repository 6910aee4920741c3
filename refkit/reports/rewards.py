"""Rewards waiting for a decision: the ones ``approve_due`` would approve now.

"Due" is :func:`refkit.conditions.due`, the very condition
:meth:`~refkit.ReferralProgram.approve_due` approves by: a count shown here is what
"approve all due" approves.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from ..conditions import due
from ..storage.records import reward_from_row
from ..storage.schema import rewards
from ._sql import count
from .records import DueRewards

__all__ = ["due_count", "due_rewards"]


def due_count(connection: Connection, now: datetime) -> int:
    """How many rewards :meth:`~refkit.ReferralProgram.approve_due` would approve at ``now``."""
    return count(connection, select(func.count()).select_from(rewards).where(due(now)))


def due_rewards(connection: Connection, now: datetime, limit: int) -> DueRewards:
    """The rewards due at ``now``: how many, and the ``limit`` that have waited longest
    (in the order ``approve_due`` takes them)."""
    rows = connection.execute(
        select(rewards).where(due(now)).order_by(rewards.c.due_at, rewards.c.id).limit(limit)
    )
    listed = tuple(reward_from_row(row) for row in rows)
    return DueRewards(due_count(connection, now), listed, now)
