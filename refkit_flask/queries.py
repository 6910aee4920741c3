"""Read-only SQL aggregates for the admin dashboard, over refkit's own tables.

The core answers the program-wide questions (:meth:`~refkit.ReferralProgram.summary`,
:meth:`~refkit.ReferralProgram.leaderboard`, :meth:`~refkit.ReferralProgram.stats_for`); the
dashboard also needs money over time, a split by campaign, the rewards due for approval and
one referrer's referrals and orders. Those are here, as SQL aggregates on the indexed
``created_at``, ``due_at`` and ``referrer_id`` columns of :mod:`refkit.storage.schema`: nothing
is loaded row by row except the bounded lists a page shows. Nothing here writes.

Days and weeks are UTC calendar days and ISO weeks (Monday to Sunday), grouped by the database:
``date()`` on SQLite, ``date_trunc()`` on PostgreSQL; other dialects group by ``date()`` and
weeks are folded in Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar

from sqlalchemy import ColumnElement, Connection, and_, func, literal_column, select

from refkit import Conversion, EarnedReward, ReferralProgram, StorageError
from refkit.money import from_minor
from refkit.storage import SqlStore
from refkit.storage.records import conversion_from_row, reward_from_row
from refkit.storage.schema import conversions, referrals, rewards, visits

__all__ = [
    "BucketTotal",
    "CampaignTotals",
    "ReferralRow",
    "bucket_start",
    "buyers_of",
    "campaign_split",
    "conversions_of",
    "currencies",
    "due_rewards",
    "first_activity",
    "read",
    "referrals_of",
    "revenue_by_bucket",
    "reward_cost_by_bucket",
]

T = TypeVar("T")
Bucket = Literal["day", "week"]

_NET = conversions.c.amount_minor - conversions.c.refunded_minor
#: Rewards that cost the shop something (as in :meth:`~refkit.ReferralProgram.summary`).
_COUNTED_STATUSES = ("pending", "approved")


@dataclass(frozen=True, slots=True)
class BucketTotal:
    """An amount of one currency in one day or week (``start``: the day, or the Monday)."""

    start: date
    currency: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class CampaignTotals:
    """One campaign's funnel in a period (``campaign=None``: links shared without one).

    ``buyers`` counts distinct referred customers who bought; ``revenue`` (net of refunds)
    and ``reward_cost`` (pending and approved monetary rewards) are split by currency.
    """

    campaign: str | None
    visits: int = 0
    signups: int = 0
    conversions: int = 0
    buyers: int = 0
    revenue: dict[str, Decimal] = field(default_factory=dict)
    reward_cost: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReferralRow:
    """A referee of one referrer, with what they bought since (net of refunds)."""

    referee_id: str
    source: str
    campaign: str | None
    created_at: datetime
    orders: int
    first_order_at: datetime | None
    revenue: dict[str, Decimal]


def read(program: ReferralProgram, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in one read-only transaction of the program's store.

    :raises refkit.StorageError: the store is not one of refkit's SQL stores (every built-in
        store is), or the database failed.
    """
    store = program.store
    if not isinstance(store, SqlStore):
        raise StorageError(
            f"the admin dashboard reads refkit's SQL tables, and {store!r} has none; "
            "use a store opened from a URL or an SQLAlchemy engine"
        )
    return store.read(work)


# -- days and weeks ------------------------------------------------------------------------


def bucket_start(value: date | datetime | str, by: Bucket) -> date:
    """The day, or the Monday of the ISO week, that ``value`` (a database's bucket) falls in."""
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


def _period(column: Any, since: datetime | None, until: datetime | None) -> ColumnElement[bool]:
    conditions = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return and_(True, *conditions)


def _totals(rows: Iterable[Any], by: Bucket) -> list[BucketTotal]:
    totals: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for bucket, currency, units in rows:
        totals[bucket_start(bucket, by), currency] += from_minor(int(units or 0), currency)
    return [BucketTotal(start, currency, amount) for (start, currency), amount in totals.items()]


