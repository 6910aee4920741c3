"""Reports on referrers: one referrer's figures, referees and orders, and the leaderboard.

One referrer's figures and the leaderboard read covering indexes only (revision 0003);
``bench/scale.py`` times them at 1M visits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
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

from ..conditions import NET, OPEN_FLAG, toward_milestones
from ..errors import ValidationError
from ..models import Conversion, EarnedReward, LeaderboardEntry, ReferrerStats
from ..money import from_minor
from ..rules import Milestone
from ..storage.records import conversion_from_row, reward_from_row
from ..storage.schema import balances, conversions, flags, referrals, referrer_totals, rewards
from ._sql import count, money_by_currency
from .records import ReferralRow

__all__ = [
    "LEADERBOARD_ORDERS",
    "buyers_of",
    "conversions_of",
    "leaderboard",
    "referrals_of",
    "stats_for",
]

#: What :func:`leaderboard` can rank by.
LEADERBOARD_ORDERS = ("conversions", "revenue")


def _figure(name: str, currency: Any, status: Any, number: Any, units: Any) -> Select[Any]:
    """One branch of :data:`_STATS_FOR`: (figure, currency, status, count, minor units)."""
    return select(
        literal_column(f"'{name}'", String).label("figure"),
        currency.label("currency"),
        status.label("status"),
        number.label("count"),
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
    ).where(flags.c.referrer_id == _USER, OPEN_FLAG),
    _figure("revenue", conversions.c.currency, _NO_TEXT, func.count(), func.sum(NET))
    .where(conversions.c.referrer_id == _USER)
    .group_by(conversions.c.currency),
    _figure(
        "rewards", rewards.c.currency, rewards.c.status, _NO_NUMBER, func.sum(rewards.c.value_minor)
    )
    .where(rewards.c.beneficiary_id == _USER)
    .group_by(rewards.c.status, rewards.c.currency),
    _figure(
        "balance", balances.c.currency, _NO_TEXT, balances.c.debt_minor, balances.c.balance_minor
    ).where(balances.c.beneficiary_id == _USER, balances.c.currency != ""),
    # milestones (revision 0010): the count toward them, and the ones paid
    _figure("progress", _NO_TEXT, _NO_TEXT, func.count(), _NO_NUMBER).where(
        toward_milestones(_USER)
    ),
    _figure(
        "milestone", _NO_TEXT, _NO_TEXT, cast(rewards.c.milestone, BigInteger), _NO_NUMBER
    ).where(rewards.c.referrer_id == _USER, rewards.c.milestone.is_not(None)),
)


def stats_for(
    connection: Connection, user_id: str, milestones: Sequence[Milestone] = ()
) -> ReferrerStats:
    """One user's figures as a referrer (and the rewards they earned as a referee), in one
    statement; ``milestones`` are the rules' (for ``next_milestone``)."""
    counts = {"visits": 0, "signups": 0, "flagged": 0, "progress": 0}
    reached: list[int] = []
    by_currency: list[tuple[str, int, int]] = []
    money: dict[str, Decimal] = defaultdict(Decimal)
    points: dict[str, int] = defaultdict(int)
    balance: dict[str, Decimal] = {}
    debt: dict[str, Decimal] = {}
    for figure, currency, status, number, units in connection.execute(
        _STATS_FOR, {"user_id": user_id}
    ):
        if figure == "revenue":
            by_currency.append((currency, int(number), int(units or 0)))
        elif figure == "balance":
            if units:
                balance[currency] = from_minor(int(units), currency)
            if number:
                debt[currency] = from_minor(int(number), currency)
        elif figure == "milestone":
            reached.append(int(number))
        elif figure == "rewards" and currency is None:
            points[status] += int(units)
        elif figure == "rewards":
            money[status] += from_minor(int(units), currency)
        else:
            counts[figure] = int(number or 0)
    revenue = money_by_currency((currency, units) for currency, _, units in by_currency)
    return ReferrerStats(
        user_id=user_id,
        flagged=counts["flagged"],
        visits=counts["visits"],
        signups=counts["signups"],
        conversions=sum(number for _, number, _ in by_currency),
        revenue=sum(revenue.values(), Decimal(0)),
        revenue_by_currency=revenue,
        rewards=dict(money),
        points=dict(points),
        balance_by_currency=balance,
        debt_by_currency=debt,
        milestone_progress=counts["progress"],
        next_milestone=next((m for m in milestones if m.count not in reached), None),
        milestones_reached=tuple(sorted(reached)),
    )


def leaderboard(connection: Connection, limit: int, by: str) -> list[LeaderboardEntry]:
    """The ``limit`` best referrers of all time, by referred orders or by revenue (net of
    refunds); ties go to the other figure, then to the referrer id.

    :raises ValidationError: ``by`` is neither ``"conversions"`` nor ``"revenue"``.
    """
    if by not in LEADERBOARD_ORDERS:
        raise ValidationError(f"leaderboard by must be 'conversions' or 'revenue', got {by!r}")
    orders = func.count().label("conversions")
    net = func.sum(NET).label("net")
    order = (orders.desc(), net.desc()) if by == "conversions" else (net.desc(), orders.desc())
    top = connection.execute(
        select(conversions.c.referrer_id, orders, net)
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
        select(conversions.c.referrer_id, conversions.c.currency, func.sum(NET))
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


def referrals_of(connection: Connection, referrer_id: str, limit: int) -> list[ReferralRow]:
    """The referrer's newest ``limit`` referees, each with their orders since."""
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
        for customer, currency, number, earliest, units in connection.execute(
            select(
                conversions.c.customer_id,
                conversions.c.currency,
                func.count(),
                func.min(conversions.c.created_at),
                func.sum(NET),
            )
            .where(conversions.c.referrer_id == referrer_id, conversions.c.customer_id.in_(ids))
            .group_by(conversions.c.customer_id, conversions.c.currency)
        ):
            orders[customer] += int(number)
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
    return count(
        connection,
        select(func.count(func.distinct(conversions.c.customer_id))).where(
            conversions.c.referrer_id == referrer_id
        ),
    )


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
            earned[row.order_id].append(reward_from_row(row))
    return [conversion_from_row(row, tuple(earned.get(row.order_id, ()))) for row in rows]
