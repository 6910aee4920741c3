"""Program-wide reports: the funnel (:func:`summary`) and its split by campaign.

Counts are SQL aggregates over indexed ``created_at`` columns, plain enough for each
database's fastest path; nothing is loaded row by row.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from ..conditions import NET, counted, period
from ..models import ProgramSummary
from ..money import from_minor
from ..storage.schema import conversions, discount_claims, referrals, referrers, rewards, visits
from ._sql import count, count_distinct, money_by_currency
from .records import CampaignTotals

__all__ = ["campaigns", "summary"]


def summary(
    connection: Connection,
    since: datetime | None,
    until: datetime | None,
    campaign: str | None,
    variant: str | None = None,
) -> ProgramSummary:
    """The program's funnel over ``[since, until)`` (see
    :meth:`refkit.ReferralProgram.summary` for each figure), for one campaign or all, and
    one A/B test variant or all."""
    # The referees bound with the variant: their orders, rewards and discounts are its own.
    cohort = select(referrals.c.referee_id).where(referrals.c.variant == variant)

    def where(table: Any) -> list[ColumnElement[bool]]:
        conditions = period(table.c.created_at, since, until)
        if campaign is not None:
            conditions.append(table.c.campaign == campaign)
        if variant is not None:
            if table is conversions:
                conditions.append(conversions.c.customer_id.in_(cohort))
            else:
                conditions.append(table.c.variant == variant)
        return conditions

    holders = select(func.count()).select_from(referrers)
    if until is not None:
        holders = holders.where(referrers.c.created_at < until)
    referrer_count = count(connection, holders)
    visit_count = count(connection, select(func.count()).select_from(visits).where(*where(visits)))
    signups = count(
        connection, select(func.count()).select_from(referrals).where(*where(referrals))
    )
    referred = [conversions.c.referrer_id.is_not(None), *where(conversions)]
    conversion_rows = connection.execute(
        select(conversions.c.currency, func.count(), func.sum(NET))
        .where(*referred)
        .group_by(conversions.c.currency)
    ).all()
    first_purchases = count_distinct(connection, conversions.c.customer_id, referred)
    reward_filter = [counted(), *period(rewards.c.created_at, since, until)]
    if campaign is not None:
        reward_filter.append(
            rewards.c.order_id.in_(
                select(conversions.c.order_id).where(conversions.c.campaign == campaign)
            )
        )
    if variant is not None:
        reward_filter.append(rewards.c.referee_id.in_(cohort))
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
    if campaign is not None:
        discount_filter.append(
            discounts.c.order_id.in_(
                select(conversions.c.order_id).where(conversions.c.campaign == campaign)
            )
        )
    if variant is not None:
        discount_filter.append(discounts.c.referee_id.in_(cohort))
    discount_rows = connection.execute(
        select(discounts.c.currency, func.sum(discounts.c.discount_minor))
        .where(*discount_filter)
        .group_by(discounts.c.currency)
    ).all()
    revenue = money_by_currency((currency, units) for currency, _, units in conversion_rows)
    cost = money_by_currency([*cost_rows, *discount_rows])
    return ProgramSummary(
        referrers=referrer_count,
        visits=visit_count,
        signups=signups,
        conversions=sum(int(number) for _, number, _ in conversion_rows),
        conversion_rate=first_purchases / signups if signups else 0.0,
        revenue=sum(revenue.values(), Decimal(0)),
        reward_cost=sum(cost.values(), Decimal(0)),
        k_factor=signups / referrer_count if referrer_count else 0.0,
        first_purchases=first_purchases,
        rewarded=rewarded,
        revenue_by_currency=dict(revenue),
        reward_cost_by_currency=dict(cost),
    )


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
    for campaign, number in connection.execute(
        select(visits.c.campaign, func.count())
        .where(*period(visits.c.created_at, since, until))
        .group_by(visits.c.campaign)
    ):
        found[campaign]["visits"] = int(number)
    for campaign, number in connection.execute(
        select(referrals.c.campaign, func.count())
        .where(*period(referrals.c.created_at, since, until))
        .group_by(referrals.c.campaign)
    ):
        found[campaign]["signups"] = int(number)
    referred = [
        conversions.c.referrer_id.is_not(None),
        *period(conversions.c.created_at, since, until),
    ]
    for campaign, currency, number, units in connection.execute(
        select(conversions.c.campaign, conversions.c.currency, func.count(), func.sum(NET))
        .where(*referred)
        .group_by(conversions.c.campaign, conversions.c.currency)
    ):
        entry = found[campaign]
        entry["conversions"] = entry.get("conversions", 0) + int(number)
        entry["revenue"][currency] += from_minor(int(units or 0), currency)
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
