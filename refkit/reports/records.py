"""The read model's own records: frozen dataclasses, like the core's records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from ..models import EarnedReward

__all__ = [
    "Bucket",
    "BucketTotal",
    "CampaignTotals",
    "ChannelTotals",
    "DueRewards",
    "ReferralRow",
]

#: How money over time is grouped: by UTC calendar day, or by ISO week (Monday to Sunday).
Bucket = Literal["day", "week"]


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
class ChannelTotals:
    """One share channel's funnel in a period (``channel=None``: through no channel's link).

    ``signups`` are the referrals made in the period; ``buyers`` the cohort of those
    referees who have bought (before the period's end), so ``buyers <= signups`` and
    :attr:`purchase_rate` is at most 1. ``first_purchases`` counts distinct referred
    customers who bought in the period, and ``revenue`` their orders (net of refunds), by
    currency.
    """

    channel: str | None
    visits: int = 0
    signups: int = 0
    buyers: int = 0
    first_purchases: int = 0
    conversions: int = 0
    revenue: dict[str, Decimal] = field(default_factory=dict)

    @property
    def purchase_rate(self) -> float:
        """``buyers / signups``: the share of the period's signups who bought (0.0 without
        signups)."""
        return self.buyers / self.signups if self.signups else 0.0


@dataclass(frozen=True, slots=True)
class ReferralRow:
    """A referee of one referrer, with what they bought since (net of refunds, by currency)."""

    referee_id: str
    source: str
    campaign: str | None
    created_at: datetime
    orders: int
    first_order_at: datetime | None
    revenue: dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class DueRewards:
    """The rewards :meth:`~refkit.ReferralProgram.approve_due` would approve at ``now``:
    how many (``count``), and the ones that have waited longest (``rewards``, at most the
    limit asked for)."""

    count: int
    rewards: tuple[EarnedReward, ...]
    now: datetime

    @property
    def truncated(self) -> bool:
        """Whether more rewards are due than ``rewards`` lists."""
        return self.count > len(self.rewards)
