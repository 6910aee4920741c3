"""Spending credit: balances, redemptions, payouts and expiry.

A user's balance in a currency (or in points) is the approved amount of their rewards minus
what was redeemed, paid out or expired: the sum of the ``approved`` column of their ledger
entries. ``refkit_balances`` keeps it as one row per user and currency, changed by every
ledger entry in the same transaction (:func:`refkit.steps.ledger.credit`), so that:

* spending is one conditional ``UPDATE ... SET balance_minor = balance_minor - :x WHERE
  balance_minor >= :x``: the database's row lock orders concurrent spenders (PostgreSQL
  re-checks the condition on the row the first one committed; SQLite's ``BEGIN IMMEDIATE``
  runs one writer at a time), and the row's CHECK refuses a negative balance whatever runs;
* a reversal after the credit was spent (a refund after a redemption) does not make the
  balance negative: the shortfall is kept as ``debt_minor`` and the next credit pays it
  first. Spending can never create debt.

Expiry is first in, first out: spending uses the oldest credit first, so what expires at a
cutoff is the credit approved up to the cutoff (net of its own reversals and adjustments)
that everything spent or expired so far has not used up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from ..errors import ConflictError, InsufficientBalance
from ..models import LedgerEntry
from ..storage.dialects import insert_ignore
from ..storage.records import ledger_from_row, value_of
from ..storage.schema import SPEND_KINDS, balances, ledger
from .ledger import balance_key

__all__ = ["Spend", "balance_of", "expire", "payable", "spend"]

_SPEND = (
    update(balances)
    .where(
        balances.c.beneficiary_id == bindparam("user_id"),
        balances.c.currency == bindparam("key"),
        balances.c.balance_minor >= bindparam("units"),
    )
    .values(balance_minor=balances.c.balance_minor - bindparam("units"))
)


@dataclass(frozen=True, slots=True)
class Spend:
    """A redemption or payout to record: ``units`` minor units (or points) off a balance."""

    kind: str
    user_id: str
    units: int
    currency: str | None
    reference: str
    at: datetime


def balance_of(connection: Connection, user_id: str, currency: str | None) -> tuple[int, int]:
    """A user's (balance, debt) in ``currency`` (``None``: points), in minor units."""
    row = connection.execute(
        select(balances.c.balance_minor, balances.c.debt_minor).where(
            balances.c.beneficiary_id == user_id, balances.c.currency == balance_key(currency)
        )
    ).first()
    return (0, 0) if row is None else (int(row.balance_minor), int(row.debt_minor))


def _by_reference(connection: Connection, reference: str) -> LedgerEntry:
    return ledger_from_row(
        connection.execute(select(ledger).where(ledger.c.reference == reference)).one()
    )


def spend(connection: Connection, new: Spend) -> tuple[LedgerEntry, bool]:
    """Record a redemption or payout; ``(entry, created)``.

    The entry is written first, so a second call with the same reference (even one running
    at the same time) finds it and is answered with it; then the balance is debited by the
    conditional update, and a refusal raises, rolling the entry back with it.

    :raises ConflictError: the reference was used for another kind, user, amount or currency.
    :raises InsufficientBalance: the balance is below ``units``.
    """
    entry_id = insert_ignore(
        connection,
        ledger,
        {
            "reward_id": None,
            "beneficiary_id": new.user_id,
            "kind": new.kind,
            "once_key": None,
            "pending_minor": 0,
            "approved_minor": -new.units,
            "currency": new.currency,
            "created_at": new.at,
            "reference": new.reference,
        },
    )
    if entry_id is None:
        stored = _by_reference(connection, new.reference)
        same = (stored.kind, stored.beneficiary_id, stored.currency) == (
            new.kind,
            new.user_id,
            new.currency,
        )
        if not same or -stored.approved != value_of(new.units, new.currency):
            raise ConflictError(
                new.reference,
                f"reference {new.reference!r} was already used for a {stored.kind} of "
                f"{-stored.approved} {stored.currency or 'points'} by {stored.beneficiary_id!r}; "
                "use a new reference for a different redemption or payout",
            )
        return stored, False
    params = {"user_id": new.user_id, "key": balance_key(new.currency), "units": new.units}
    if connection.execute(_SPEND, params).rowcount != 1:
        balance, _ = balance_of(connection, new.user_id, new.currency)
        raise InsufficientBalance(
            new.user_id,
            new.currency,
            value_of(balance, new.currency),
            value_of(new.units, new.currency),
        )
    return _by_reference(connection, new.reference), True