def revenue_by_bucket(
    connection: Connection, since: datetime | None, until: datetime | None, by: Bucket
) -> list[BucketTotal]:
    """Referred customers' orders, net of refunds, by day or week and currency."""
    bucket = _bucket(connection, conversions.c.created_at, by).label("bucket")
    rows = connection.execute(
        select(bucket, conversions.c.currency, func.sum(_NET))
        .where(
            conversions.c.referrer_id.is_not(None),
            _period(conversions.c.created_at, since, until),
        )
        .group_by(bucket, conversions.c.currency)
    )
    return _totals(rows, by)


def reward_cost_by_bucket(
    connection: Connection, since: datetime | None, until: datetime | None, by: Bucket
) -> list[BucketTotal]:
    """Monetary rewards created (and not revoked or reversed), by day or week and currency."""
    bucket = _bucket(connection, rewards.c.created_at, by).label("bucket")
    rows = connection.execute(
        select(bucket, rewards.c.currency, func.sum(rewards.c.value_minor))
        .where(
            rewards.c.currency.is_not(None),
            rewards.c.status.in_(_COUNTED_STATUSES),
            _period(rewards.c.created_at, since, until),
        )
        .group_by(bucket, rewards.c.currency)
    )
    return _totals(rows, by)


def first_activity(connection: Connection) -> datetime | None:
    """When the first referred order was recorded (the start of an "all time" chart)."""
    first: datetime | None = connection.execute(
        select(func.min(conversions.c.created_at)).where(conversions.c.referrer_id.is_not(None))
    ).scalar()
    return first


def currencies(connection: Connection) -> list[str]:
    """The currencies of referred orders, then of rewards, the most used first."""
    used: dict[str, int] = defaultdict(int)
    for currency, count in connection.execute(
        select(conversions.c.currency, func.count())
        .where(conversions.c.referrer_id.is_not(None))
        .group_by(conversions.c.currency)
    ):
        used[currency] += int(count) * 1000  # orders first: rewards only break ties
    for currency, count in connection.execute(
        select(rewards.c.currency, func.count())
        .where(rewards.c.currency.is_not(None))
        .group_by(rewards.c.currency)
    ):
        used[currency] += int(count)
    return sorted(used, key=lambda currency: (-used[currency], currency))


# -- campaigns -----------------------------------------------------------------------------


def campaign_split(
    connection: Connection, since: datetime | None, until: datetime | None
) -> list[CampaignTotals]:
    """Each campaign's visits, signups, buyers, orders, revenue and reward cost in a period,
    in no particular order (``campaign=None`` for links shared without a campaign)."""
    found: dict[str | None, dict[str, Any]] = defaultdict(
        lambda: {"revenue": defaultdict(Decimal), "reward_cost": defaultdict(Decimal)}
    )
    for campaign, count in connection.execute(
        select(visits.c.campaign, func.count())
        .where(_period(visits.c.created_at, since, until))
        .group_by(visits.c.campaign)
    ):
        found[campaign]["visits"] = int(count)
    for campaign, count in connection.execute(
        select(referrals.c.campaign, func.count())
        .where(_period(referrals.c.created_at, since, until))
        .group_by(referrals.c.campaign)
    ):
        found[campaign]["signups"] = int(count)
    referred = and_(
        conversions.c.referrer_id.is_not(None), _period(conversions.c.created_at, since, until)
    )
    for campaign, currency, count, units in connection.execute(
        select(conversions.c.campaign, conversions.c.currency, func.count(), func.sum(_NET))
        .where(referred)
        .group_by(conversions.c.campaign, conversions.c.currency)
    ):
        entry = found[campaign]
        entry["conversions"] = entry.get("conversions", 0) + int(count)
        entry["revenue"][currency] += from_minor(int(units or 0), currency)
    for campaign, buyers in connection.execute(
        select(conversions.c.campaign, func.count(func.distinct(conversions.c.customer_id)))
        .where(referred)
        .group_by(conversions.c.campaign)
    ):
        found[campaign]["buyers"] = int(buyers)
    for campaign, currency, units in connection.execute(
        select(conversions.c.campaign, rewards.c.currency, func.sum(rewards.c.value_minor))
        .select_from(rewards.join(conversions, rewards.c.order_id == conversions.c.order_id))
        .where(
            rewards.c.currency.is_not(None),
            rewards.c.status.in_(_COUNTED_STATUSES),
            _period(rewards.c.created_at, since, until),
        )
        .group_by(conversions.c.campaign, rewards.c.currency)
    ):
        found[campaign]["reward_cost"][currency] += from_minor(int(units or 0), currency)
    return [
        CampaignTotals(
            campaign=campaign,
            visits=entry.get("visits", 0),
            signups=entry.get("signups", 0),
            conversions=entry.get("conversions", 0),
            buyers=entry.get("buyers", 0),
            revenue=dict(entry["revenue"]),
            reward_cost=dict(entry["reward_cost"]),
        )
        for campaign, entry in found.items()
    ]


