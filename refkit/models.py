"""The records refkit returns: frozen dataclasses, safe to cache, compare and log.

Data walks one way: a :class:`Visit` brings a referee, a :class:`Referral` binds them to a
referrer, a :class:`Conversion` records their purchase, and the rules decide which
:class:`EarnedReward` it creates; each reward's history lives in :class:`LedgerEntry` rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .rules import Milestone

__all__ = [
    "Conversion",
    "EarnedReward",
    "Fingerprint",
    "FlaggedReferral",
    "LeaderboardEntry",
    "LedgerEntry",
    "MoneyTotals",
    "Offer",
    "PointTotals",
    "ProgramSummary",
    "Referral",
    "ReferrerStats",
    "Visit",
]

Source = Literal["link", "code", "staff"]
Role = Literal["referrer", "referee", "grant"]
RewardKind = Literal["percent", "fixed", "points", "discount"]
RewardStatus = Literal["pending", "approved", "revoked", "reversed", "redeemed"]
LedgerKind = Literal[
    "accrued", "approved", "revoked", "reversed", "adjusted", "redeemed", "paid_out", "expired"
]

SOURCES: tuple[Source, ...] = ("link", "code", "staff")
STATUSES: tuple[RewardStatus, ...] = ("pending", "approved", "revoked", "reversed")


class MoneyTotals(dict[str, Decimal]):
    """Monetary totals by reward status: a status without rewards reads as ``Decimal(0)``.

    The status is not added by reading it, and an unknown status still raises
    :class:`KeyError`. Compares equal to a plain dict of the same items.
    """

    __slots__ = ()

    def __missing__(self, status: str) -> Decimal:
        if status in STATUSES:
            return Decimal(0)
        raise KeyError(status)


class PointTotals(dict[str, int]):
    """Points by reward status: a status without rewards reads as ``0`` (see
    :class:`MoneyTotals`)."""

    __slots__ = ()

    def __missing__(self, status: str) -> int:
        if status in STATUSES:
            return 0
        raise KeyError(status)


@dataclass(frozen=True, slots=True)
class Visit:
    """Someone arriving with a referrer's code (a click on a link, a landing)."""

    id: int
    referrer_id: str
    campaign: str | None
    visitor: str | None
    created_at: datetime
    #: The share channel of the link (``"email"``, ``"qr"``...), or ``None``.
    channel: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    #: the A/B test variant the visitor was assigned (:class:`refkit.Experiment`), if any
    variant: str | None = None


@dataclass(frozen=True, slots=True)
class Referral:
    """A referee bound to one referrer, for good (the first binding wins)."""

    referee_id: str
    referrer_id: str
    source: Source
    created_at: datetime
    campaign: str | None = None
    #: The share channel of the link the referee came through, or ``None``.
    channel: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    #: the A/B test variant whose rules the referral follows (:class:`refkit.Experiment`),
    #: ``None`` outside an experiment
    variant: str | None = None


