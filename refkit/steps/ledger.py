"""Ledger entries: the append-only history of every reward's value, pending and approved."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, select

from ..models import LedgerEntry
from ..storage.prepared import Prepared
from ..storage.records import ledger_from_row
from ..storage.schema import UTCDateTime, ledger

__all__ = ["append", "debit", "entry", "entries", "page"]

#: Ledger entries, one per parameter set (see :func:`entry`).
LEDGER_INSERT: Final = Prepared(
    ledger.insert(),
    (
        "reward_id",
        "beneficiary_id",
        "kind",
        "once_key",
        "pending_minor",
        "approved_minor",
        "currency",
        "created_at",
    ),
    {"created_at": UTCDateTime()},
)


def entry(
    reward: Any, kind: str, at: datetime, *, pending: int = 0, approved: int = 0
) -> dict[str, Any]:
    """One ledger entry for ``reward`` (a row or an :class:`~refkit.EarnedReward`), in minor
    units: ``pending`` and ``approved`` are what it adds to each balance."""
    return {
        "reward_id": reward.id,
        "beneficiary_id": reward.beneficiary_id,
        "kind": kind,
        # a transition happens once per reward (UNIQUE reward_id, once_key); adjustments
        # (partial refunds) may repeat
        "once_key": None if kind == "adjusted" else kind,
        "pending_minor": pending,
        "approved_minor": approved,
        "currency": reward.currency,
        "created_at": at,
    }


def append(connection: Connection, entries: Sequence[dict[str, Any]]) -> None:
    """Append ``entries`` (from :func:`entry`)."""
    if entries:
        LEDGER_INSERT.execute_many(connection, entries)


def debit(connection: Connection, reward: Any, kind: str, units: int, at: datetime) -> None:
    """Take ``units`` off the balance the reward sits in (pending or approved)."""
    if reward.status == "pending":
        append(connection, [entry(reward, kind, at, pending=-units)])
    else:
        append(connection, [entry(reward, kind, at, approved=-units)])


def entries(
    connection: Connection, beneficiary_id: str | None, until: datetime | None
) -> list[LedgerEntry]:
    """The ledger in order, for one beneficiary and up to ``until`` when given."""
    query = select(ledger).order_by(ledger.c.created_at, ledger.c.id)
    if beneficiary_id is not None:
        query = query.where(ledger.c.beneficiary_id == beneficiary_id)
    if until is not None:
        query = query.where(ledger.c.created_at <= until)
    return [ledger_from_row(row) for row in connection.execute(query)]


def page(connection: Connection, after: int, size: int) -> list[LedgerEntry]:
    """Up to ``size`` entries after entry id ``after``, in id order (exports of any size)."""
    query = select(ledger).where(ledger.c.id > after).order_by(ledger.c.id).limit(size)
    return [ledger_from_row(row) for row in connection.execute(query)]
