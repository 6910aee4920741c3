"""Stats as SQL aggregates over indexed columns: nothing is loaded row by row into Python.

The statements are written for large tables (``bench/scale.py`` times them at 1M visits):
one referrer's figures and the leaderboard read covering indexes only (revision 0003), and
program-wide counts are plain enough for each database's fastest path.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Select,
    String,
    bindparam,
    cast,
    func,
    literal_column,
    null,
    select,
    union_all,
)

from ..errors import ValidationError
from ..models import LeaderboardEntry, ProgramSummary, ReferrerStats
from ..money import from_minor
from .schema import conversions, flags, referrals, referrer_totals, referrers, rewards, visits

__all__ = ["leaderboard", "stats_for", "summary"]

_NET = conversions.c.amount_minor - conversions.c.refunded_minor
_COUNTED_STATUSES = ("pending", "approved")


def _count(connection: Connection, query: Select[Any]) -> int:
    return int(connection.execute(query).scalar() or 0)


def _count_distinct(
    connection: Connection, column: Any, conditions: list[ColumnElement[bool]]
) -> int:
    """How many distinct values ``column`` takes on the rows matching ``conditions``.

    PostgreSQL runs ``count(DISTINCT x)`` by sorting (several times slower than hashing on
    100k strings), but hashes ``SELECT DISTINCT x``, so it counts that subquery's rows. SQLite
    builds one temporary B-tree either way, and for the subquery would walk an index and
    read the table row by row, so it keeps ``count(DISTINCT x)``.
    """
    if connection.dialect.name == "postgresql":
        values = select(column).where(*conditions).distinct().subquery()
        return _count(connection, select(func.count()).select_from(values))
    return _count(connection, select(func.count(func.distinct(column))).where(*conditions))


def _money_by_currency(rows: Any) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for currency, units in rows:
        totals[currency] += from_minor(int(units or 0), currency)
    return dict(totals)


def _figure(name: str, currency: Any, status: Any, count: Any, units: Any) -> Select[Any]:
    """One branch of :data:`_STATS_FOR`: (figure, currency, status, count, minor units)."""
    return select(
        literal_column(f"'{name}'", String).label("figure"),
        currency.label("currency"),
        status.label("status"),
        count.label("count"),
        units.label("units"),
    )


_USER = bindparam("user_id", type_=String)
_NO_TEXT = cast(null(), String)  # typed, so PostgreSQL can match the branches' columns
_NO_NUMBER = cast(null(), BigInteger)
#: One referrer's figures in one statement (one round trip), built once, each branch from a
#: few rows or one covering index: visits and signups from the running totals, flagged
#: referrals from the referrer's open flags (both revision 0004), orders net of refunds by
#: currency, and rewards earned (as referrer or referee) by status (revision 0003).
_STATS_FOR = union_all(
    _figure("visits", _NO_TEXT, _NO_TEXT, func.sum(referrer_totals.c.visits), _NO_NUMBER).where(
        referrer_totals.c.referrer_id == _USER
    ),
    _figure("signups", _NO_TEXT, _NO_TEXT, func.sum(referrer_totals.c.signups), _NO_NUMBER).where(
        referrer_totals.c.referrer_id == _USER
    ),
    _figure(
        "flagged", _NO_TEXT, _NO_TEXT, func.count(func.distinct(flags.c.referee_id)), _NO_NUMBER
    ).where(flags.c.referrer_id == _USER, flags.c.cleared_at.is_(None)),
    _figure("revenue", conversions.c.currency, _NO_TEXT, func.count(), func.sum(_NET))
    .where(conversions.c.referrer_id == _USER)
    .group_by(conversions.c.currency),
    _figure(
        "rewards", rewards.c.currency, rewards.c.status, _NO_NUMBER, func.sum(rewards.c.value_minor)
    )
    .where(rewards.c.beneficiary_id == _USER)
    .group_by(rewards.c.status, rewards.c.currency),
)


def stats_for(connection: Connection, user_id: str) -> ReferrerStats:
    """One user's figures as a referrer (and rewards as a referee), from :data:`_STATS_FOR`."""
    counts = {"visits": 0, "signups": 0, "flagged": 0}
    by_currency: list[tuple[str, int, int]] = []
    money: dict[str, Decimal] = defaultdict(Decimal)
    points: dict[str, int] = defaultdict(int)
    for figure, currency, status, count, units in connection.execute(
        _STATS_FOR, {"user_id": user_id}
    ):
        if figure == "revenue":
            by_currency.append((currency, int(count), int(units or 0)))
        elif figure == "rewards" and currency is None:
            points[status] += int(units)
        elif figure == "rewards":
            money[status] += from_minor(int(units), currency)
        else:
            counts[figure] = int(count or 0)
    revenue = _money_by_currency((currency, units) for currency, _, units in by_currency)
    return ReferrerStats(
        user_id=user_id,
        flagged=counts["flagged"],
        visits=counts["visits"],
        signups=counts["signups"],
        conversions=sum(count for _, count, _ in by_currency),
        revenue=sum(revenue.values(), Decimal(0)),
        revenue_by_currency=revenue,
        rewards=dict(money),
        points=dict(points),
    )


