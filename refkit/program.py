"""ReferralProgram: the one object a shop talks to."""

from __future__ import annotations

import logging
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Final, TypeVar
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from sqlalchemy import Connection, Engine

from . import joined, keyring
from .clock import Clock, system_clock
from .codes import MAX_NUMBER, CodeCodec
from .discounts import DEFAULT_CLAIM_TTL, Discounts
from .errors import (
    AlreadyReferred,
    ConfigurationError,
    ExistingCustomer,
    InvalidCode,
    SelfReferral,
    ValidationError,
)
from .keys import SecretKeys
from .models import (
    SOURCES,
    Balance,
    Conversion,
    EarnedReward,
    Fingerprint,
    FlaggedReferral,
    LeaderboardEntry,
    LedgerEntry,
    ProgramSummary,
    Referral,
    ReferrerStats,
    Source,
    Visit,
)
from .money import from_minor, to_amount, to_currency, to_minor
from .privacy import PSEUDONYM_PREFIX, Pepper, is_disposable, normalize_email, normalize_ip
from .reports import Reports
from .rules import RewardRules
from .steps import (
    claims,
    conversions,
    credit,
    erasure,
    ledger,
    referrals,
    referrers,
    review,
    rewards,
    visits,
)
from .storage import SqlStore, Store, open_store
from .storage.deadline import DEFAULT_TIMEOUT
from .storage.sql import check_timeout
from .validation import to_aware, to_campaign, to_id, to_optional_duration

__all__ = [
    "CODE_CACHE_TTL",
    "DEFAULT_FAST_PURCHASE",
    "DEFAULT_SIGNAL_RETENTION",
    "EVENTS",
    "ReferralProgram",
]

log = logging.getLogger("refkit")
T = TypeVar("T")
#: Events a step's result fires: (event, record) pairs.
_Events = list[tuple[str, object]]

