"""Money over time: referred revenue and reward cost by day or week, and the currencies used.

Days and weeks are UTC calendar days and ISO weeks (Monday to Sunday), grouped by the
database: ``date()`` on SQLite, ``date_trunc()`` on PostgreSQL; other dialects group by
``date()`` and weeks are folded in Python (:func:`bucket_start`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, literal_column, select

from ..conditions import NET, counted, period
from ..money import from_minor
from ..storage.schema import conversions, discount_claims, rewards
from .records import Bucket, BucketTotal

__all__ = [
    "bucket_start",
    "currencies",
    "first_activity",
    "revenue_by_bucket",
    "reward_cost_by_bucket",
]


def bucket_start(value: date | datetime | str, by: Bucket) -> date:
    """The day, or the Monday of the ISO week, that ``value`` (a date, a datetime, or a
    database's ISO-formatted bucket) falls in."""
    if isinstance(value, str):
        day = date.fromisoformat(value[:10])
    elif isinstance(value, datetime):
        day = value.date()
    else:
        day = value
    return day - timedelta(days=day.weekday()) if by == "week" else day


def _bucket(connection: Connection, column: Any, by: Bucket) -> ColumnElement[Any]:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return func.date_trunc(literal_column(f"'{by}'"), column)
    if dialect == "sqlite" and by == "week":  # the Monday on or before the day
        return func.date(column, literal_column("'weekday 0'"), literal_column("'-6 days'"))
    return func.date(column)


def _totals(rows: Iterable[Any], by: Bucket) -> list[BucketTotal]:
    totals: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for bucket, currency, units in rows:
        totals[bucket_start(bucket, by), currency] += from_minor(int(units or 0), currency)
    return [BucketTotal(start, currency, amount) for (start, currency), amount in totals.items()]


def revenue_by_bucket(
    connection: Connection, since: datetime | None, until: datetime | None, by: Bucket
) -> list[BucketTotal]:
    """Referred customers' orders in ``[since, until)``, net of refunds, by day or week and
    currency (only the buckets with orders, in no particular order)."""
    bucket = _bucket(connection, conversions.c.created_at, by).label("bucket")
    rows = connection.execute(
        select(bucket, conversions.c.currency, func.sum(NET))
        .where(
            conversions.c.referrer_id.is_not(None),
            *period(conversions.c.created_at, since, until),
        )
        .group_by(bucket, conversions.c.currency)
    )
    return _totals(rows, by)


def reward_cost_by_bucket(
    connection: Connection, since: datetime | None, until: datetime | None, by: Bucket
) -> list[BucketTotal]:
    """Monetary rewards created in ``[since, until)`` and not revoked or reversed, and the
    friends' discounts used then (not refunded), by day or week and currency."""
    bucket = _bucket(connection, rewards.c.created_at, by).label("bucket")
    rows = connection.execute(
        select(bucket, rewards.c.currency, func.sum(rewards.c.value_minor))
        .where(
            rewards.c.currency.is_not(None),
            counted(),
            *period(rewards.c.created_at, since, until),
        )
        .group_by(bucket, rewards.c.currency)
    ).all()
    claims = discount_claims
    used = _bucket(connection, claims.c.used_at, by).label("bucket")
    discounts = connection.execute(
        select(used, claims.c.currency, func.sum(claims.c.discount_minor))
        .where(claims.c.status == "used", *period(claims.c.used_at, since, until))
        .group_by(used, claims.c.currency)
    ).all()
    return _totals([*rows, *discounts], by)


def first_activity(connection: Connection) -> datetime | None:
    """When the first referred order was recorded (the start of an "all time" chart), or
    ``None`` before any."""
    first: datetime | None = connection.execute(
        select(func.min(conversions.c.created_at)).where(conversions.c.referrer_id.is_not(None))
    ).scalar()
    return first


def currencies(connection: Connection) -> list[str]:
    """The currencies of referred orders, then of rewards, the most used first."""
    used: dict[str, int] = defaultdict(int)
    for currency, number in connection.execute(
        select(conversions.c.currency, func.count())
        .where(conversions.c.referrer_id.is_not(None))
        .group_by(conversions.c.currency)
    ):
        used[currency] += int(number) * 1000  # orders first: rewards only break ties
    for currency, number in connection.execute(
        select(rewards.c.currency, func.count())
        .where(rewards.c.currency.is_not(None))
        .group_by(rewards.c.currency)
    ):
        used[currency] += int(number)
    return sorted(used, key=lambda currency: (-used[currency], currency))
