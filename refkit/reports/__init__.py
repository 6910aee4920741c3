"""The read model: every report refkit answers, for the program, the CLI and the dashboards.

Each function takes an open SQLAlchemy :class:`~sqlalchemy.engine.Connection` (and typed
parameters) and returns frozen records; nothing here writes. The conditions they share with
the engine ("due", "counted", "net of refunds", the period) come from
:mod:`refkit.conditions`, so a figure on a dashboard is the figure the engine acts on.

Most callers use :attr:`ReferralProgram.reports <refkit.ReferralProgram.reports>`, a
:class:`Reports` that checks the arguments and runs each report in one read-only
transaction of the program's store::

    program.reports.campaigns(since=start)
    program.reports.due_rewards(limit=20).count

Several reports read from one snapshot with :meth:`Reports.read`::

    from refkit import reports

    revenue, cost = program.reports.read(lambda connection: (
        reports.revenue_by_bucket(connection, start, None, "week"),
        reports.reward_cost_by_bucket(connection, start, None, "week"),
    ))

===============================  ===========================================================
:func:`stats_for`                one user's figures as a referrer (:class:`~refkit.ReferrerStats`)
:func:`summary`                  the program's funnel in a period (:class:`~refkit.ProgramSummary`)
:func:`leaderboard`              the best referrers (:class:`~refkit.LeaderboardEntry`)
:func:`campaigns`                the funnel and money by campaign (:class:`CampaignTotals`)
:func:`channels`                 the funnel by share channel (:class:`ChannelTotals`)
:func:`revenue_by_bucket`        referred revenue by day or week (:class:`BucketTotal`)
:func:`reward_cost_by_bucket`    reward cost by day or week (:class:`BucketTotal`)
:func:`first_activity`           when the first referred order was recorded
:func:`currencies`               the currencies in use, the most used first
:func:`due_rewards`              the rewards ``approve_due`` would approve (:class:`DueRewards`)
:func:`due_count`                how many they are
:func:`referrals_of`             one referrer's newest referees (:class:`ReferralRow`)
:func:`conversions_of`           the newest orders of one referrer's referees
:func:`buyers_of`                how many of one referrer's referees bought
:func:`experiment_report`        an A/B test's variants (:class:`~refkit.ExperimentReport`)
===============================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final, Protocol, TypeVar

from sqlalchemy import Connection

from ..errors import StorageError, ValidationError
from ..experiments import Experiment
from ..models import Conversion, LeaderboardEntry, ProgramSummary, ReferrerStats
from ..rules import Milestone
from ..validation import to_aware, to_campaign, to_channel, to_id
from .experiments import ExperimentReport, experiment_report
from .funnel import campaigns, channels, summary
from .money import (
    bucket_start,
    currencies,
    first_activity,
    revenue_by_bucket,
    reward_cost_by_bucket,
)
from .records import Bucket, BucketTotal, CampaignTotals, ChannelTotals, DueRewards, ReferralRow
from .referrers import (
    LEADERBOARD_ORDERS,
    buyers_of,
    conversions_of,
    leaderboard,
    referrals_of,
    stats_for,
)
from .rewards import due_count, due_rewards

__all__ = [
    "BUCKETS",
    "LEADERBOARD_ORDERS",
    "Bucket",
    "BucketTotal",
    "CampaignTotals",
    "ChannelTotals",
    "DueRewards",
    "ReferralRow",
    "Reports",
    "bucket_start",
    "buyers_of",
    "campaigns",
    "channels",
    "conversions_of",
    "currencies",
    "due_count",
    "due_rewards",
    "experiment_report",
    "first_activity",
    "leaderboard",
    "referrals_of",
    "revenue_by_bucket",
    "reward_cost_by_bucket",
    "stats_for",
    "summary",
]

T = TypeVar("T")
#: How :func:`revenue_by_bucket` and :func:`reward_cost_by_bucket` can group.
BUCKETS: Final[tuple[Bucket, ...]] = ("day", "week")


class Readable(Protocol):
    """A store that runs work in one read-only transaction (every built-in store does)."""

    def read(self, work: Callable[[Connection], T]) -> T: ...


def _limit(value: object, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ValidationError(f"limit must be an int from 1 to {maximum}")
    return value


def _when(value: datetime | None, name: str) -> datetime | None:
    return None if value is None else to_aware(value, name)


def _bucket(by: object) -> Bucket:
    if by == "day" or by == "week":
        return by
    raise ValidationError(f"by must be 'day' or 'week', got {by!r}")


class Reports:
    """The read model of one program's store: each method checks its arguments and runs the
    report of the same name in one read-only transaction.

    Get it as :attr:`ReferralProgram.reports <refkit.ReferralProgram.reports>`.

    :param store: the program's store (any store with ``read``, as every built-in one).
    :param clock: "now", for :meth:`due_rewards` and :meth:`due_count` without ``now``.
    :param milestones: the rules' milestones now, for :meth:`stats_for`'s
        ``next_milestone`` (none by default).
    :raises ValidationError: from each method, for a bad argument (nothing is read).
    :raises StorageError: from each method, when the database fails, or for a store that
        cannot run SQL reads.
    """

    def __init__(
        self,
        store: object,
        clock: Callable[[], datetime],
        milestones: Callable[[], Sequence[Milestone]] = lambda: (),
    ) -> None:
        self._store = store
        self._clock = clock
        self._milestones = milestones

    def __repr__(self) -> str:
        return f"<Reports of {self._store!r}>"

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(connection)`` in one read-only transaction and return its result: for
        several reports from one snapshot, or queries of your own over refkit's tables."""
        read = getattr(self._store, "read", None)
        if read is None:
            raise StorageError(
                f"reports read refkit's SQL tables, and the store {self._store!r} has none; "
                "use a store opened from a URL or an SQLAlchemy engine"
            )
        result: T = read(work)
        return result

    def stats_for(self, user_id: str | int) -> ReferrerStats:
        """One user's figures as a referrer (see :meth:`refkit.ReferralProgram.stats_for`)."""
        user, goals = to_id(user_id), self._milestones()
        return self.read(lambda c: stats_for(c, user, goals))

    def summary(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        campaign: str | None = None,
        channel: str | None = None,
        variant: str | None = None,
    ) -> ProgramSummary:
        """The funnel over ``[since, until)`` (see :meth:`refkit.ReferralProgram.summary`)."""
        start, end = _when(since, "since"), _when(until, "until")
        name, way = to_campaign(campaign), to_channel(channel)
        if variant is not None and not isinstance(variant, str):
            raise ValidationError(f"variant must be a variant's name, got {variant!r}")
        return self.read(lambda c: summary(c, start, end, name, way, variant))

    def experiment(self, experiment: Experiment) -> ExperimentReport:
        """``experiment``'s variants side by side (see
        :meth:`refkit.ReferralProgram.experiment_report`)."""
        if not isinstance(experiment, Experiment):
            raise ValidationError(f"experiment must be a refkit.Experiment, got {experiment!r}")
        return self.read(lambda c: experiment_report(c, experiment))

    def leaderboard(self, limit: int = 10, by: str = "conversions") -> list[LeaderboardEntry]:
        """Top referrers by ``"conversions"`` or ``"revenue"`` (net of refunds), ``limit``
        from 1 to 1000."""
        count = _limit(limit, 1000)
        if by not in LEADERBOARD_ORDERS:
            raise ValidationError(f"leaderboard by must be 'conversions' or 'revenue', got {by!r}")
        return self.read(lambda c: leaderboard(c, count, by))

    def campaigns(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[CampaignTotals]:
        """Each campaign's funnel and money over ``[since, until)``, in no particular order."""
        start, end = _when(since, "since"), _when(until, "until")
        return self.read(lambda c: campaigns(c, start, end))

    def channels(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[ChannelTotals]:
        """Each share channel's funnel over ``[since, until)``, in no particular order."""
        start, end = _when(since, "since"), _when(until, "until")
        return self.read(lambda c: channels(c, start, end))

    def revenue_by_bucket(
        self, since: datetime | None = None, until: datetime | None = None, by: Bucket = "day"
    ) -> list[BucketTotal]:
        """Referred revenue (net of refunds) by UTC day or ISO week and currency."""
        start, end, bucket = _when(since, "since"), _when(until, "until"), _bucket(by)
        return self.read(lambda c: revenue_by_bucket(c, start, end, bucket))

    def reward_cost_by_bucket(
        self, since: datetime | None = None, until: datetime | None = None, by: Bucket = "day"
    ) -> list[BucketTotal]:
        """Monetary rewards created (pending or approved) by UTC day or ISO week and currency."""
        start, end, bucket = _when(since, "since"), _when(until, "until"), _bucket(by)
        return self.read(lambda c: reward_cost_by_bucket(c, start, end, bucket))

    def first_activity(self) -> datetime | None:
        """When the first referred order was recorded, or ``None``."""
        return self.read(first_activity)

    def currencies(self) -> list[str]:
        """The currencies of referred orders, then of rewards, the most used first."""
        return self.read(currencies)

    def due_rewards(self, now: datetime | None = None, limit: int = 50) -> DueRewards:
        """What :meth:`~refkit.ReferralProgram.approve_due` would approve at ``now`` (default:
        the program's clock): the count and the ``limit`` (1 to 10000) oldest due."""
        when = to_aware(self._clock() if now is None else now, "now")
        count = _limit(limit, 10_000)
        return self.read(lambda c: due_rewards(c, when, count))

    def due_count(self, now: datetime | None = None) -> int:
        """How many rewards :meth:`~refkit.ReferralProgram.approve_due` would approve at
        ``now`` (default: the program's clock)."""
        when = to_aware(self._clock() if now is None else now, "now")
        return self.read(lambda c: due_count(c, when))

    def referrals_of(self, referrer_id: str | int, limit: int = 100) -> list[ReferralRow]:
        """The referrer's newest ``limit`` (1 to 10000) referees, with their orders."""
        user, count = to_id(referrer_id, "referrer_id"), _limit(limit, 10_000)
        return self.read(lambda c: referrals_of(c, user, count))

    def conversions_of(self, referrer_id: str | int, limit: int = 100) -> list[Conversion]:
        """The newest ``limit`` (1 to 10000) orders of the referrer's referees, with their
        rewards."""
        user, count = to_id(referrer_id, "referrer_id"), _limit(limit, 10_000)
        return self.read(lambda c: conversions_of(c, user, count))

    def buyers_of(self, referrer_id: str | int) -> int:
        """How many of the referrer's referees have bought."""
        user = to_id(referrer_id, "referrer_id")
        return self.read(lambda c: buyers_of(c, user))