#: The events :meth:`ReferralProgram.on` accepts, and the record each one passes.
EVENTS: Final = (
    "referral.created",  # Referral
    "conversion.recorded",  # Conversion
    "reward.created",  # EarnedReward
    "reward.approved",  # EarnedReward
    "reward.revoked",  # EarnedReward (a pending reward cancelled: refund or by hand)
    "reward.reversed",  # EarnedReward (an approved reward taken back by a refund)
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


class ReferralProgram(Discounts):
    """A referral program: codes, attribution, conversions, rewards and stats.

    :param secret_key: signs codes and tokens: one key of at least 32 characters, or a list
        ``[newest, older...]`` to rotate keys without invalidating codes already shared.
    :param store: where data lives: a URL (default ``sqlite:///refkit.db``; ``memory://`` for
        an in-memory store), an SQLAlchemy :class:`~sqlalchemy.engine.Engine`, or a
        :class:`~refkit.storage.Store` (``other_program.store`` to share one).
    :param rules: the rewards; without rules the program tracks visits, referrals and
        conversions and earns no rewards.
    :param clock: where "now" comes from (a callable returning an aware datetime).
    :param query_param: the query parameter :meth:`link_for` puts the code in.
    :param campaign_param: the query parameter :meth:`link_for` puts the campaign in.
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
        rules: RewardRules | None = None,
        *,
        clock: Clock = system_clock,
        query_param: str = "ref",
        campaign_param: str = "campaign",
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
        if rules is not None and not isinstance(rules, RewardRules):
            raise ConfigurationError("rules must be a RewardRules(...) or None")
        self.rules = rules
        self.store: Store = open_store(store)
        if isinstance(self.store, SqlStore):
            self.store.timeout = check_timeout(timeout)
        self.clock = clock
        self.query_param = query_param
        self.campaign_param = campaign_param
        try:
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
        self._cache_since: datetime | None = None
        #: The read model: every report on this program's data (:class:`refkit.reports.Reports`).
        self.reports = Reports(self.store, lambda: self._now())

    def __repr__(self) -> str:
        return f"<ReferralProgram store={self.store!r}>"

    # -- codes -----------------------------------------------------------------------------

    def create_all(self) -> None:
        """Create (or upgrade) the store's tables now rather than on first use."""
        self.store.create_all()

    def _now(self, at: datetime | None = None, name: str = "at") -> datetime:
        return to_aware(self.clock() if at is None else at, name)

    def _expire_cache(self) -> None:
        """Forget the cached codes once :data:`CODE_CACHE_TTL` has passed (by the program's
        clock), so revocations and erasures made elsewhere are seen."""
        now = self._now()
        since = self._cache_since
        if since is None or not timedelta(0) <= now - since <= CODE_CACHE_TTL:
            with self._cache_lock:
                self._numbers.clear()
                self._users.clear()
                self._cache_since = now

    def _remember(self, user_id: str, number: int) -> None:
        with self._cache_lock:
            if len(self._numbers) >= _CACHE_SIZE:
                self._numbers.clear()
                self._users.clear()
            self._numbers[user_id] = number
            self._users[number] = user_id

    def code_for(self, user_id: str | int) -> str:
        """The user's referral code: 12 characters, the same every time for the same key.

        The first call assigns the user a random referrer number in the store; any user can
        be a referrer, referees included.
        """
        uid = to_id(user_id)
        self._expire_cache()
        number = self._numbers.get(uid)
        if number is None:
            number = self.store.read(lambda c: referrers.number_of(c, uid))
            if number is None:
                at = self._now()
                pseudonyms = self._pseudonyms(uid)
                number = self.store.transaction(
                    lambda c: referrers.assign_number(c, uid, _candidate, at, pseudonyms)
                )
            self._remember(uid, number)
        return self._codec.encode(number)

    def link_for(self, user_id: str | int, url: str, campaign: str | None = None) -> str:
        """``url`` with the user's code (and ``campaign``) added to its query string.

        Existing query parameters are kept as they were written (order, encoding, blank
        values); a previous code or campaign parameter is replaced.
        """
        code = self.code_for(user_id)
        campaign = to_campaign(campaign)
        if not isinstance(url, str):
            raise ValidationError("url must be a str")
        try:
            parts = urlsplit(url)
        except ValueError as error:  # e.g. "http://[::1/p": an unbalanced IPv6 bracket
            raise ValidationError(f"url is not a valid URL: {error}") from None
        names = {self.query_param, self.campaign_param}
        kept = [
            piece
            for piece in parts.query.split("&")
            if piece and unquote_plus(piece.split("=", 1)[0]) not in names
        ]
        added = [(self.query_param, code)]
        if campaign is not None:
            added.append((self.campaign_param, campaign))
        query = "&".join([*kept, urlencode(added)])
        return urlunsplit(parts._replace(query=query))

    def revoke_code(self, user_id: str | int, *, at: datetime | None = None) -> str:
        """Withdraw the user's code (leaked to a coupon site, say) and return their new one.

        The old code stops resolving at once in this process (``InvalidCode`` with
        ``reason == "revoked"``) and within :data:`refkit.program.CODE_CACHE_TTL` in other
        processes;
        its number is never given to anyone again. Referrals already made with it, and
        their rewards, stay. Links shared before carry the old code: share new ones.
        """
        uid = to_id(user_id)
        if uid.startswith(PSEUDONYM_PREFIX):
            raise ValidationError(f"user {uid!r} was erased and has no code to revoke")
        when = self._now(at)
        number = self.store.transaction(lambda c: referrers.renumber(c, uid, _candidate, when))
        with self._cache_lock:
            old = self._numbers.pop(uid, None)
            if old is not None:
                self._users.pop(old, None)
        self._remember(uid, number)
        return self._codec.encode(number)

    def verify(self, code: object) -> str:
        """Check ``code`` offline and return its canonical form (no database access).

        Offline means it checks the signature only: it cannot know that a code was revoked
        (:meth:`revoke_code`) or its user erased. Use :meth:`resolve` before granting
        anything.

        :raises InvalidCode: with a ``reason`` for anything this program did not issue.
        """
        return self._codec.parse(code).code

    def _unknown(self, code: object, number: int) -> InvalidCode:
        """The error for a well-signed code nobody holds: revoked, or never assigned."""
        if self.store.read(lambda c: referrers.is_revoked(c, number)):
            return InvalidCode(
                code,
                "revoked",
                "this referral code was withdrawn by the shop; ask the referrer for their new link",
            )
        return InvalidCode(code, "unknown_referrer")

    def resolve(self, code: object) -> str:
        """The user id of the referrer whose code this is.

        Case, surrounding spaces and separators do not matter.

        :raises InvalidCode: anything that is not a code this program issued.
        """
        parsed = self._codec.parse(code)
        self._expire_cache()
        user_id = self._users.get(parsed.number)
        if user_id is None:
            user_id = self.store.read(lambda c: referrers.user_for_number(c, parsed.number))
            if user_id is None:
                raise self._unknown(code, parsed.number)
            if user_id.startswith(PSEUDONYM_PREFIX):
                raise InvalidCode(code, "unknown_referrer")
            self._remember(user_id, parsed.number)
        return user_id

    # -- visits and referrals --------------------------------------------------------------

    def record_visit(
        self,
        code: object,
        *,
        campaign: str | None = None,
        visitor: str | None = None,
        at: datetime | None = None,
        connection: joined.Joinable | None = None,
    ) -> Visit:
        """Count a click or landing for the code's referrer.

        :param visitor: an opaque, non-personal visitor key (for example a hash of a cookie).
        :param connection: write in the caller's transaction (see :meth:`record_conversion`).
        :raises InvalidCode: the code is not one of this program's.
        """
        campaign = to_campaign(campaign)
        if visitor is not None:
            visitor = to_id(visitor, "visitor")[:128]
        when = self._now(at)
        parsed = self._codec.parse(code)
        self._expire_cache()
        user_id = self._users.get(parsed.number)
        if user_id is not None:
            known = user_id
            return self._write(
                lambda c: visits.record(c, known, campaign, visitor, when), connection
            )
        # Not cached: find the referrer and count the visit in one statement.
        visit = self._write(
            lambda c: visits.record_by_number(
                c, parsed.number, campaign, visitor, when, PSEUDONYM_PREFIX
            ),
            connection,
        )
        if visit is None:
            raise self._unknown(code, parsed.number)
        self._remember(visit.referrer_id, parsed.number)
        return visit

    def attribute(
        self,
        referee_id: str | int,
        code: object,
        *,
        source: Source = "link",
        at: datetime | None = None,
        campaign: str | None = None,
        email: str | None = None,
        click: Fingerprint | None = None,
        signup: Fingerprint | None = None,
        connection: joined.Joinable | None = None,
    ) -> Referral:
        """Bind a new customer to the code's referrer, for good.

        Calling it again for the same referee returns the existing referral if it names the
        same referrer. A user with a recorded conversion and no referrer is an existing
        customer, and stays unreferred.

        :param email: the referee's email: a shortcut for :meth:`identify` first.
        :param click: the :meth:`fingerprint` of the request that brought the referee (the
            click on the link); with ``signup``, the fraud signals checked and kept (as
            keyed hashes) for review.
        :param signup: the :meth:`fingerprint` of the signup request.
        :param connection: write in the caller's transaction (see :meth:`record_conversion`).
        :raises AlreadyReferred: the referee is bound to someone else.
        :raises SelfReferral: the code is the referee's own, the referee and the referrer
            registered the same normalized email (:meth:`identify`), or the binding would
            close a cycle (the referrer was referred, directly or further up, by the referee).
        :raises ExistingCustomer: the referee has bought before (a conversion is recorded
            for them) without a referrer.
        :raises InvalidCode: the code is not one of this program's.
        """
        if email is not None:
            self.identify(referee_id, email=email, at=at, connection=connection)
        referee = to_id(referee_id, "referee_id")
        if source not in SOURCES:
            raise ValidationError(f"source must be one of {SOURCES}, got {source!r}")
        campaign = to_campaign(campaign)
        when = self._now(at)
        referrer = self.resolve(code)
        if referrer == referee:
            raise SelfReferral(
                referee,
                referrer,
                f"user {referee!r} cannot be referred with their own code: a referral code is "
                "for bringing someone else, so check the code belongs to another user",
            )
        pseudonyms = self._pseudonyms(referee)
        result = self._write(
            lambda c: referrals.attribute(
                c, referee, referrer, source, campaign, when, click, signup, pseudonyms
            ),
            connection,
            lambda r: [("referral.created", r.referral)] if r.created else [],
        )
        if result.refused == "same_email":
            raise SelfReferral(
                referee,
                referrer,
                f"user {referee!r} cannot be referred by {referrer!r}: both registered the "
                "same email address (compared without case, +tags and Gmail dots), so they "
                "look like one person; if they are not, check the emails passed to identify()",
            )
        if result.refused == "existing_customer":
            raise ExistingCustomer(referee, referrer)
        if result.refused == "already_referred":
            assert result.referral is not None
            raise AlreadyReferred(referee, result.referral.referrer_id, referrer)
        if result.refused in ("self_referral", "cycle"):
            raise SelfReferral(
                referee,
                referrer,
                f"user {referee!r} cannot be referred by {referrer!r}: {referrer!r} was "
                f"referred through {referee!r}, and referrals cannot form a cycle; "
                f"{referee!r} keeps no referrer, or can use the code of someone outside "
                "their own referral chain",
            )
        assert result.referral is not None
        return result.referral

    def referral_for(self, referee_id: str | int) -> Referral | None:
        """The referee's referral, or ``None`` if they came on their own."""
        referee = to_id(referee_id, "referee_id")
        pseudonyms = self._pseudonyms(referee)
        return self.store.read(lambda c: referrals.referral_for(c, referee, pseudonyms))

    # -- conversions -----------------------------------------------------------------------

    def record_conversion(
        self,
        order_id: str | int,
        customer_id: str | int,
        amount: Decimal | int | float | str,
        currency: str,
        *,
        code: object = None,
        at: datetime | None = None,
        email: str | None = None,
        connection: joined.Joinable | None = None,
    ) -> Conversion:
        """Record a purchase and create the rewards it earns.

        Idempotent by ``order_id``: the same call again returns the stored conversion (with
        the rewards it created) and creates nothing.

        :param code: a code typed at (guest) checkout: binds the customer first if they are
            not bound yet. A code that would be a self-referral, or that names another
            referrer than the customer's, is ignored and explained in ``reasons``; so is one
            whose referrer registered the customer's email (:meth:`identify`), and one given
            by an existing customer (an earlier order, no referrer: ``"existing_customer"``).
        :param email: the customer's email: a shortcut for :meth:`identify` first. A
            customer sharing their referrer's normalized email earns nobody a reward
            (reason ``"self_referral"``).
        :param connection: an SQLAlchemy ``Connection`` or ``Session`` (Flask-SQLAlchemy's
            ``db.session``) on the store's database, whose transaction the caller owns:
            refkit writes inside it, in a savepoint, and commits nothing, so the shop's order
            and its conversion commit together or not at all; the events fire after the
            caller's commit, never after a rollback (see :mod:`refkit.joined`).
        :raises ConflictError: the order id was recorded with another customer, amount or
            currency.
        :raises ValidationError: a bad id, amount, currency or time; nothing is stored.
        :raises InvalidCode: ``code`` is given and is not one of this program's.
        """
        order = to_id(order_id, "order_id")
        customer = to_id(customer_id, "customer_id")
        if email is not None:
            self.identify(customer, email=email, at=at, connection=connection)
        money = to_currency(currency)
        value = to_amount(amount, currency=money)
        minor = to_minor(value, money)
        when = self._now(at)
        code_referrer = None if code is None else self.resolve(code)
        new = conversions.NewConversion(
            order,
            customer,
            value,
            minor,
            money,
            when,
            code_referrer,
            fast_purchase=self.fast_purchase,
            pseudonyms=self._pseudonyms(customer),
        )
        rules = self.rules
        result = self._write(
            lambda c: conversions.record(c, new, rules), connection, _conversion_events
        )
        return result.conversion

    def conversion(self, order_id: str | int) -> Conversion | None:
        """The stored conversion of ``order_id``, or ``None``."""
        order = to_id(order_id, "order_id")
        return self.store.read(lambda c: conversions.conversion_of(c, order))

    def refund(
        self,
        order_id: str | int,
        amount: Decimal | int | float | str | None = None,
        *,
        at: datetime | None = None,
        connection: joined.Joinable | None = None,
    ) -> list[EarnedReward]:
        """Record a full refund (or a partial one of ``amount``).

        A full refund revokes the order's pending rewards and reverses its approved ones; a
        partial one lowers percent rewards in proportion. History is appended, never deleted.
        A friend's discount the order used is reversed by a full refund (it no longer counts
        in the reward cost) and kept by a partial one; either way it stays used: the referee
        gets no second discount.

        :returns: the rewards that changed.
        :raises ValidationError: an unknown order, or more than is left to refund.
        """
        order = to_id(order_id, "order_id")
        when = self._now(at)
        minor = None
        if amount is not None:
            stored = self._read(lambda c: conversions.conversion_of(c, order), connection)
            if stored is None:
                raise ValidationError(f"no conversion was recorded with order_id {order!r}")
            minor = to_minor(to_amount(amount, currency=stored.currency), stored.currency)

        def work(c: Connection) -> list[EarnedReward]:
            changed = rewards.refund(c, order, minor, when)
            claims.on_refund(c, order)  # a full refund reverses a used discount
            return changed

        return self._write(
            work,
            connection,
            lambda changed: [
                (f"reward.{r.status}", r) for r in changed if r.status in ("revoked", "reversed")
            ],
        )

    def approve_due(
        self, now: datetime | None = None, *, limit: int = 10_000
    ) -> list[EarnedReward]:
        """Approve pending rewards whose hold period has passed (run it from a daily job)."""
        when = self._now(now, "now")
        approved = self.store.transaction(lambda c: rewards.approve_due(c, when, limit))
        for reward in approved:
            self._emit("reward.approved", reward)
        return approved

    def approve(
        self,
        reward_id: int,
        *,
        at: datetime | None = None,
        connection: joined.Joinable | None = None,
    ) -> EarnedReward | None:
        """Approve one pending reward now, hold period or not; ``None`` if not pending."""
        return self._set_status(reward_id, "approved", at, connection)

    def revoke(self, reward_id: int, *, at: datetime | None = None) -> EarnedReward | None:
        """Revoke one pending reward (fraud, a cancelled order); ``None`` if not pending."""
        return self._set_status(reward_id, "revoked", at)

    def _set_status(
        self,
        reward_id: int,
        status: str,
        at: datetime | None,
        connection: joined.Joinable | None = None,
    ) -> EarnedReward | None:
        if isinstance(reward_id, bool) or not isinstance(reward_id, int):
            raise ValidationError("reward_id must be an int")
        when = self._now(at)
        return self._write(
            lambda c: rewards.set_status(c, reward_id, status, when),
            connection,
            lambda reward: [] if reward is None else [(f"reward.{status}", reward)],
        )

    def rewards(
        self, *, user_id: str | int | None = None, status: str | None = None, limit: int = 100
    ) -> list[EarnedReward]:
        """Rewards, newest first, optionally for one beneficiary or in one status."""
        beneficiary = None if user_id is None else to_id(user_id)
        return self.store.read(lambda c: rewards.listing(c, beneficiary, status, limit))

    def ledger(
        self, user_id: str | int | None = None, *, until: datetime | None = None
    ) -> Sequence[LedgerEntry]:
        """The append-only reward history (a statement up to ``until`` when given)."""
        beneficiary = None if user_id is None else to_id(user_id)
        limit = None if until is None else to_aware(until, "until")
        return self.store.read(lambda c: ledger.entries(c, beneficiary, limit))

    def iter_ledger(self, batch: int = 1000) -> Iterator[LedgerEntry]:
        """Every ledger entry in order, read in batches of ``batch`` (for exports of any
        size: each batch is one short read transaction)."""
        last = 0
        while True:
            page = self.store.read(partial(ledger.page, after=last, size=batch))
            if not page:
                return
            yield from page
            last = page[-1].id

    # -- spending credit (see refkit.steps.credit) ------------------------------------------

    def balance(self, user_id: str | int, currency: str | None) -> Decimal | int:
        """What ``user_id`` can spend or be paid now in ``currency`` (``None``: points, an
        ``int``): approved rewards minus what was redeemed, paid out or expired. Never below
        zero: a reversal after the credit was spent leaves a debt that later credit pays
        first (``stats_for(user).debt_by_currency``)."""
        uid, money = to_id(user_id), _credit_currency(currency)
        units, _ = self.store.read(lambda c: credit.balance_of(c, uid, money))
        return units if money is None else from_minor(units, money)

    def redeem(
        self,
        user_id: str | int,
        amount: Decimal | int | float | str,
        currency: str | None,
        *,
        reference: str | int,
        at: datetime | None = None,
        connection: joined.Joinable | None = None,
    ) -> LedgerEntry:
        """Spend ``amount`` of the user's credit (or points, ``currency=None``), for example
        at checkout. Idempotent by ``reference``: the same call again returns the same entry.
        With ``connection=``, it is written in the caller's transaction (:mod:`refkit.joined`).

        :raises InsufficientBalance: more than the balance; nothing is stored.
        :raises ConflictError: ``reference`` was used for another user, amount or kind.
        :raises ValidationError: a bad id, amount (zero included), currency or time.
        """
        return self._spend("redeemed", user_id, amount, currency, reference, at, connection)

    def pay_out(
        self,
        user_id: str | int,
        amount: Decimal | int | float | str,
        currency: str | None,
        *,
        reference: str | int,
        at: datetime | None = None,
        connection: joined.Joinable | None = None,
    ) -> LedgerEntry:
        """Record a cash payout of ``amount`` of the user's approved balance; as
        :meth:`redeem`, with the ledger kind ``"paid_out"``."""
        return self._spend("paid_out", user_id, amount, currency, reference, at, connection)

    def _spend(
        self,
        kind: str,
        user_id: object,
        amount: object,
        currency: object,
        ref: object,
        at: datetime | None,
        connection: joined.Joinable | None,
    ) -> LedgerEntry:
        uid, money = to_id(user_id), _credit_currency(currency)
        if money is None:
            if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                raise ValidationError(f"points to spend must be a positive int, got {amount!r}")
            units = amount
        else:
            units = to_minor(to_amount(amount, currency=money), money)
            if units == 0:
                raise ValidationError("the amount to spend must be more than zero")
        new = credit.Spend(kind, uid, units, money, to_id(ref, "reference"), self._now(at))
        entry, _ = self._write(lambda c: credit.spend(c, new), connection)
        return entry

    def expire_credit(self, now: datetime | None = None) -> list[LedgerEntry]:
        """Expire approved credit older than the rules' ``credit_expires_after`` that was not
        spent (the oldest credit is spent first); run it daily. Running it again expires
        nothing more; without ``credit_expires_after`` nothing ever expires.

        :returns: the new ``"expired"`` ledger entries.
        """
        when = self._now(now, "now")
        after = None if self.rules is None else self.rules.credit_expires_after
        if after is None:
            return []
        return self.store.transaction(lambda c: credit.expire(c, when - after, when))

    def balances(
        self, *, minimum: Decimal | int | str | None = None, currency: str | None = None
    ) -> list[Balance]:
        """Positive money balances, by currency then user: a payout list (``refkit balances``).

        :param minimum: only balances of at least this amount (in each balance's currency).
        :param currency: only this currency.
        """
        money = None if currency is None else to_currency(currency)
        least = None if minimum is None else to_amount(minimum, "minimum")
        floor = None if least is None or money is None else to_minor(least, money, "minimum")
        rows = self.store.read(lambda c: credit.payable(c, money, floor))
        found = (Balance(user, code, from_minor(units, code)) for user, code, units in rows)
        return [line for line in found if least is None or line.amount >= least]

    # -- abuse and privacy -----------------------------------------------------------------

    def identify(
        self,
        user_id: str | int,
        *,
        email: str,
        at: datetime | None = None,
        connection: joined.Joinable | None = None,
    ) -> None:
        """Register the user's email, as a keyed hash of its normalized form only.

        Referrals between users who registered the same normalized email (case, ``+tags``,
        and for Gmail dots and ``googlemail.com``, ignored) are refused as self-referrals.
        An address at a disposable email domain flags the user's referral for review.
        Calling it again replaces the stored hash.

        :raises ValidationError: not an email address.
        """
        uid = to_id(user_id)
        normalized = normalize_email(email)
        email_hash = self._pepper.hash("email", normalized)
        disposable = is_disposable(normalized)
        when = self._now(at)
        pseudonyms = self._pseudonyms(uid)
        self._write(
            lambda c: review.identify(c, uid, pseudonyms, email_hash, disposable, when),
            connection,
        )

    def fingerprint(
        self,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        at: datetime | None = None,
    ) -> Fingerprint:
        """A request's fraud signals as keyed hashes (the raw values are not kept).

        IPv6 addresses are reduced to their /64 network first. Pass the result as
        ``click=`` or ``signup=`` to :meth:`attribute`.
        """
        ip_hash = None if not ip else self._pepper.hash("ip", normalize_ip(str(ip)[:256]))
        ua_hash = None if not user_agent else self._pepper.hash("ua", str(user_agent)[:1024])
        return Fingerprint(ip_hash, ua_hash, None if at is None else to_aware(at))

    def flagged_referrals(self, limit: int = 100) -> list[FlaggedReferral]:
        """Referrals waiting for review, the most recently flagged first.

        Their rewards stay pending: :meth:`approve_due` skips them until :meth:`clear_flags`
        (the referral is fine) or a :meth:`revoke` (it is not); :meth:`approve` still
        approves one by hand.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise ValidationError("limit must be an int from 1 to 10000")
        return self.store.read(lambda c: review.flagged_referrals(c, limit))

    def clear_flags(self, referee_id: str | int, *, at: datetime | None = None) -> int:
        """Mark a flagged referral as reviewed and fine: :meth:`approve_due` approves its
        rewards again. Returns how many flags were cleared; a reason once cleared is not
        raised again for that referral."""
        referee = to_id(referee_id, "referee_id")
        pseudonyms = self._pseudonyms(referee)
        when = self._now(at)
        return self.store.transaction(lambda c: review.clear_flags(c, referee, pseudonyms, when))

    def purge_signals(
        self, older_than: timedelta | None = None, *, now: datetime | None = None
    ) -> int:
        """Delete fraud signals stored more than ``older_than`` ago (default: the program's
        ``signal_retention``, 30 days). Run it daily, beside :meth:`approve_due`. Returns
        the number of referrals whose signals were deleted."""
        window = to_optional_duration(older_than, "older_than") or self.signal_retention
        before = self._now(now, "now") - window
        return self.store.transaction(lambda c: review.purge_signals(c, before))

    def erase(self, user_id: str | int, *, at: datetime | None = None) -> str:
        """Erase a user: their id is replaced in every refkit table by a stable keyed
        pseudonym, which is returned; their email hash, fraud signals and the visitor keys
        of their visits are deleted; their code stops resolving.

        Amounts, statuses and the ledger stay as they were, so totals and statements do not
        change. The same user id given again later maps to the same pseudonym: a referee
        who was erased and comes back stays bound to their referrer and cannot earn a second
        reward. (This is pseudonymization: whoever holds the secret key and the user id can
        still compute the pseudonym.) A returning referrer gets a new code, keeps the
        capped-reward count of their pseudonym, and can be erased again.

        :raises ValidationError: ``user_id`` starts with ``refkit-erased:`` (the pseudonyms'
            prefix) and is not a pseudonym this program returned.
        """
        uid = to_id(user_id)
        if uid.startswith(PSEUDONYM_PREFIX):
            if not self.store.read(lambda c: erasure.was_erased(c, uid)):
                raise ValidationError(
                    f"user_id {uid!r} starts with {PSEUDONYM_PREFIX!r}, which refkit keeps for "
                    "the pseudonyms erase() returns, and is not one of them: nothing was "
                    "erased; user ids must not start with this prefix"
                )
            return uid  # erased already
        pseudonyms = self._pseudonyms(uid)
        when = self._now(at)
        pseudonym = self.store.transaction(
            lambda c: erasure.erase(c, uid, pseudonyms, _candidate, when)
        )
        with self._cache_lock:
            number = self._numbers.pop(uid, None)
            if number is not None:
                self._users.pop(number, None)
        return pseudonym

    def _pseudonyms(self, user_id: str) -> tuple[str, ...]:
        """The user's candidate pseudonyms, the newest key's first, the retired keys' (from
        the keyring, read once) last."""
        pepper = self._keyring_pepper
        if pepper is None:
            pepper = self._keyring_pepper = self._pepper.with_retired(self._retired_keys())
        return pepper.pseudonyms(user_id)

    def _retired_keys(self) -> tuple[bytes, ...]:
        """The retired pepper keys this program's keys can unwrap; the others are logged
        (their users erased before the rotation are no longer recognised)."""
        found = []
        for key_id, wrapped in self.store.read(erasure.stored_keyring):
            pepper = keyring.unwrap(wrapped, self.secret_key)
            if pepper is None:
                log.warning(
                    "refkit: retired key %s is wrapped under a key this program does not "
                    "hold; put back the key that ran the last rotate_keys()",
                    key_id,
                )
            else:
                found.append(pepper)
        return tuple(found)

    def rotate_keys(self, *, at: datetime | None = None) -> int:
        """Keep erasure working across a key rotation: run it once the new key is in front
        of the list and before the old key leaves it (``refkit rotate-keys``).

        A pseudonym is a keyed hash of the user id, which refkit no longer has, so it
        cannot be computed again under the new key; instead the pepper of every older key
        in the list (and of those stored by earlier rotations) is stored in the keyring
        wrapped under the newest key (:mod:`refkit.keyring`). A program holding only the
        newest key still finds the users erased under the old ones. Email hashes and fraud
        signals are not carried over (see "Keys and rotation" in the security guide).
        Returns the number of retired keys now in the keyring.

        :raises ConfigurationError: a stored key is wrapped under a key no longer in the
            list (an old key was dropped before this ran): put it back and run it again.
        """
        when = self._now(at)
        retired: dict[str, bytes] = {}
        for key_id, wrapped in self.store.read(erasure.stored_keyring):
            pepper = keyring.unwrap(wrapped, self.secret_key)
            if pepper is None:
                raise ConfigurationError(
                    f"the keyring's key {key_id} is wrapped under a secret key that is not in "
                    "this program's list: add the key that was newest at the last "
                    "rotate_keys() back to the list (after the new one) and run it again"
                )
            retired[key_id] = pepper
        for pepper in self._pepper.keys[1:]:
            retired[keyring.key_id(pepper)] = pepper
        retired.pop(keyring.key_id(self._pepper.keys[0]), None)
        sealed = [(key_id, keyring.wrap(p, self.secret_key)) for key_id, p in retired.items()]
        self.store.transaction(lambda c: erasure.replace_keyring(c, sealed, when))
        self._keyring_pepper = self._pepper.with_retired(tuple(retired.values()))
        return len(sealed)

    # -- stats (the read model, :attr:`reports`, has every report) -------------------------

    def stats_for(self, user_id: str | int) -> ReferrerStats:
        """One user's numbers as a referrer (and the rewards they earned as a referee)."""
        return self.reports.stats_for(user_id)

    def summary(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        campaign: str | None = None,
    ) -> ProgramSummary:
        """The program's funnel over ``[since, until)`` (all time by default).

        * ``referrers``: users holding a code issued before ``until`` (everyone who could share).
        * ``visits``, ``signups`` (referrals made), ``conversions`` (purchases by referred
          customers) and ``revenue`` (their amounts, net of refunds) in the period.
        * ``first_purchases``: distinct referred customers who bought in the period.
        * ``conversion_rate = first_purchases / signups``: the share of referred signups
          who buy (0.0 without signups).
        * ``reward_cost``: monetary rewards created in the period and not revoked or reversed.
        * ``revenue`` and ``reward_cost`` add every currency together (the totals of a
          one-currency shop); ``revenue_by_currency`` and ``reward_cost_by_currency`` split
          them by currency.
        * ``k_factor = signups / referrers``: new customers each potential referrer brings,
          the viral coefficient (invitations per user times their conversion to signups).

        With ``campaign``, visits, signups, conversions and rewards count only that campaign.
        """
        return self.reports.summary(since, until, campaign)

    def leaderboard(self, limit: int = 10, by: str = "conversions") -> list[LeaderboardEntry]:
        """Top referrers by ``"conversions"`` or ``"revenue"`` (net of refunds)."""
        return self.reports.leaderboard(limit, by)

    # -- one step, in refkit's transaction or in the caller's -----------------------------

    def _write(
        self,
        work: Callable[[Connection], T],
        connection: joined.Joinable | None,
        events: Callable[[T], _Events] = lambda _result: [],
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

    def _fire(self, events: _Events) -> None:
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


def _credit_currency(currency: object) -> str | None:
    """A balance's currency: an ISO code, or ``None`` for points."""
    return None if currency is None else to_currency(currency)


def _conversion_events(result: conversions.Recorded) -> _Events:
    if not result.created:
        return []
    fired: _Events = []
    if result.new_referral is not None:
        fired.append(("referral.created", result.new_referral))
    fired.append(("conversion.recorded", result.conversion))
    fired.extend(
        ("reward.created", reward)
        for reward in result.conversion.rewards
        if reward.kind != "discount"  # given at checkout: nothing to hand over
    )
    return fired


def _candidate() -> int:
    """A random referrer number (the store keeps it only if nobody holds it)."""
    return secrets.randbelow(MAX_NUMBER + 1)