@dataclass(frozen=True, slots=True)
class EarnedReward:
    """What a conversion earned one person.

    ``value`` is the current amount (a partial refund lowers a percent reward) in ``currency``,
    or a number of points (``currency`` is ``None``). ``original_value`` is what it was when
    created. ``due_at`` is when the hold period ends and
    :meth:`~refkit.ReferralProgram.approve_due` may approve it.

    The friend's discount given at checkout (:meth:`~refkit.ReferralProgram.claim_discount`)
    is one too: ``role="referee"``, ``kind="discount"``, ``status="redeemed"`` (it was
    spent on the order), or ``"reversed"`` once the order is refunded in full. Its ``id`` is
    negative (it lives with the claim, not among the rewards
    :meth:`~refkit.ReferralProgram.approve` and :meth:`~refkit.ReferralProgram.revoke`
    change).

    A milestone bonus (:class:`~refkit.Milestone`) has ``role="referrer"``, ``milestone``
    set to the milestone's count, no ``order_id`` and no ``referee_id``. A reward given by
    hand (:meth:`~refkit.ReferralProgram.grant`) has ``role="grant"``, its ``reference``
    and ``reason``, no ``order_id`` and no ``referee_id``; both are approved when created.
    """

    id: int
    order_id: str | None
    beneficiary_id: str
    role: Role
    kind: RewardKind
    value: Decimal
    currency: str | None
    status: RewardStatus
    created_at: datetime
    due_at: datetime
    referee_id: str | None
    referrer_id: str
    original_value: Decimal
    #: the milestone's count for a milestone bonus, ``None`` for any other reward
    milestone: int | None = None
    #: a granted reward's idempotency key (:meth:`~refkit.ReferralProgram.grant`)
    reference: str | None = None
    #: why a reward was granted by hand
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Conversion:
    """A purchase, and what it earned.

    ``rewards`` are the rewards this conversion created (empty when it earned none);
    ``reasons`` explain the decision, one short code each: ``"referrer_rewarded"``,
    ``"referee_rewarded"``, ``"not_referred"``, ``"below_min_order"``,
    ``"not_first_purchase"``, ``"outside_window"``, ``"already_rewarded"``, ``"cap_reached"``,
    ``"no_rules"``, ``"zero_amount"``, ``"currency_mismatch"``, ``"offer_not_started"``,
    ``"offer_ended"``, ``"referrer_reward_rounds_to_zero"`` (a percent worth less than the
    currency's minor unit; likewise for the referee), and for a typed code at guest checkout
    ``"self_referral"`` or ``"code_ignored_already_referred"``. Whenever the rules promise a
    role a reward and the conversion creates none for it, a reason says why.
    """

    order_id: str
    customer_id: str
    amount: Decimal
    currency: str
    referrer_id: str | None
    rewards: tuple[EarnedReward, ...]
    created_at: datetime
    reasons: tuple[str, ...]
    refunded_amount: Decimal = Decimal(0)
    campaign: str | None = None
    #: The share channel of the customer's referral (copied when the order is recorded).
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One append-only line of a reward's history, or of spending a balance.

    ``pending`` and ``approved`` are the changes this entry makes to the beneficiary's pending
    and approved balances; a balance is the sum of its entries. Entries of kind
    ``"redeemed"``, ``"paid_out"`` and ``"expired"`` belong to no reward (``reward_id`` is
    ``None``) and take ``-approved`` off the balance; the first two carry the caller's
    ``reference``.
    """

    id: int
    reward_id: int | None
    beneficiary_id: str
    kind: LedgerKind
    pending: Decimal
    approved: Decimal
    currency: str | None
    created_at: datetime
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class Balance:
    """A user's positive balance in one currency: a line of a payout list (see
    :meth:`~refkit.ReferralProgram.balances`)."""

    user_id: str
    currency: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class ReferrerStats:
    """One referrer's numbers.

    ``revenue`` sums the referees' orders (net of refunds) across currencies, which is exact
    for a single-currency shop; ``revenue_by_currency`` splits it. ``rewards`` maps each status
    to the total monetary value of this user's rewards in it, and ``points`` the same for
    points rewards; a status without rewards reads as zero (``stats.rewards["approved"]``).
    Rewards a user earned as a referee count here too. ``flagged`` counts this referrer's
    referrals waiting for review (see :meth:`~refkit.ReferralProgram.flagged_referrals`).
    ``balance_by_currency`` is what the user can spend or be paid now, by currency (approved
    rewards minus what was redeemed, paid out or expired, never below zero), and
    ``debt_by_currency`` what a reversal took back after the credit was spent (see
    :meth:`~refkit.ReferralProgram.balance`).

    ``milestone_progress`` counts this user's own referrals whose referrer reward is
    approved now (pending, revoked and reversed rewards do not count; neither do referrals
    made by their referees): the count a :class:`~refkit.Milestone` is reached at.
    ``next_milestone`` is the first milestone of the rules (by count) not paid to this user
    yet, ``None`` when every one is paid or the rules have none; ``milestones_reached`` the
    counts of the milestones paid so far (a paid milestone stays paid: see
    :class:`~refkit.Milestone`).
    """

    user_id: str
    visits: int
    signups: int
    conversions: int
    revenue: Decimal
    revenue_by_currency: dict[str, Decimal] = field(default_factory=dict)
    rewards: dict[str, Decimal] = field(default_factory=dict)
    points: dict[str, int] = field(default_factory=dict)
    flagged: int = 0
    balance_by_currency: dict[str, Decimal] = field(default_factory=dict)
    debt_by_currency: dict[str, Decimal] = field(default_factory=dict)
    milestone_progress: int = 0
    next_milestone: Milestone | None = None
    milestones_reached: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.rewards, MoneyTotals):
            object.__setattr__(self, "rewards", MoneyTotals(self.rewards))
        if not isinstance(self.points, PointTotals):
            object.__setattr__(self, "points", PointTotals(self.points))

    @property
    def balance(self) -> Decimal:
        """What the shop owes this user now: approved monetary rewards minus what was
        redeemed, paid out or expired, summed over currencies (exact for a one-currency
        shop; ``balance_by_currency`` splits it)."""
        return sum(self.balance_by_currency.values(), Decimal(0))


@dataclass(frozen=True, slots=True)
class ProgramSummary:
    """The program-wide funnel over a period (see :meth:`ReferralProgram.summary`).

    ``revenue`` and ``reward_cost`` add amounts across currencies: they are the totals of a
    one-currency shop. ``revenue_by_currency`` and ``reward_cost_by_currency`` split them by
    currency (only currencies with an amount appear), for a shop that takes several.

    ``signups_bought`` and ``signups_rewarded`` follow the period's signups (a cohort): how
    many of them bought, and how many of those were rewarded, whenever it happened.
    """

    referrers: int
    visits: int
    signups: int
    conversions: int
    conversion_rate: float
    revenue: Decimal
    reward_cost: Decimal
    k_factor: float
    first_purchases: int = 0
    rewarded: int = 0
    revenue_by_currency: dict[str, Decimal] = field(default_factory=dict)
    reward_cost_by_currency: dict[str, Decimal] = field(default_factory=dict)
    signups_bought: int = 0
    signups_rewarded: int = 0
    share_rate: float = 0.0
    cost_per_acquisition: Decimal | None = None


@dataclass(frozen=True, slots=True)
class LeaderboardEntry:
    """A referrer's rank line."""

    referrer_id: str
    conversions: int
    revenue: Decimal
    signups: int = 0


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A request's fraud signals, as keyed hashes only (never a raw IP address or user agent).

    Make one with :meth:`~refkit.ReferralProgram.fingerprint`; ``at`` is when the request
    happened (the click's time, for the fast-purchase check).
    """

    ip: str | None = None
    user_agent: str | None = None
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FlaggedReferral:
    """A referral waiting for a person's review, and why.

    ``reasons``: ``"same_device"`` (same IP address and user agent at the click and at
    signup), ``"disposable_email"`` (the referee's email is at a disposable domain),
    ``"fast_purchase"`` (a purchase soon after the click). While a referral is flagged,
    :meth:`~refkit.ReferralProgram.approve_due` leaves its rewards pending.
    """

    referee_id: str
    referrer_id: str
    reasons: tuple[str, ...]
    flagged_at: datetime
    referred_at: datetime


@dataclass(frozen=True, slots=True)
class Offer:
    """What the friend gets off an order: :meth:`~refkit.ReferralProgram.offer_for` (a
    preview) or :meth:`~refkit.ReferralProgram.claim_discount` (a reservation).

    ``discount`` is ``Decimal(0)`` when there is none, and ``reasons`` say why (or why it is
    what it is: ``"not_referred"``, ``"below_min_order"``, ``"not_first_purchase"``,
    ``"discount_already_claimed"``, ``"offer_not_started"``, ``"offer_ended"``,
    ``"currency_mismatch"``, ``"zero_amount"``...; ``"discount_offered"`` or
    ``"discount_claimed"`` when there is one). ``expires_at`` is when the offer or the
    claim lapses (``None``: it does not). ``order_id`` is set for claims only.
    """

    discount: Decimal
    currency: str
    referrer_id: str | None
    reasons: tuple[str, ...]
    expires_at: datetime | None = None
    order_id: str | None = None
