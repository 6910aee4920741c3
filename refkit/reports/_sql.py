"""Small helpers the report modules share (private)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, select

from ..money import from_minor


def count(connection: Connection, query: Select[Any]) -> int:
    """The one number ``query`` answers (0 for none)."""
    return int(connection.execute(query).scalar() or 0)


def count_distinct(
    connection: Connection, column: Any, conditions: Iterable[ColumnElement[bool]]
) -> int:
    """How many distinct values ``column`` takes on the rows matching ``conditions``.

    PostgreSQL runs ``count(DISTINCT x)`` by sorting (several times slower than hashing on
    100k strings), but hashes ``SELECT DISTINCT x``, so it counts that subquery's rows. SQLite
    builds one temporary B-tree either way, and for the subquery would walk an index and
    read the table row by row, so it keeps ``count(DISTINCT x)``.
    """
    conditions = list(conditions)
    if connection.dialect.name == "postgresql":
        values = select(column).where(*conditions).distinct().subquery()
        return count(connection, select(func.count()).select_from(values))
    return count(connection, select(func.count(func.distinct(column))).where(*conditions))


def money_by_currency(rows: Iterable[Any]) -> dict[str, Decimal]:
    """``(currency, minor units)`` rows summed by currency, as Decimals."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for currency, units in rows:
        totals[currency] += from_minor(int(units or 0), currency)
    return dict(totals)
