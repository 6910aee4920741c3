"""Reward rules: what a program promises, and the decision for one conversion.

:class:`Reward` describes a promise (10 percent, 5 EUR, 100 points); :class:`RewardRules`
gathers the promises and their conditions; :func:`decide` turns one conversion and its context
into the rewards to create and the reasons why. The decision is pure: the store runs it inside
the conversion's transaction and the database's constraints guard every single-reward rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Literal

from . import models
from .errors import ConfigurationError, ValidationError
from .models import Referral, RewardKind, Role
from .money import MAX_AMOUNT, exponent, quantize, to_amount, to_currency, to_minor
from .validation import to_aware, to_optional_duration

__all__ = [
    "Amounts",
    "ConversionContext",
    "Decision",
    "Milestone",
    "PlannedReward",
    "Reward",
    "RewardRules",
    "decide",
]

#: An amount a rule names: plain (in the rules' currency) or one per currency.
AmountInput = Decimal | int | float | str | Mapping[str, Decimal | int | float | str]


class Amounts(Mapping[str, Decimal]):
    """Amounts by currency (``{"EUR": Decimal("20"), "JPY": Decimal("3000")}``): immutable
    and hashable, so rules stay frozen values. Built from any mapping by
    :class:`Reward` and :class:`RewardRules`."""

    __slots__ = ("_items",)

    def __init__(self, amounts: Mapping[str, object], name: str) -> None:
        if not amounts:
            raise ValidationError(f"{name} given as a mapping needs at least one currency")
        items: dict[str, Decimal] = {}
        for currency, amount in amounts.items():
            code = to_currency(currency)
            items[code] = to_amount(amount, f"{name}[{code!r}]", currency=code)
        self._items = tuple(sorted(items.items()))

    def __getitem__(self, currency: str) -> Decimal:
        for code, amount in self._items:
            if code == currency:
                return amount
        raise KeyError(currency)

    def __iter__(self) -> Iterator[str]:
        return (code for code, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._items) == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"Amounts({dict(self._items)!r})"


def _amount_rule(value: object, name: str) -> Decimal | Amounts:
    if isinstance(value, Mapping):
        return Amounts(value, name)
    return to_amount(value, name)


def _in_currency(
    rule: Decimal | Amounts, currency: str, rules_currency: str | None
) -> Decimal | None:
    """A rule's amount for an order in ``currency``, or ``None`` if the rule has none there.

    A plain amount is in the rules' currency; without a rules currency it applies in every
    order's currency (the single-currency mode of earlier releases).
    """
    if isinstance(rule, Amounts):
        return rule.get(currency)
    if rules_currency is None or rules_currency == currency:
        return rule
    return None


@dataclass(frozen=True, slots=True)
class Reward:
    """What a rule promises. Build one with :meth:`percent`, :meth:`fixed` or :meth:`points`."""

    kind: RewardKind
    value: Decimal
    currency: str | None = None
    cap: Decimal | Amounts | None = None

    @classmethod
    def percent(
        cls, rate: Decimal | int | float | str, *, cap: AmountInput | None = None
    ) -> Reward:
        """``rate`` percent of the order amount, in the order's currency, at most ``cap``.

        ``cap`` is an amount in the rules' currency (``RewardRules(currency=...)``), or a
        mapping with one cap per currency (``{"EUR": 20, "JPY": 3000}``); an order in a
        currency without a cap earns nothing (``"currency_mismatch"``), so a cap of 20 never
        pays 20 yen. Without a rules currency a plain cap applies in every order's currency
        (the single-currency mode). A cap with more decimals than the order's currency is
        rounded down to its minor unit.
        """
        value = to_amount(rate, "percent rate")
        if not 0 < value <= 100:
            raise ValidationError(f"a percent reward must be above 0 and at most 100, got {value}")
        limit = None if cap is None else _amount_rule(cap, "cap")
        for amount in limit.values() if isinstance(limit, Amounts) else (limit,):
            if amount is not None and amount <= 0:
                raise ValidationError(
                    f"a percent reward's cap must be above 0 (or None), got {amount}"
                )
        return cls("percent", value, None, limit)

    @classmethod
    def fixed(cls, amount: Decimal | int | float | str, currency: str) -> Reward:
        """A fixed ``amount`` in ``currency``, whatever the order's size.

        :raises ValidationError: a non-positive amount, or more decimals than ``currency``
            allows (``Decimal("5.555")`` in EUR), so a bad rule fails here, not at checkout.
        """
        code = to_currency(currency)
        value = to_amount(amount, "fixed reward", currency=code)
        if value <= 0:
            raise ValidationError(f"a fixed reward must be above 0, got {value}")
        to_minor(value, code, "fixed reward")
        return cls("fixed", value, code)

    @classmethod
    def points(cls, points: int) -> Reward:
        """A whole number of loyalty points, from 1 to 10^12."""
        if isinstance(points, bool) or not isinstance(points, int) or not 0 < points <= MAX_AMOUNT:
            raise ValidationError(f"points must be an int from 1 to 10^12, got {points!r}")
        return cls("points", Decimal(points))

    def earned_on(
        self, amount: Decimal, currency: str, rules_currency: str | None = None
    ) -> tuple[Decimal, str | None]:
        """The value this promise earns on an order of ``amount`` ``currency`` (a plain cap
        is in ``rules_currency``; see :meth:`RewardRules.covers`)."""
        if self.kind == "points":
            return self.value, None
        if self.kind == "fixed":
            return self.value, self.currency
        value = quantize(amount * self.value / 100, currency)
        if self.cap is not None:
            limit = _in_currency(self.cap, currency, rules_currency)
            if limit is None:  # not covered: decide() says "currency_mismatch" first
                return Decimal(0), currency
            cap = limit.quantize(Decimal(1).scaleb(-exponent(currency)), rounding=ROUND_DOWN)
            value = min(value, cap)
        return value, currency


@dataclass(frozen=True, slots=True)
class Milestone:
    """A bonus for a referrer's ``count``-th rewarded referral: ``Milestone(5,
    Reward.fixed(20, "EUR"))`` pays 20 EUR once, when five of the referrer's own referrals
    have their referrer reward approved.

    Only the referrer's own referrals count (one level: their referees' referrals never
    do), and only once their reward is approved, so an order refunded in the hold period
    never counts. The bonus is paid once per referrer and milestone, enforced by the
    database, as an approved :class:`~refkit.EarnedReward` with ``milestone=count``. A
    paid bonus stays paid: a refund after it (a reversed reward lowers the count) does
    not take it back, and reaching the count again pays nothing more.

    :param count: the number of rewarded referrals, an ``int`` of at least 1.
    :param reward: what the referrer gets: :meth:`Reward.fixed` or :meth:`Reward.points`
        (a percent has no order to be a percent of).
    :raises ConfigurationError: a bad count or reward.
    """

    count: int
    reward: Reward

    def __post_init__(self) -> None:
        count = self.count
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigurationError(
                f"a milestone's count must be an int of at least 1, got {count!r}"
            )
        if not isinstance(self.reward, Reward):
            raise ConfigurationError(
                "a milestone's reward must be a Reward (Reward.fixed(...) or Reward.points(...))"
            )
        if self.reward.kind not in ("fixed", "points"):
            raise ConfigurationError(
                "a milestone's reward must be Reward.fixed(...) or Reward.points(...): "
                "a percent has no order to be a percent of"
            )


# ReferrerStats.next_milestone (refkit.models, below the rules) names a Milestone in its
# annotations only; give the name to that module too, so typing.get_type_hints (Sphinx's
# autodoc, pydantic, cattrs...) resolves ReferrerStats' fields.
setattr(models, "Milestone", Milestone)  # noqa: B010


def _milestones(value: object) -> tuple[Milestone, ...]:
    """The rules' milestones, sorted by count; a duplicate count is refused."""
    if isinstance(value, Milestone) or not isinstance(value, Iterable):
        raise ConfigurationError("milestones must be a list of Milestone(count, reward)")
    found = list(value)
    if not all(isinstance(milestone, Milestone) for milestone in found):
        raise ConfigurationError("milestones must be a list of Milestone(count, reward)")
    counts = [milestone.count for milestone in found]
    repeated = sorted({count for count in counts if counts.count(count) > 1})
    if repeated:
        raise ConfigurationError(
            f"two milestones share the count {repeated[0]}: give each count one reward"
        )
    return tuple(sorted(found, key=lambda milestone: milestone.count))


