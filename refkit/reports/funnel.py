"""Program-wide reports: the funnel (:func:`summary`) and its split by campaign and by
share channel.

Counts are SQL aggregates over indexed ``created_at`` columns, plain enough for each
database's fastest path; nothing is loaded row by row.

The funnel's rates are cohort rates (:func:`cohort`): they follow the referees who signed up
in the period, whenever they bought, so a rate is a share of a set of people and never passes
100%. (Dividing the period's buyers by the period's signups mixes people who signed up
before the period and bought in it: "7 first purchases, 175% of 4 signups".)
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, func, select

from ..conditions import NET, counted, period
from ..models import ProgramSummary
from ..money import from_minor
from ..storage.schema import conversions, discount_claims, referrals, referrers, rewards, visits
from ._sql import count, count_distinct, money_by_currency
from .records import CampaignTotals, ChannelTotals

__all__ = ["campaigns", "channels", "cohort", "summary"]

#: :attr:`~refkit.ProgramSummary.cost_per_acquisition` is rounded to this.
CENT = Decimal("0.01")


def cohort(
    connection: Connection, conditions: list[ColumnElement[bool]], until: datetime | None
) -> tuple[int, int]:
    """Of the referrals matching ``conditions`` (the period's signups), how many referees
    made a referred purchase before ``until`` (any time when ``None``), and how many of those
    earned a reward that still counts (not revoked or reversed): ``(bought, rewarded)``.

    Both are subsets of the signups, and ``rewarded`` of ``bought``, by construction."""
    bought = exists().where(
        conversions.c.customer_id == referrals.c.referee_id,
        conversions.c.referrer_id.is_not(None),
        *period(conversions.c.created_at, None, until),
    )
    rewarded = exists().where(
        rewards.c.referee_id == referrals.c.referee_id,
        counted(),
        *period(rewards.c.created_at, None, until),
    )
    base = select(func.count()).select_from(referrals).where(*conditions)
    return count(connection, base.where(bought)), count(connection, base.where(bought, rewarded))


def summary(
    connection: Connection,
    since: datetime | None,
    until: datetime | None,
    campaign: str | None,
    channel: str | None = None,
    variant: str | None = None,
) -> ProgramSummary:
    """The program's funnel over ``[since, until)`` (see
    :meth:`refkit.ReferralProgram.summary` for each figure), for one campaign or all, one
    share channel or all, and one A/B test variant or all."""
    # The referees bound with the variant: their orders, rewards and discounts are its own.
    cohort_ids = select(referrals.c.referee_id).where(referrals.c.variant == variant)

    def where(table: Any) -> list[ColumnElement[bool]]:
        conditions = period(table.c.created_at, since, until)
        if campaign is not None:
            conditions.append(table.c.campaign == campaign)
        if channel is not None:
            conditions.append(table.c.channel == channel)
        if variant is not None:
            if table is conversions:
                conditions.append(conversions.c.customer_id.in_(cohort_ids))
            else:
                conditions.append(table.c.variant == variant)
        return conditions

    holders = select(func.count()).select_from(referrers)
    if until is not None:
        holders = holders.where(referrers.c.created_at < until)
    referrer_count = count(connection, holders)
    visit_count = count(connection, select(func.count()).select_from(visits).where(*where(visits)))
    # Referrers (holding a code before ``until``) whose links brought a visit in the period.
    sharing = [*where(visits), referrers.c.user_id == visits.c.referrer_id]
    if until is not None:
        sharing.append(referrers.c.created_at < until)
    sharers = count(
        connection,
        select(func.count()).select_from(referrers).where(exists().where(*sharing)),
    )
    signups = count(
        connection, select(func.count()).select_from(referrals).where(*where(referrals))
    )
    signups_bought, signups_rewarded = cohort(connection, where(referrals), until)
    referred = [conversions.c.referrer_id.is_not(None), *where(conversions)]
    conversion_rows = connection.execute(
        select(conversions.c.currency, func.count(), func.sum(NET))
        .where(*referred)
        .group_by(conversions.c.currency)
    ).all()
    first_purchases = count_distinct(connection, conversions.c.customer_id, referred)
    reward_filter = [counted(), *period(rewards.c.created_at, since, until)]
    orders = _orders_of(campaign, channel)
    if orders is not None:
        reward_filter.append(rewards.c.order_id.in_(orders))
    if variant is not None:
        reward_filter.append(rewards.c.referee_id.in_(cohort_ids))
    cost_rows = connection.execute(
        select(rewards.c.currency, func.sum(rewards.c.value_minor))
        .where(rewards.c.currency.is_not(None), *reward_filter)
        .group_by(rewards.c.currency)
    ).all()
    rewarded = count_distinct(connection, rewards.c.referee_id, reward_filter)
    # Friends' discounts used at checkout (and not refunded) cost the shop too.
    discounts = discount_claims
    discount_filter = [
        discounts.c.status == "used",
        *period(discounts.c.used_at, since, until),
    ]
    if orders is not None:
        discount_filter.append(discounts.c.order_id.in_(orders))
    if variant is not None:
        discount_filter.append(discounts.c.referee_id.in_(cohort_ids))
    discount_rows = connection.execute(
        select(discounts.c.currency, func.sum(discounts.c.discount_minor))
        .where(*discount_filter)
        .group_by(discounts.c.currency)
    ).all()
    revenue = money_by_currency((currency, units) for currency, _, units in conversion_rows)
    cost = money_by_currency([*cost_rows, *discount_rows])
    reward_cost = sum(cost.values(), Decimal(0))
    return ProgramSummary(
        referrers=referrer_count,
        visits=visit_count,
        signups=signups,
        conversions=sum(int(number) for _, number, _ in conversion_rows),
        conversion_rate=signups_bought / signups if signups else 0.0,
        revenue=sum(revenue.values(), Decimal(0)),
        reward_cost=reward_cost,
        k_factor=signups / referrer_count if referrer_count else 0.0,
        first_purchases=first_purchases,
        rewarded=rewarded,
        signups_bought=signups_bought,
        signups_rewarded=signups_rewarded,
        revenue_by_currency=dict(revenue),
        reward_cost_by_currency=dict(cost),
        share_rate=sharers / referrer_count if referrer_count else 0.0,
        cost_per_acquisition=(
            (reward_cost / first_purchases).quantize(CENT, ROUND_HALF_EVEN)
            if first_purchases
            else None
        ),
    )


def _orders_of(campaign: str | None, channel: str | None) -> Any:
    """The order ids of one campaign and channel (a subquery), or ``None`` for all orders."""
    if campaign is None and channel is None:
        return None
    conditions = []
    if campaign is not None:
        conditions.append(conversions.c.campaign == campaign)
    if channel is not None:
        conditions.append(conversions.c.channel == channel)
    return select(conversions.c.order_id).where(*conditions)


def campaigns(
    connection: Connection, since: datetime | None, until: datetime | None
) -> list[CampaignTotals]:
    """Each campaign's visits, signups, buyers, orders, revenue and reward cost in
    ``[since, until)``, in no particular order (``campaign=None``: links shared without a
    campaign). Reward cost counts the rewards (and the friends' discounts) of the
    campaign's orders, as :func:`summary` does."""
    found: dict[str | None, dict[str, Any]] = defaultdict(
        lambda: {"revenue": defaultdict(Decimal), "reward_cost": defaultdict(Decimal)}
    )
    referred = _visits_and_revenue(connection, "campaign", since, until, found)
    for campaign, number in connection.execute(
        select(referrals.c.campaign, func.count())
        .where(*period(referrals.c.created_at, since, until))
        .group_by(referrals.c.campaign)
    ):
        found[campaign]["signups"] = int(number)
    for campaign, buyers in connection.execute(
        select(conversions.c.campaign, func.count(func.distinct(conversions.c.customer_id)))
        .where(*referred)
        .group_by(conversions.c.campaign)
    ):
        found[campaign]["buyers"] = int(buyers)
    for campaign, currency, units in connection.execute(
        select(conversions.c.campaign, rewards.c.currency, func.sum(rewards.c.value_minor))
        .select_from(rewards.join(conversions, rewards.c.order_id == conversions.c.order_id))
        .where(
            rewards.c.currency.is_not(None),
            counted(),
            *period(rewards.c.created_at, since, until),
        )
        .group_by(conversions.c.campaign, rewards.c.currency)
    ):
        found[campaign]["reward_cost"][currency] += from_minor(int(units or 0), currency)
    for campaign, currency, units in connection.execute(
        select(
            conversions.c.campaign,
            discount_claims.c.currency,
            func.sum(discount_claims.c.discount_minor),
        )
        .select_from(
            discount_claims.join(conversions, discount_claims.c.order_id == conversions.c.order_id)
        )
        .where(
            discount_claims.c.status == "used",
            *period(discount_claims.c.used_at, since, until),
        )
        .group_by(conversions.c.campaign, discount_claims.c.currency)
    ):  # the friends' discounts used on the campaign's orders
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


def channels(
    connection: Connection, since: datetime | None, until: datetime | None
) -> list[ChannelTotals]:
    """Each share channel's funnel in ``[since, until)``, in no particular order
    (``channel=None``: visits and referrals that came through no channel's link).

    ``buyers`` is a cohort: of the referees who signed up through the channel in the period,
    those who bought before ``until`` (so never more than ``signups``); ``first_purchases``
    counts distinct referred customers of the channel who bought in the period, as
    :func:`summary` does.
    """
    found: dict[str | None, dict[str, Any]] = defaultdict(lambda: {"revenue": defaultdict(Decimal)})
    referred = _visits_and_revenue(connection, "channel", since, until, found)
    bought = conversions.c.customer_id == referrals.c.referee_id
    bought_by = and_(bought, conversions.c.created_at < until) if until is not None else bought
    for channel, number, buyers in connection.execute(
        select(
            referrals.c.channel,
            func.count(),
            func.count(referrals.c.referee_id).filter(exists().where(bought_by)),
        )
        .where(*period(referrals.c.created_at, since, until))
        .group_by(referrals.c.channel)
    ):
        found[channel]["signups"] = int(number)
        found[channel]["buyers"] = int(buyers)
    for channel, customers in connection.execute(
        select(conversions.c.channel, func.count(func.distinct(conversions.c.customer_id)))
        .where(*referred)
        .group_by(conversions.c.channel)
    ):
        found[channel]["first_purchases"] = int(customers)
    return [
        ChannelTotals(
            channel=channel,
            visits=entry.get("visits", 0),
            signups=entry.get("signups", 0),
            buyers=entry.get("buyers", 0),
            first_purchases=entry.get("first_purchases", 0),
            conversions=entry.get("conversions", 0),
            revenue=dict(entry["revenue"]),
        )
        for channel, entry in found.items()
    ]


def _visits_and_revenue(
    connection: Connection,
    group: str,
    since: datetime | None,
    until: datetime | None,
    found: dict[str | None, dict[str, Any]],
) -> list[ColumnElement[bool]]:
    """Fill ``found`` (keyed by the ``group`` column: ``"campaign"`` or ``"channel"``) with
    each group's visits, referred conversions and revenue by currency in ``[since, until)``;
    the conditions of a referred conversion in the period, for the caller's other reads."""
    for key, number in connection.execute(
        select(visits.c[group], func.count())
        .where(*period(visits.c.created_at, since, until))
        .group_by(visits.c[group])
    ):
        found[key]["visits"] = int(number)
    referred = [
        conversions.c.referrer_id.is_not(None),
        *period(conversions.c.created_at, since, until),
    ]
    for key, currency, number, units in connection.execute(
        select(conversions.c[group], conversions.c.currency, func.count(), func.sum(NET))
        .where(*referred)
        .group_by(conversions.c[group], conversions.c.currency)
    ):
        entry = found[key]
        entry["conversions"] = entry.get("conversions", 0) + int(number)
        entry["revenue"][currency] += from_minor(int(units or 0), currency)
    return referred
