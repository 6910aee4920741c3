"""Ledger entries: the append-only history of every reward's value, pending and approved."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, bindparam, case, select, update

from ..models import LedgerEntry
from ..storage.dialects import insert_ignore
from ..storage.prepared import Prepared
from ..storage.records import ledger_from_row
from ..storage.schema import UTCDateTime, balances, ledger

__all__ = ["append", "balance_key", "credit", "debit", "entry", "entries", "page"]

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
    """Append ``entries`` (from :func:`entry`), and move the balances of those that change an
    approved amount (``refkit_balances``) in the same transaction."""
    if entries:
        LEDGER_INSERT.execute_many(connection, entries)
    for new in entries:
        if new["approved_minor"]:
            credit(connection, new["beneficiary_id"], new["currency"], new["approved_minor"])


def balance_key(currency: str | None) -> str:
    """The ``refkit_balances.currency`` of a currency: ``''`` for points."""
    return currency or ""


_NET = balances.c.balance_minor - balances.c.debt_minor + bindparam("delta")
#: Add ``delta`` (either sign) to a balance: what goes below zero becomes debt, and credit
#: pays the debt first. Both SET expressions read the row as it was before the update.
_CREDIT = (
    update(balances)
    .where(
        balances.c.beneficiary_id == bindparam("user_id"),
        balances.c.currency == bindparam("key"),
    )
    .values(
        balance_minor=case((_NET >= 0, _NET), else_=0),
        debt_minor=case((_NET < 0, -_NET), else_=0),
    )
)


def credit(connection: Connection, user_id: str, currency: str | None, delta: int) -> None:
    """Change a user's spendable balance by ``delta`` minor units (an approval adds, a
    reversal or a refund's adjustment takes away), creating the balance row if needed."""
    params = {"user_id": user_id, "key": balance_key(currency), "delta": delta}
    if connection.execute(_CREDIT, params).rowcount == 0:
        insert_ignore(connection, balances, {"beneficiary_id": user_id, "currency": params["key"]})
        connection.execute(_CREDIT, params)


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