@dataclass(frozen=True, slots=True)
class RewardRules:
    """The rewards a program pays and when.

    :param referrer_reward: what the referrer earns for a referee's qualifying purchase.
    :param referee_reward: what the referee earns on it too (a double-sided program).
    :param min_order_amount: orders below this earn nothing (``"below_min_order"``): an
        amount in the rules' ``currency``, or a mapping with one per currency.
    :param first_purchase_only: only the referee's first conversion can earn rewards.
    :param attribution_window: a purchase more than this after the referral earns nothing
        (``"outside_window"``); ``None`` for no limit. A purchase dated before the referral
        is outside the window too, whatever its length.
    :param hold_period: rewards stay pending this long (the refund window) before
        :meth:`~refkit.ReferralProgram.approve_due` approves them; ``timedelta(0)`` (no hold)
        by default.
    :param max_rewards_per_referrer: at most this many referrer rewards per referrer, ever
        (refunds do not give a slot back, so a refund loop cannot farm it).
    :param credit_expires_after: approved credit not spent this long after its approval
        expires when :meth:`~refkit.ReferralProgram.expire_credit` runs (oldest credit is
        spent first); ``None`` (the default): credit never expires.
    :param currency: the currency plain amounts (a ``cap``, ``min_order_amount``) are in.
        With it, an order in a currency the rules do not cover earns nothing
        (``"currency_mismatch"``). Without it (the single-currency mode of earlier
        releases) plain amounts apply in every order's currency: set it in a shop that
        takes more than one currency.
    :param starts_at: referrals bound before this earn nothing (``"offer_not_started"``).
    :param ends_at: referrals bound at or after this earn nothing (``"offer_ended"``);
        friends referred before it keep earning within the attribution window.
    :param referee_discount: what the friend gets off their qualifying order at checkout
        (:meth:`Reward.fixed` or :meth:`Reward.percent` of the order before the discount,
        never more than the order): see :meth:`~refkit.ReferralProgram.offer_for` and
        :meth:`~refkit.ReferralProgram.claim_discount`.
    :param milestones: bonuses for the referrer's 5th, 10th... rewarded referral: a list of
        :class:`Milestone`, kept sorted by count (see :class:`Milestone`).
    """

    referrer_reward: Reward | None = None
    referee_reward: Reward | None = None
    min_order_amount: Decimal | Amounts | None = None
    first_purchase_only: bool = False
    attribution_window: timedelta | None = None
    hold_period: timedelta = field(default_factory=timedelta)
    max_rewards_per_referrer: int | None = None
    currency: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    referee_discount: Reward | None = None
    credit_expires_after: timedelta | None = None
    milestones: Sequence[Milestone] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", _milestones(self.milestones))
        for name in ("referrer_reward", "referee_reward", "referee_discount"):
            if not isinstance(getattr(self, name), Reward | None):
                raise ConfigurationError(f"{name} must be a Reward (Reward.percent(...)) or None")
        if self.referee_discount is not None and self.referee_discount.kind == "points":
            raise ConfigurationError(
                "referee_discount must be money off the order: Reward.fixed(...) or "
                "Reward.percent(...), not points"
            )
        try:
            if self.currency is not None:
                object.__setattr__(self, "currency", to_currency(self.currency))
            if self.min_order_amount is not None:
                object.__setattr__(
                    self,
                    "min_order_amount",
                    _amount_rule(self.min_order_amount, "min_order_amount"),
                )
            for name in ("starts_at", "ends_at"):
                if getattr(self, name) is not None:
                    object.__setattr__(self, name, to_aware(getattr(self, name), name))
        except ValidationError as error:
            raise ConfigurationError(str(error)) from None
        starts, ends = self.starts_at, self.ends_at
        if starts is not None and ends is not None and ends <= starts:
            raise ConfigurationError(
                f"ends_at ({ends.isoformat()}) must be after starts_at ({starts.isoformat()})"
            )
        if not isinstance(self.first_purchase_only, bool):
            raise ConfigurationError(
                f"first_purchase_only must be True or False, got {self.first_purchase_only!r}"
            )
        to_optional_duration(self.attribution_window, "attribution_window")
        if to_optional_duration(self.hold_period, "hold_period") is None:
            raise ConfigurationError("hold_period must be a timedelta (timedelta(0) for none)")
        cap = self.max_rewards_per_referrer
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 0):
            raise ConfigurationError("max_rewards_per_referrer must be a non-negative int or None")
        try:
            to_optional_duration(self.credit_expires_after, "credit_expires_after")
        except ValidationError as error:
            raise ConfigurationError(str(error)) from None

    def _amount_rules(self) -> list[Decimal | Amounts]:
        found: list[Decimal | Amounts] = []
        if self.min_order_amount is not None:
            found.append(self.min_order_amount)
        for reward in (self.referrer_reward, self.referee_reward, self.referee_discount):
            if reward is not None and reward.cap is not None:
                found.append(reward.cap)
        return found

    def covers(self, currency: str) -> bool:
        """Whether an order in ``currency`` can earn under these rules: every amount the
        rules name (a cap, the minimum order) has a value in it. With a rules
        ``currency`` and no per-currency mapping, only that currency is covered;
        without one, every currency is (plain amounts apply in the order's currency)."""
        amounts = self._amount_rules()
        if self.currency is not None and currency != self.currency:
            mappings = [rule for rule in amounts if isinstance(rule, Amounts)]
            if not mappings:
                return False
        return all(_in_currency(rule, currency, self.currency) is not None for rule in amounts)


