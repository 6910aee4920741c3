"""The data behind each panel of the admin dashboard: plain records, no HTML.

Each function takes the program (and the period the page shows) and returns frozen
dataclasses, so every number on the page can be tested without parsing HTML:

==========================  =============================================================
:func:`funnel`              visits, signups, and of those signups: bought -> rewarded
:func:`money_over_time`     referred revenue and reward cost by day or week, in one currency
:func:`top_referrers`       the leaderboard (all time)
:func:`campaigns`           the funnel and money split by campaign
:func:`rewards_due`         pending rewards whose hold period has passed
:func:`flagged_referrals`   referrals flagged for review, and why
:func:`referrer_report`     one referrer: referrals, orders, and the ledger with its balance
==========================  =============================================================

A period is the last N days up to now (UTC days; a weekly chart starts on the Monday of its
first week) or all time: see :func:`period`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Final

from sqlalchemy import Connection

from refkit import (
    Conversion,
    LeaderboardEntry,
    LedgerEntry,
    ProgramSummary,
    ReferralProgram,
    ReferrerStats,
    reports,
)
from refkit.reports import (
    Bucket,
    BucketTotal,
    CampaignTotals,
    ChannelTotals,
    DueRewards,
    ReferralRow,
)

__all__ = [
    "BUCKETS",
    "PERIODS",
    "CampaignRow",
    "ChannelRow",
    "DueRewards",
    "FlaggedReferral",
    "Funnel",
    "FunnelStep",
    "LedgerLine",
    "MoneyOverTime",
    "MoneyPoint",
    "Period",
    "ReferrerReport",
    "campaigns",
    "channels",
    "currencies",
    "flagged_referrals",
    "funnel",
    "money_over_time",
    "period",
    "primary_currency",
    "referrer_report",
    "running_balance",
    "rewards_due",
    "top_referrers",
]

#: The periods the page offers: a number of days, or ``"all"``.
PERIODS: Final = ("7", "30", "90", "365", "all")
BUCKETS: Final[tuple[Bucket, ...]] = reports.BUCKETS
DEFAULT_PERIOD: Final = "30"
DEFAULT_BUCKET: Final[Bucket] = "day"
#: A daily chart with more days than this (all time, over a long history) is drawn by week.
MAX_DAILY_POINTS: Final = 400
#: Campaigns listed one by one; the rest are summed into one "other campaigns" row.
MAX_CAMPAIGNS: Final = 12
LEADERBOARD_SIZE: Final = 10
DUE_LIST_LIMIT: Final = 50
REFERRER_LIST_LIMIT: Final = 200


# -- the period ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """What the page shows: ``since`` (``None``: all time) up to ``until`` (now)."""

    key: str
    by: Bucket
    since: datetime | None
    until: datetime

    @property
    def label(self) -> str:
        """``"Last 30 days"`` or ``"All time"``."""
        return "All time" if self.since is None else f"Last {self.key} days"


def period(now: datetime, days: str | None = None, by: str | None = None) -> Period:
    """The period for the page's ``?days=`` and ``?by=`` (anything unknown: the default,
    the last 30 days by day).

    The last N days are the N UTC calendar days up to today, today included; by week, the
    period starts on the Monday of the first of them, so every week on the chart is whole.
    """
    key = days if days in PERIODS else DEFAULT_PERIOD
    bucket: Bucket = "week" if by == "week" else DEFAULT_BUCKET
    if key == "all":
        return Period(key, bucket, None, now)
    first = now.astimezone(UTC).date() - timedelta(days=int(key) - 1)
    if bucket == "week":
        first -= timedelta(days=first.weekday())
    return Period(key, bucket, datetime.combine(first, time(), tzinfo=UTC), now)


def currencies(program: ReferralProgram) -> list[str]:
    """The currencies of referred orders and rewards, the most used first."""
    return program.reports.currencies()


def primary_currency(program: ReferralProgram, used: Sequence[str] | None = None) -> str | None:
    """The shop's main currency: the one of most referred orders, else of the rewards, else
    of a fixed reward in the rules; ``None`` when nothing says.

    :param used: :func:`currencies`, when the caller has them already.
    """
    used = currencies(program) if used is None else used
    if used:
        return used[0]
    rules = program.rules
    for reward in (rules.referrer_reward, rules.referee_reward) if rules else ():
        if reward is not None and reward.currency is not None:
            return reward.currency
    return None


# -- the funnel ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunnelStep:
    """One step of the funnel; ``rate`` is its share of the step named by ``of`` (a cohort
    rate, at most 1), ``None`` when that step is zero or the step has no rate (``of`` is
    ``None``: visits and signups are counted apart, see :func:`funnel`)."""

    key: str
    label: str
    count: int
    rate: float | None
    of: str | None = None


@dataclass(frozen=True, slots=True)
class Funnel:
    """The program's funnel in a period, with the core's summary it comes from."""

    steps: tuple[FunnelStep, ...]
    summary: ProgramSummary

    @property
    def k_factor(self) -> float:
        """Signups per referrer: the viral coefficient."""
        return self.summary.k_factor


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole > 0 else None


def funnel(program: ReferralProgram, shown: Period) -> Funnel:
    """Visits and signups in the period, then the cohort of those signups: how many bought
    (at any time), and how many of the buyers were rewarded.

    Every rate is a share of the people in the step it names (``of``), so none passes 100%:
    "Bought" is a share of the period's signups, "Rewarded" of those who bought. Visits get no
    rate and give none: a visit is not a person (one friend may visit twice) and a signup
    need not follow a visit (a code typed at signup), so "signups per visit" is not a share.
    """
    summary = program.summary(since=shown.since)
    bought, rewarded = summary.signups_bought, summary.signups_rewarded
    steps = (
        FunnelStep("visits", "Visits", summary.visits, None),
        FunnelStep("signups", "Signups", summary.signups, None),
        FunnelStep("bought", "Bought", bought, _rate(bought, summary.signups), "signups"),
        FunnelStep("rewarded", "Rewarded", rewarded, _rate(rewarded, bought), "bought"),
    )
    return Funnel(steps, summary)


# -- money over time -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MoneyPoint:
    """One day or week (``start``: the day, or its Monday) in the charted currency."""

    start: date
    revenue: Decimal
    reward_cost: Decimal


@dataclass(frozen=True, slots=True)
class MoneyOverTime:
    """Referred revenue and reward cost over the period.

    ``points`` are in ``currency`` (the shop's main one), every day or week of the period
    included, zeros too. ``revenue`` and ``reward_cost`` are the period's totals in every
    currency. ``by`` is ``"week"`` when a long daily chart was drawn by week
    (``coarsened``).
    """

    by: Bucket
    currency: str | None
    points: tuple[MoneyPoint, ...]
    revenue: dict[str, Decimal]
    reward_cost: dict[str, Decimal]
    coarsened: bool = False

    @property
    def other_currencies(self) -> list[str]:
        """Currencies with money in the period that the chart leaves out."""
        found = {c for c, v in (*self.revenue.items(), *self.reward_cost.items()) if v}
        return sorted(found - {self.currency} if self.currency else found)


def _starts(first: date, last: date, by: Bucket) -> list[date]:
    step = timedelta(days=7 if by == "week" else 1)
    start = reports.bucket_start(first, by)
    days = []
    while start <= last:
        days.append(start)
        start += step
    return days


def _by_currency(totals: Sequence[BucketTotal]) -> dict[str, Decimal]:
    summed: dict[str, Decimal] = defaultdict(Decimal)
    for total in totals:
        summed[total.currency] += total.amount
    return dict(summed)


def money_over_time(
    program: ReferralProgram, shown: Period, currency: str | None = None
) -> MoneyOverTime:
    """Revenue from referred customers and the cost of their rewards, by day or week.

    :param currency: the currency to chart (default: :func:`primary_currency`).
    """
    charted = currency or primary_currency(program)
    last = shown.until.astimezone(UTC).date()
    if shown.since is not None:
        first = shown.since.astimezone(UTC).date()
    else:
        started = program.reports.first_activity()
        first = min(started.astimezone(UTC).date(), last) if started else last
    by, coarsened = shown.by, False
    if by == "day" and (last - first).days + 1 > MAX_DAILY_POINTS:
        by, coarsened = "week", True

    def load(connection: Connection) -> tuple[list[BucketTotal], ...]:
        revenue = reports.revenue_by_bucket(connection, shown.since, None, by)
        cost = reports.reward_cost_by_bucket(connection, shown.since, None, by)
        return revenue, cost

    revenue, cost = program.reports.read(load)
    revenue_at = {t.start: t.amount for t in revenue if t.currency == charted}
    cost_at = {t.start: t.amount for t in cost if t.currency == charted}
    points = tuple(
        MoneyPoint(start, revenue_at.get(start, Decimal(0)), cost_at.get(start, Decimal(0)))
        for start in _starts(first, last, by)
    )
    return MoneyOverTime(
        by=by,
        currency=charted,
        points=points,
        revenue=_by_currency(revenue),
        reward_cost=_by_currency(cost),
        coarsened=coarsened,
    )


# -- referrers and campaigns ---------------------------------------------------------------


def top_referrers(program: ReferralProgram, by: str = "conversions") -> list[LeaderboardEntry]:
    """The ten best referrers of all time, by referred orders (or ``"revenue"``)."""
    return program.leaderboard(limit=LEADERBOARD_SIZE, by=by)


@dataclass(frozen=True, slots=True)
class CampaignRow:
    """A line of the campaign split: ``name`` is what the page shows; ``campaign`` is the
    campaign (``None`` for "no campaign"; ``others`` > 0 for the row summing the rest)."""

    name: str
    campaign: str | None
    totals: CampaignTotals
    others: int = 0


def _sort_key(
    currency: str | None,
) -> Callable[[CampaignTotals], tuple[Decimal, int, int, int, str]]:
    def key(totals: CampaignTotals) -> tuple[Decimal, int, int, int, str]:
        money = totals.revenue.get(currency, Decimal(0)) if currency else Decimal(0)
        name = totals.campaign or ""
        return (-money, -totals.buyers, -totals.signups, -totals.visits, name)

    return key


def _sum(rows: Sequence[CampaignTotals]) -> CampaignTotals:
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    cost: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        for currency, amount in row.revenue.items():
            revenue[currency] += amount
        for currency, amount in row.reward_cost.items():
            cost[currency] += amount
    return CampaignTotals(
        campaign=None,
        visits=sum(row.visits for row in rows),
        signups=sum(row.signups for row in rows),
        conversions=sum(row.conversions for row in rows),
        buyers=sum(row.buyers for row in rows),
        revenue=dict(revenue),
        reward_cost=dict(cost),
    )


def campaigns(
    program: ReferralProgram, shown: Period, currency: str | None = None
) -> list[CampaignRow]:
    """The period's funnel and money by campaign, best revenue first.

    Campaign names come from share links, so anyone can invent one: past
    :data:`MAX_CAMPAIGNS`, the smallest are summed into one "other campaigns" row.
    """
    found = program.reports.campaigns(since=shown.since)
    found.sort(key=_sort_key(currency))
    rows = [
        CampaignRow(totals.campaign or "(no campaign)", totals.campaign, totals)
        for totals in found[:MAX_CAMPAIGNS]
    ]
    rest = found[MAX_CAMPAIGNS:]
    if rest:
        rows.append(CampaignRow(f"{len(rest)} other campaigns", None, _sum(rest), len(rest)))
    return rows


@dataclass(frozen=True, slots=True)
class ChannelRow:
    """A line of the channel split: ``name`` is what the page shows; ``channel`` is the
    channel (``None`` for links without one, and for the row summing the rest)."""

    name: str
    channel: str | None
    totals: ChannelTotals

    @property
    def purchase_rate(self) -> float:
        """The cohort rate: of the period's signups through the channel, those who bought."""
        return self.totals.purchase_rate


def channels(program: ReferralProgram, shown: Period) -> list[ChannelRow]:
    """The period's funnel by share channel, most signups first, links without a channel
    last; past :data:`MAX_CAMPAIGNS` channels (anyone can put one in a link), the smallest
    are summed into one "other channels" row."""
    found = program.reports.channels(since=shown.since)
    found.sort(key=lambda t: (-t.signups, -t.buyers, -t.visits, t.channel or ""))
    named = [totals for totals in found if totals.channel is not None]
    rows = [ChannelRow(t.channel or "", t.channel, t) for t in named[:MAX_CAMPAIGNS]]
    rest = named[MAX_CAMPAIGNS:]
    if rest:
        summed = ChannelTotals(
            channel=None,
            visits=sum(t.visits for t in rest),
            signups=sum(t.signups for t in rest),
            buyers=sum(t.buyers for t in rest),
            first_purchases=sum(t.first_purchases for t in rest),
            conversions=sum(t.conversions for t in rest),
        )
        rows.append(ChannelRow(f"{len(rest)} other channels", None, summed))
    rows.extend(ChannelRow("(no channel)", None, t) for t in found if t.channel is None)
    return rows


# -- rewards to approve, referrals to review -----------------------------------------------


def rewards_due(program: ReferralProgram, limit: int = DUE_LIST_LIMIT) -> DueRewards:
    """The rewards "Approve all due" approves now (:meth:`refkit.ReferralProgram.approve_due`:
    past their hold period, not flagged for review): how many, and the longest-waiting."""
    return program.reports.due_rewards(limit=limit)


@dataclass(frozen=True, slots=True)
class FlaggedReferral:
    """A referral that looks wrong (a shared device, a burst of signups...), to review."""

    referee_id: str
    referrer_id: str
    reason: str
    created_at: datetime


#: How many flagged referrals the page lists.
FLAGGED_LIST_LIMIT: Final = 50
_FLAG_LABELS: Final = {
    "same_device": "same IP address and browser at the click and at signup",
    "disposable_email": "disposable email address",
    "fast_purchase": "purchase right after the click",
}


def flagged_referrals(
    program: ReferralProgram, limit: int = FLAGGED_LIST_LIMIT
) -> list[FlaggedReferral]:
    """Referrals flagged for review (:meth:`refkit.ReferralProgram.flagged_referrals`), the
    most recently flagged first, each with its reasons in words."""
    return [
        FlaggedReferral(
            referee_id=flagged.referee_id,
            referrer_id=flagged.referrer_id,
            reason="; ".join(_FLAG_LABELS.get(r, r) for r in flagged.reasons),
            created_at=flagged.flagged_at,
        )
        for flagged in program.flagged_referrals(limit)
    ]


# -- one referrer --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """A ledger entry and the beneficiary's balances in its currency right after it
    (``currency=None``: points)."""

    entry: LedgerEntry
    pending_balance: Decimal
    approved_balance: Decimal


@dataclass(frozen=True, slots=True)
class ReferrerReport:
    """A referrer's page: their numbers, their newest referees and orders, and their reward
    ledger (oldest first) with running balances.

    ``buyers`` counts the referees who bought; ``balances`` maps each currency (``None``:
    points) to the pending and approved balances after the whole ledger.
    """

    user_id: str
    stats: ReferrerStats
    referrals: tuple[ReferralRow, ...]
    conversions: tuple[Conversion, ...]
    ledger: tuple[LedgerLine, ...]
    buyers: int = 0
    balances: Mapping[str | None, tuple[Decimal, Decimal]] = field(default_factory=dict)

    @property
    def pending(self) -> dict[str, Decimal]:
        """Pending monetary rewards (in their hold period), by currency."""
        return {c: p for c, (p, _) in self.balances.items() if c is not None}

    @property
    def approved(self) -> dict[str, Decimal]:
        """The approved balance, what the shop owes them, by currency."""
        return {c: a for c, (_, a) in self.balances.items() if c is not None}

    @property
    def points(self) -> tuple[int, int]:
        """Pending and approved points."""
        pending, approved = self.balances.get(None, (Decimal(0), Decimal(0)))
        return int(pending), int(approved)

    @property
    def referrals_truncated(self) -> bool:
        return self.stats.signups > len(self.referrals)

    @property
    def conversions_truncated(self) -> bool:
        return self.stats.conversions > len(self.conversions)


def running_balance(entries: Sequence[LedgerEntry]) -> list[LedgerLine]:
    """Each entry with the pending and approved balances of its currency after it."""
    balances: dict[str | None, tuple[Decimal, Decimal]] = {}
    lines = []
    for entry in entries:
        pending, approved = balances.get(entry.currency, (Decimal(0), Decimal(0)))
        pending, approved = pending + entry.pending, approved + entry.approved
        balances[entry.currency] = (pending, approved)
        lines.append(LedgerLine(entry, pending, approved))
    return lines


def referrer_report(
    program: ReferralProgram, user_id: str, limit: int = REFERRER_LIST_LIMIT
) -> ReferrerReport:
    """Everything the referrer's page shows.

    :raises refkit.ValidationError: ``user_id`` is not a valid user id.
    """
    stats = program.stats_for(user_id)

    def load(connection: Connection) -> tuple[list[ReferralRow], list[Conversion], int]:
        return (
            reports.referrals_of(connection, stats.user_id, limit),
            reports.conversions_of(connection, stats.user_id, limit),
            reports.buyers_of(connection, stats.user_id),
        )

    referrals, orders, buyers = program.reports.read(load)
    lines = running_balance(program.ledger(stats.user_id))
    balances: dict[str | None, tuple[Decimal, Decimal]] = {}
    for line in lines:
        balances[line.entry.currency] = (line.pending_balance, line.approved_balance)
    return ReferrerReport(
        user_id=stats.user_id,
        stats=stats,
        referrals=tuple(referrals),
        conversions=tuple(orders),
        ledger=tuple(lines),
        buyers=buyers,
        balances=balances,
    )