def _period(
    column: Any, since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    conditions = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return conditions


def summary(
    connection: Connection, since: datetime | None, until: datetime | None, campaign: str | None
) -> ProgramSummary:
    def where(table: Any) -> list[ColumnElement[bool]]:
        # No condition, no WHERE clause: SQLite counts a whole table several times faster
        # without one (even ``WHERE 1 = 1``).
        conditions = _period(table.c.created_at, since, until)
        if campaign is not None:
            conditions.append(table.c.campaign == campaign)
        return conditions

    holders = select(func.count()).select_from(referrers)
    if until is not None:
        holders = holders.where(referrers.c.created_at < until)
    referrer_count = _count(connection, holders)
    visit_count = _count(connection, select(func.count()).select_from(visits).where(*where(visits)))
    signups = _count(
        connection, select(func.count()).select_from(referrals).where(*where(referrals))
    )
    referred = [conversions.c.referrer_id.is_not(None), *where(conversions)]
    conversion_rows = connection.execute(
        select(conversions.c.currency, func.count(), func.sum(_NET))
        .where(*referred)
        .group_by(conversions.c.currency)
    ).all()
    first_purchases = _count_distinct(connection, conversions.c.customer_id, referred)
    reward_filter = [
        rewards.c.status.in_(_COUNTED_STATUSES),
        *_period(rewards.c.created_at, since, until),
    ]
    if campaign is not None:
        reward_filter.append(
            rewards.c.order_id.in_(
                select(conversions.c.order_id).where(conversions.c.campaign == campaign)
            )
        )
    cost_rows = connection.execute(
        select(rewards.c.currency, func.sum(rewards.c.value_minor))
        .where(rewards.c.currency.is_not(None), *reward_filter)
        .group_by(rewards.c.currency)
    ).all()
    rewarded = _count_distinct(connection, rewards.c.referee_id, reward_filter)
    revenue = _money_by_currency((currency, units) for currency, _, units in conversion_rows)
    cost = _money_by_currency(cost_rows)
    return ProgramSummary(
        referrers=referrer_count,
        visits=visit_count,
        signups=signups,
        conversions=sum(int(count) for _, count, _ in conversion_rows),
        conversion_rate=first_purchases / signups if signups else 0.0,
        revenue=sum(revenue.values(), Decimal(0)),
        reward_cost=sum(cost.values(), Decimal(0)),
        k_factor=signups / referrer_count if referrer_count else 0.0,
        first_purchases=first_purchases,
        rewarded=rewarded,
    )


def leaderboard(connection: Connection, limit: int, by: str) -> list[LeaderboardEntry]:
    if by not in ("conversions", "revenue"):
        raise ValidationError(f"leaderboard by must be 'conversions' or 'revenue', got {by!r}")
    count = func.count().label("conversions")
    net = func.sum(_NET).label("net")
    order = (count.desc(), net.desc()) if by == "conversions" else (net.desc(), count.desc())
    top = connection.execute(
        select(conversions.c.referrer_id, count, net)
        .where(conversions.c.referrer_id.is_not(None))
        .group_by(conversions.c.referrer_id)
        .order_by(*order, conversions.c.referrer_id)
        .limit(limit)
    ).all()
    ids = [row.referrer_id for row in top]
    if not ids:
        return []
    revenue: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for referrer_id, currency, units in connection.execute(
        select(conversions.c.referrer_id, conversions.c.currency, func.sum(_NET))
        .where(conversions.c.referrer_id.in_(ids))
        .group_by(conversions.c.referrer_id, conversions.c.currency)
    ):
        revenue[referrer_id][currency] = from_minor(int(units or 0), currency)
    signups: dict[str, int] = dict(
        connection.execute(
            select(referrals.c.referrer_id, func.count())
            .where(referrals.c.referrer_id.in_(ids))
            .group_by(referrals.c.referrer_id)
        ).all()
    )
    return [
        LeaderboardEntry(
            referrer_id=row.referrer_id,
            conversions=int(row.conversions),
            revenue=sum(revenue[row.referrer_id].values(), Decimal(0)),
            signups=int(signups.get(row.referrer_id, 0)),
        )
        for row in top
    ]