@dataclass(frozen=True, slots=True)
class ConversionContext:
    """What the decision needs to know, read inside the conversion's transaction."""

    #: the order's total before the friend's discount (see :attr:`claimed_discount`)
    amount: Decimal
    currency: str
    at: datetime
    referral: Referral | None
    #: no order of the customer dated at or before this one is stored
    is_first_purchase: bool
    rewarded_roles: frozenset[str]
    #: the discount reserved for this very order (a conversion of a claimed order), or
    #: ``None``: the decision then computes the discount the order would get
    claimed_discount: Decimal | None = None
    #: another order of this referee holds (or used) the discount
    discount_taken: bool = False
    #: a conversion: only a claimed discount was given (an offer or a claim: ``False``)
    converting: bool = False


@dataclass(frozen=True, slots=True)
class PlannedReward:
    """A reward the decision wants to create; the store may still refuse it (cap, race)."""

    role: Role
    beneficiary_id: str
    kind: RewardKind
    value: Decimal
    currency: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    """What one order earns: the rewards to create, the friend's discount (``0`` when none)
    and the reasons."""

    rewards: tuple[PlannedReward, ...]
    reasons: tuple[str, ...]
    discount: Decimal = Decimal(0)


Reason = Literal[
    "no_rules",
    "not_referred",
    "zero_amount",
    "currency_mismatch",
    "offer_not_started",
    "offer_ended",
    "outside_window",
    "not_first_purchase",
    "below_min_order",
    "already_rewarded",
    "referrer_reward_rounds_to_zero",
    "referee_reward_rounds_to_zero",
    "discount_already_claimed",
    "discount_not_claimed",
    "discount_rounds_to_zero",
]


