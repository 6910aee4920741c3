"""ReferralProgram: the one object a shop talks to.

This module holds the program itself: its options, the code cache, running one step in one
transaction (refkit's or the caller's) and firing the events after it, the hooks and the
stats. Its calls are mixins, one job each: :mod:`refkit.calls` (codes and links,
attribution, conversions and rewards, credit, review and privacy) and :mod:`refkit.discounts`.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final, TypeVar

from sqlalchemy import Connection, Engine

from . import joined
from .calls.attribution import Attribution
from .calls.base import Events
from .calls.conversions import Conversions
from .calls.credit import Credit
from .calls.experiments import Experiments
from .calls.links import Links
from .calls.privacy import Privacy
from .clock import Clock, system_clock
from .codes import CodeCodec
from .discounts import DEFAULT_CLAIM_TTL, Discounts
from .errors import ConfigurationError, ValidationError
from .experiments import Experiment
from .keys import SecretKeys
from .models import LeaderboardEntry, ProgramSummary, ReferrerStats
from .privacy import Pepper
from .reports import Reports
from .rules import Milestone, RewardRules
from .sharing import DEFAULT_SHARE_SUBJECT, DEFAULT_SHARE_TEXT, to_share_text
from .storage import SqlStore, Store, open_store
from .storage.deadline import DEFAULT_TIMEOUT
from .storage.sql import check_timeout
from .validation import to_aware, to_optional_duration

__all__ = [
    "CODE_CACHE_TTL",
    "DEFAULT_FAST_PURCHASE",
    "DEFAULT_SIGNAL_RETENTION",
    "EVENTS",
    "ReferralProgram",
]

log = logging.getLogger("refkit")
T = TypeVar("T")

#: The events :meth:`ReferralProgram.on` accepts, and the record each one passes.
EVENTS: Final = (
    "referral.created",  # Referral
    "conversion.recorded",  # Conversion
    "reward.created",  # EarnedReward
    "reward.approved",  # EarnedReward
    "reward.revoked",  # EarnedReward (a pending reward cancelled: refund, by hand, or taken
    # over by an earlier-dated order under first_purchase_only)
    "reward.reversed",  # EarnedReward (an approved reward taken back by a refund)
    "reward.granted",  # EarnedReward (given by hand: ReferralProgram.grant)
    "milestone.reached",  # EarnedReward (a milestone bonus, approved: Milestone)
)
_CACHE_SIZE = 65536
#: How long a program trusts its in-process cache of codes: a code that another process
#: revoked (:meth:`refkit.ReferralProgram.revoke_code`) or erased stops resolving here
#: within this time (at once in the process that revoked it).
CODE_CACHE_TTL: Final = timedelta(seconds=60)
#: A purchase this soon after the referee's click flags the referral (``fast_purchase``).
DEFAULT_FAST_PURCHASE: Final = timedelta(seconds=60)
#: Fraud signals (hashes) are kept this long, then :meth:`ReferralProgram.purge_signals`
#: deletes them.
DEFAULT_SIGNAL_RETENTION: Final = timedelta(days=30)


class ReferralProgram(Links, Attribution, Conversions, Credit, Privacy, Discounts, Experiments):
    """A referral program: codes, attribution, conversions, rewards and stats.

    :param secret_key: signs codes and tokens: one key of at least 32 characters, or a list
        ``[newest, older...]`` to rotate keys without invalidating codes already shared.
    :param store: where data lives: a URL (default ``sqlite:///refkit.db``; ``memory://`` for
        an in-memory store), an SQLAlchemy :class:`~sqlalchemy.engine.Engine`, or a
        :class:`~refkit.storage.Store` (``other_program.store`` to share one).
    :param rules: the rewards; without rules the program tracks visits, referrals and
        conversions and earns no rewards. An :class:`~refkit.Experiment` runs an A/B test
        of offers: each referral follows its variant's rules (:meth:`variant_for`,
        :meth:`experiment_report`).
    :param clock: where "now" comes from (a callable returning an aware datetime).
    :param query_param: the query parameter :meth:`link_for` puts the code in.
    :param campaign_param: the query parameter :meth:`link_for` puts the campaign in.
    :param channel_param: the query parameter :meth:`link_for` puts the share channel in
        (``ref_channel``: refkit's own name, so the shop's ``utm_*`` tags stay untouched).
    :param share_text: the message :meth:`share_links` puts before the link (1 to 500
        characters; :data:`refkit.sharing.DEFAULT_SHARE_TEXT` by default).
    :param share_subject: the subject of the email :meth:`share_links` prepares
        (:data:`refkit.sharing.DEFAULT_SHARE_SUBJECT` by default).
    :param fast_purchase: a referee's purchase within this time of their click flags the
        referral for review (``None``: never); 60 seconds by default.
    :param timeout: how long one call may take, in seconds, whatever the database does (a
        hung server, a lock held elsewhere, a lost connection): past it the call raises
        :class:`~refkit.StorageTimeout`. 30 seconds by default, far beyond any healthy call,
        so batch jobs never hit it yet nothing waits forever; a web app wants a tight one
        (the Flask extension's ``REFKIT_TIMEOUT`` is 2 seconds). ``None``: no deadline. It
        is the store's deadline (:attr:`SqlStore.timeout <refkit.storage.SqlStore.timeout>`):
        programs sharing one store share it.
    :param signal_retention: how long fraud signals (keyed hashes of IP addresses and user
        agents) are kept before :meth:`purge_signals` deletes them; 30 days by default.
    :param claim_ttl: a claimed friend's discount not converted within this time lapses
        (:meth:`claim_discount`); one hour by default.
    :raises ConfigurationError: a missing or short key, an unknown store URL, bad rules.
    """

    def __init__(
        self,
        secret_key: SecretKeys | None = None,
        store: str | Engine | Store | None = None,
        rules: RewardRules | Experiment | None = None,
        *,
        clock: Clock = system_clock,
        query_param: str = "ref",
        campaign_param: str = "campaign",
        channel_param: str = "ref_channel",
        share_text: str = DEFAULT_SHARE_TEXT,
        share_subject: str = DEFAULT_SHARE_SUBJECT,
        fast_purchase: timedelta | None = DEFAULT_FAST_PURCHASE,
        signal_retention: timedelta = DEFAULT_SIGNAL_RETENTION,
        claim_ttl: timedelta = DEFAULT_CLAIM_TTL,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        if secret_key is None:
            raise ConfigurationError(
                "ReferralProgram needs a secret_key of at least 32 random characters"
            )
        self.secret_key = secret_key
        self._codec = CodeCodec(secret_key)
        if rules is not None and not isinstance(rules, RewardRules | Experiment):
            raise ConfigurationError("rules must be a RewardRules(...), an Experiment(...) or None")
        #: The experiment the program runs (``rules=Experiment(...)``), or ``None``.
        self.experiment = rules if isinstance(rules, Experiment) else None
        #: The rules: those given, or in an experiment the control's (the first variant's),
        #: which also set the program-wide options such as ``credit_expires_after``.
        self.rules = rules.rules_for(None) if isinstance(rules, Experiment) else rules
        self._offers = rules  # each referral's rules come from here (refkit.experiments)
        self.store: Store = open_store(store)
        if isinstance(self.store, SqlStore):
            self.store.timeout = check_timeout(timeout)
        self.clock = clock
        self.query_param = query_param
        self.campaign_param = campaign_param
        if not isinstance(channel_param, str) or not channel_param:
            raise ConfigurationError("channel_param must be a non-empty str")
        self.channel_param = channel_param
        try:
            self.share_text = to_share_text(share_text, "share_text")
            self.share_subject = to_share_text(share_subject, "share_subject")
            self.fast_purchase = to_optional_duration(fast_purchase, "fast_purchase")
            retention = to_optional_duration(signal_retention, "signal_retention")
            ttl = to_optional_duration(claim_ttl, "claim_ttl")
        except ValidationError as error:
            raise ConfigurationError(str(error)) from None
        if retention is None:
            raise ConfigurationError("signal_retention must be a timedelta")
        if ttl is None or ttl <= timedelta(0):
            raise ConfigurationError("claim_ttl must be a positive timedelta")
        self.claim_ttl = ttl
        self.signal_retention = retention
        self._pepper = Pepper(secret_key)
        self._keyring_pepper: Pepper | None = None  # with the keyring's keys, read on first use
        self._hooks: dict[str, list[Callable[[Any], object]]] = defaultdict(list)
        self._numbers: dict[str, int] = {}
        self._users: dict[int, str] = {}
        self._cache_lock = threading.Lock()
        #: When the cached codes were read, and when they expire (by the program's clock).
        self._cache_window: tuple[datetime, datetime] | None = None
        #: The read model: every report on this program's data (:class:`refkit.reports.Reports`).
        self.reports = Reports(self.store, lambda: self._now(), self._milestones)

    def __repr__(self) -> str:
        return f"<ReferralProgram store={self.store!r}>"

    # -- the store, the clock and the code cache (see refkit.calls.links) -----------------

    def create_all(self) -> None:
        """Create (or upgrade) the store's tables now rather than on first use."""
        self.store.create_all()

    def _now(self, at: datetime | None = None, name: str = "at") -> datetime:
        return to_aware(self.clock() if at is None else at, name)

    def _milestones(self) -> Sequence[Milestone]:
        return () if self.rules is None else self.rules.milestones

    def _expire_cache(self) -> None:
        """Forget the cached codes once :data:`CODE_CACHE_TTL` has passed (by the program's
        clock), so revocations and erasures made elsewhere are seen."""
        window = self._cache_window
        if window is not None:
            try:
                if window[0] <= self.clock() <= window[1]:
                    return  # the hot path: one clock call, two comparisons
            except TypeError:
                pass  # not an aware datetime: _now() below says what is wrong
        now = self._now()
        with self._cache_lock:
            self._numbers.clear()
            self._users.clear()
            self._cache_window = (now, now + CODE_CACHE_TTL)

    def _remember(self, user_id: str, number: int) -> None:
        with self._cache_lock:
            if len(self._numbers) >= _CACHE_SIZE:
                self._numbers.clear()
                self._users.clear()
            self._numbers[user_id] = number
            self._users[number] = user_id

    # -- stats (the read model, :attr:`reports`, has every report) -------------------------

    def stats_for(self, user_id: str | int) -> ReferrerStats:
        """One user's numbers as a referrer (and the rewards they earned as a referee)."""
        return self.reports.stats_for(user_id)

    def summary(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        campaign: str | None = None,
        channel: str | None = None,
        variant: str | None = None,
    ) -> ProgramSummary:
        """The program's funnel over ``[since, until)`` (all time by default).

        * ``referrers``: users holding a code issued before ``until`` (everyone who could share).
        * ``visits``, ``signups`` (referrals made), ``conversions`` (purchases by referred
          customers) and ``revenue`` (their amounts, net of refunds) in the period.
        * ``first_purchases``: distinct referred customers who bought in the period (whenever
          they signed up); ``rewarded``: distinct referees with a reward created in the period.
        * ``signups_bought``: of the period's signups, the referees who made a referred
          purchase before ``until`` (whenever in that time); ``signups_rewarded``: of those,
          the ones whose reward still counts (not revoked or reversed). A cohort: each is a
          subset of the one before.
        * ``conversion_rate = signups_bought / signups``: the share of the period's referred
          signups who bought, a cohort rate between 0 and 1 (0.0 without signups).
        * ``reward_cost``: monetary rewards created in the period and not revoked or reversed.
        * ``revenue`` and ``reward_cost`` add every currency together (the totals of a
          one-currency shop); ``revenue_by_currency`` and ``reward_cost_by_currency`` split
          them by currency.
        * ``k_factor = signups / referrers``: new customers each potential referrer brings,
          the viral coefficient (invitations per user times their conversion to signups).
        * ``share_rate = referrers whose link brought at least one visit in the period /
          referrers``: how many potential referrers actually share (0.0 without referrers).
        * ``cost_per_acquisition = reward_cost / first_purchases``: what each referred
          customer who bought cost in rewards and friends' discounts, rounded to the cent
          (``None`` without first purchases: nothing was acquired, and no cost per one).

        With ``campaign``, visits, signups, conversions and rewards count only that campaign;
        with ``channel`` (``"email"``, ``"qr"``...: see :meth:`share_links`), only that
        share channel (a conversion counts for its referral's channel), and ``share_rate``
        counts the referrers whose links brought a visit through it. With ``variant`` (an A/B
        test's, :class:`~refkit.Experiment`), visits count those of visitors shown it, and
        signups, conversions and rewards those of the referees bound with it.
        """
        return self.reports.summary(since, until, campaign, channel, variant)

    def leaderboard(self, limit: int = 10, by: str = "conversions") -> list[LeaderboardEntry]:
        """Top referrers by ``"conversions"`` or ``"revenue"`` (net of refunds)."""
        return self.reports.leaderboard(limit, by)

    # -- one step, in refkit's transaction or in the caller's -----------------------------

    def _write(
        self,
        work: Callable[[Connection], T],
        connection: joined.Joinable | None,
        events: Callable[[T], Events] = lambda _result: [],
    ) -> T:
        """Run one writing step in its own transaction, or in the caller's (``connection=``,
        :mod:`refkit.joined`), and fire ``events(result)`` after the commit."""
        if connection is None:
            result = self.store.transaction(work)
            self._fire(events(result))
            return result
        result = joined.run(self.store, connection, work)
        fired = events(result)
        if fired:
            joined.after_commit(connection, partial(self._fire, fired))
        return result

    def _read(self, work: Callable[[Connection], T], connection: joined.Joinable | None) -> T:
        """A read, in the caller's transaction when given (it sees what they wrote)."""
        if connection is None:
            return self.store.read(work)
        return joined.run(self.store, connection, work)

    def _fire(self, events: Events) -> None:
        for event, record in events:
            self._emit(event, record)

    # -- hooks -----------------------------------------------------------------------------

    def on(self, event: str, callback: Callable[[Any], object]) -> Callable[[Any], object]:
        """Call ``callback(record)`` after ``event`` is stored (see :data:`EVENTS`).

        A callback that raises is logged; the stored change stays. Returns ``callback``, so
        ``on`` works as a decorator factory too: ``program.on("reward.created", notify)``.
        """
        if event not in EVENTS:
            raise ConfigurationError(f"unknown event {event!r}; events are {', '.join(EVENTS)}")
        if not callable(callback):
            raise ConfigurationError("callback must be callable")
        self._hooks[event].append(callback)
        return callback

    def _emit(self, event: str, record: object) -> None:
        for callback in self._hooks.get(event, ()):
            try:
                callback(record)
            except Exception:
                log.exception("refkit: a %r hook failed; the stored change is kept", event)
