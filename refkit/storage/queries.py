"""Stats as SQL aggregates over indexed columns: nothing is loaded row by row into Python."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, func, select

from ..errors import ValidationError
from ..models import LeaderboardEntry, ProgramSummary, ReferrerStats
from ..money import from_minor
from .schema import conversions, flags, referrals, referrers, rewards, visits

__all__ = ["leaderboard", "stats_for", "summary"]

_NET = conversions.c.amount_minor - conversions.c.refunded_minor
_COUNTED_STATUSES = ("pending", "approved")


def _count(connection: Connection, query: Select[Any]) -> int:
    return int(connection.execute(query).scalar() or 0)


def _money_by_currency(rows: Any) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for currency, units in rows:
        totals[currency] += from_minor(int(units or 0), currency)
    return dict(totals)


def stats_for(connection: Connection, user_id: str) -> ReferrerStats:
    visits_count = _count(
        connection, select(func.count()).select_from(visits).where(visits.c.referrer_id == user_id)
    )
    signups = _count(
        connection,
        select(func.count()).select_from(referrals).where(referrals.c.referrer_id == user_id),
    )
    by_currency = connection.execute(
        select(conversions.c.currency, func.count(), func.sum(_NET))
        .where(conversions.c.referrer_id == user_id)
        .group_by(conversions.c.currency)
    ).all()
    revenue = _money_by_currency((currency, units) for currency, _, units in by_currency)
    money: dict[str, Decimal] = defaultdict(Decimal)
    points: dict[str, int] = defaultdict(int)
    reward_rows = connection.execute(
        select(rewards.c.status, rewards.c.currency, func.sum(rewards.c.value_minor))
        .where(rewards.c.beneficiary_id == user_id)
        .group_by(rewards.c.status, rewards.c.currency)
    )
    for status, currency, units in reward_rows:
        if currency is None:
            points[status] += int(units)
        else:
            money[status] += from_minor(int(units), currency)
    flagged = _count(
        connection,
        select(func.count(func.distinct(flags.c.referee_id)))
        .select_from(flags.join(referrals, referrals.c.referee_id == flags.c.referee_id))
        .where(referrals.c.referrer_id == user_id, flags.c.cleared_at.is_(None)),
    )
    return ReferrerStats(
        user_id=user_id,
        flagged=flagged,
        visits=visits_count,
        signups=signups,
        conversions=sum(int(count) for _, count, _ in by_currency),
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
    def where(table: Any) -> ColumnElement[bool]:
        conditions = _period(table.c.created_at, since, until)
        if campaign is not None:
            conditions.append(table.c.campaign == campaign)
        return and_(True, *conditions)

    holders = select(func.count()).select_from(referrers)
    if until is not None:
        holders = holders.where(referrers.c.created_at < until)
    referrer_count = _count(connection, holders)
    visit_count = _count(connection, select(func.count()).select_from(visits).where(where(visits)))
    signups = _count(
        connection, select(func.count()).select_from(referrals).where(where(referrals))
    )
    referred = and_(conversions.c.referrer_id.is_not(None), where(conversions))
    conversion_rows = connection.execute(
        select(conversions.c.currency, func.count(), func.sum(_NET))
        .where(referred)
        .group_by(conversions.c.currency)
    ).all()
    first_purchases = _count(
        connection, select(func.count(func.distinct(conversions.c.customer_id))).where(referred)
    )
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
    rewarded = _count(
        connection,
        select(func.count(func.distinct(rewards.c.referee_id))).where(*reward_filter),
    )
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