# -- rewards due ---------------------------------------------------------------------------


def due_rewards(
    connection: Connection, now: datetime, limit: int
) -> tuple[int, list[EarnedReward]]:
    """How many pending rewards have passed their hold period at ``now``, and the ``limit``
    that have waited longest."""
    due = and_(rewards.c.status == "pending", rewards.c.due_at <= now)
    count = int(
        connection.execute(select(func.count()).select_from(rewards).where(due)).scalar() or 0
    )
    rows = connection.execute(
        select(rewards).where(due).order_by(rewards.c.due_at, rewards.c.id).limit(limit)
    )
    return count, [reward_from_row(row) for row in rows]


# -- one referrer --------------------------------------------------------------------------


def referrals_of(connection: Connection, referrer_id: str, limit: int) -> list[ReferralRow]:
    """The referrer's newest ``limit`` referees, with their orders since."""
    rows = connection.execute(
        select(referrals)
        .where(referrals.c.referrer_id == referrer_id)
        .order_by(referrals.c.created_at.desc(), referrals.c.referee_id)
        .limit(limit)
    ).all()
    ids = [row.referee_id for row in rows]
    orders: dict[str, int] = defaultdict(int)
    first: dict[str, datetime] = {}
    revenue: dict[str, dict[str, Decimal]] = defaultdict(dict)
    if ids:
        for customer, currency, count, earliest, units in connection.execute(
            select(
                conversions.c.customer_id,
                conversions.c.currency,
                func.count(),
                func.min(conversions.c.created_at),
                func.sum(_NET),
            )
            .where(conversions.c.referrer_id == referrer_id, conversions.c.customer_id.in_(ids))
            .group_by(conversions.c.customer_id, conversions.c.currency)
        ):
            orders[customer] += int(count)
            first[customer] = min(first.get(customer, earliest), earliest)
            revenue[customer][currency] = from_minor(int(units or 0), currency)
    return [
        ReferralRow(
            referee_id=row.referee_id,
            source=row.source,
            campaign=row.campaign,
            created_at=row.created_at,
            orders=orders.get(row.referee_id, 0),
            first_order_at=first.get(row.referee_id),
            revenue=dict(revenue.get(row.referee_id, {})),
        )
        for row in rows
    ]


def buyers_of(connection: Connection, referrer_id: str) -> int:
    """How many of the referrer's referees have bought."""
    query = select(func.count(func.distinct(conversions.c.customer_id))).where(
        conversions.c.referrer_id == referrer_id
    )
    return int(connection.execute(query).scalar() or 0)


def conversions_of(connection: Connection, referrer_id: str, limit: int) -> list[Conversion]:
    """The newest ``limit`` orders of the referrer's referees, each with the rewards it
    created (for the referrer and the referee)."""
    rows = connection.execute(
        select(conversions)
        .where(conversions.c.referrer_id == referrer_id)
        .order_by(conversions.c.created_at.desc(), conversions.c.order_id)
        .limit(limit)
    ).all()
    earned: dict[str, list[EarnedReward]] = defaultdict(list)
    ids = [row.order_id for row in rows]
    if ids:
        for row in connection.execute(
            select(rewards).where(rewards.c.order_id.in_(ids)).order_by(rewards.c.id)
        ):
            reward = reward_from_row(row)
            earned[reward.order_id].append(reward)
    return [conversion_from_row(row, tuple(earned.get(row.order_id, ()))) for row in rows]