def _refusal(rules: RewardRules, context: ConversionContext, referral: Referral) -> str | None:
    """Why this conversion earns nothing at all, or ``None`` if it may earn."""
    if not rules.covers(context.currency):
        return "currency_mismatch"
    if rules.starts_at is not None and referral.created_at < rules.starts_at:
        return "offer_not_started"
    if rules.ends_at is not None and referral.created_at >= rules.ends_at:
        return "offer_ended"
    window = rules.attribution_window
    if context.at < referral.created_at or (
        window is not None and context.at - referral.created_at > window
    ):  # the window runs from the referral forward: an order before it was not referred
        return "outside_window"
    if rules.first_purchase_only and not context.is_first_purchase:
        return "not_first_purchase"
    if rules.min_order_amount is not None:
        minimum = _in_currency(rules.min_order_amount, context.currency, rules.currency)
        if minimum is not None and context.amount < minimum:
            return "below_min_order"
    if context.amount == 0:  # after the minimum: a 0 order is below any minimum first
        return "zero_amount"
    return None


def _discount(rules: RewardRules, context: ConversionContext, reasons: list[str]) -> Decimal:
    """The friend's discount on this order (``0`` and a reason when none)."""
    promise = rules.referee_discount
    if promise is None:
        return Decimal(0)
    if context.claimed_discount is not None:
        return context.claimed_discount
    if context.discount_taken:
        reasons.append("discount_already_claimed")
        return Decimal(0)
    if context.converting:
        reasons.append("discount_not_claimed")
        return Decimal(0)
    value, _ = promise.earned_on(context.amount, context.currency, rules.currency)
    if promise.kind == "fixed":
        if promise.currency != context.currency:
            reasons.append("currency_mismatch")
            return Decimal(0)
        value = min(value, context.amount)
    if value <= 0:
        reasons.append("discount_rounds_to_zero")
    return value