def _lock_positive(connection: Connection) -> None:
    """On PostgreSQL, lock every positive balance first, so an expiry run reads the ledger
    after any spending or expiry running at the same time has committed (SQLite's
    ``BEGIN IMMEDIATE`` already runs one writer at a time)."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            select(balances.c.beneficiary_id).where(balances.c.balance_minor > 0).with_for_update()
        ).all()


def expire(connection: Connection, cutoff: datetime, at: datetime) -> list[LedgerEntry]:
    """Expire, for every user and currency, the credit approved up to ``cutoff`` that
    spending and earlier expiries have not used (first in, first out); running it again
    expires nothing more."""
    _lock_positive(connection)
    old_rewards = select(ledger.c.reward_id).where(
        ledger.c.once_key == "approved", ledger.c.created_at <= cutoff
    )
    key = func.coalesce(ledger.c.currency, "")
    old: dict[tuple[str, str], int] = {
        (user, currency): int(units)
        for user, currency, units in connection.execute(
            select(ledger.c.beneficiary_id, key, func.sum(ledger.c.approved_minor))
            .where(ledger.c.reward_id.in_(old_rewards))
            .group_by(ledger.c.beneficiary_id, key)
        )
    }
    used: dict[tuple[str, str], int] = defaultdict(int)
    for user, currency, units in connection.execute(
        select(ledger.c.beneficiary_id, key, func.sum(ledger.c.approved_minor))
        .where(ledger.c.kind.in_(SPEND_KINDS))
        .group_by(ledger.c.beneficiary_id, key)
    ):
        used[(user, currency)] = -int(units)
    current = {
        (row.beneficiary_id, row.currency): int(row.balance_minor)
        for row in connection.execute(select(balances).where(balances.c.balance_minor > 0))
    }
    expired: list[LedgerEntry] = []
    for (user, currency), units in sorted(old.items()):
        due = min(units - used[(user, currency)], current.get((user, currency), 0))
        if due <= 0:
            continue
        params = {"user_id": user, "key": currency, "units": due}
        if connection.execute(_SPEND, params).rowcount != 1:  # pragma: no cover - locked above
            continue
        values: dict[str, Any] = {
            "reward_id": None,
            "beneficiary_id": user,
            "kind": "expired",
            "once_key": None,
            "pending_minor": 0,
            "approved_minor": -due,
            "currency": currency or None,
            "created_at": at,
            "reference": None,
        }
        entry_id = connection.execute(ledger.insert().values(**values)).inserted_primary_key[0]  # type: ignore[index]
        row = connection.execute(select(ledger).where(ledger.c.id == entry_id)).one()
        expired.append(ledger_from_row(row))
    return expired


def payable(
    connection: Connection, currency: str | None, minimum: int | None
) -> list[tuple[str, str, int]]:
    """Positive money balances as ``(user_id, currency, minor units)``, by currency then
    user; in one ``currency`` and at least ``minimum`` minor units when given."""
    query = (
        select(balances.c.beneficiary_id, balances.c.currency, balances.c.balance_minor)
        .where(balances.c.balance_minor > 0, balances.c.currency != "")
        .order_by(balances.c.currency, balances.c.beneficiary_id)
    )
    if currency is not None:
        query = query.where(balances.c.currency == currency)
    if minimum is not None:
        query = query.where(balances.c.balance_minor >= minimum)
    return [(row[0], row[1], int(row[2])) for row in connection.execute(query)]