def decide(rules: RewardRules | None, context: ConversionContext) -> Decision:
    """Which rewards an order earns, what the friend gets off it, and why (or why not).

    The one decision behind :meth:`~refkit.ReferralProgram.offer_for`,
    :meth:`~refkit.ReferralProgram.claim_discount` and
    :meth:`~refkit.ReferralProgram.record_conversion`: ``context.amount`` is the order
    before the discount; percent rewards are computed on what is paid (the amount minus
    the discount). Every role the rules promise a reward to and that gets none has a
    reason: one for the whole order (``"zero_amount"``, ``"currency_mismatch"``,
    ``"offer_not_started"``, ``"offer_ended"``, ``"outside_window"``,
    ``"not_first_purchase"``, ``"below_min_order"``), or one for the role
    (``"already_rewarded"``, ``"<role>_reward_rounds_to_zero"`` when a percent rounds to
    nothing, ``"discount_already_claimed"``, ``"discount_not_claimed"``).
    """
    referral = context.referral
    if referral is None:
        return Decision((), ("not_referred",))
    promises = (
        (rules.referrer_reward, rules.referee_reward, rules.referee_discount) if rules else ()
    )
    if rules is None or all(promise is None for promise in promises):
        return Decision((), ("no_rules",))
    refused = _refusal(rules, context, referral)
    if refused is not None:
        return Decision((), (refused,))
    reasons: list[str] = []
    discount = _discount(rules, context, reasons)
    paid = context.amount - discount
    planned: list[PlannedReward] = []
    for role, reward, beneficiary in (
        ("referrer", rules.referrer_reward, referral.referrer_id),
        ("referee", rules.referee_reward, referral.referee_id),
    ):
        if reward is None:
            continue
        if role in context.rewarded_roles:
            if "already_rewarded" not in reasons:
                reasons.append("already_rewarded")
            continue
        value, currency = reward.earned_on(paid, context.currency, rules.currency)
        if value <= 0:
            reasons.append(f"{role}_reward_rounds_to_zero")
            continue
        planned.append(PlannedReward(role, beneficiary, reward.kind, value, currency))  # type: ignore[arg-type]
    return Decision(tuple(planned), tuple(reasons), discount)
