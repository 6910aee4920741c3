"""Reward rules: what a program promises, and the decision for one conversion.

:class:`Reward` describes a promise (10 percent, 5 EUR, 100 points); :class:`RewardRules`
gathers the promises and their conditions; :func:`decide` turns one conversion and its context
into the rewards to create and the reasons why. The decision is pure: the store runs it inside
the conversion's transaction and the database's constraints guard every single-reward rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Literal

from .errors import ConfigurationError, ValidationError
from .models import Referral, RewardKind, Role
from .money import MAX_AMOUNT, exponent, quantize, to_amount, to_currency, to_minor
from .validation import to_optional_duration

__all__ = ["ConversionContext", "Decision", "PlannedReward", "Reward", "RewardRules", "decide"]


@dataclass(frozen=True, slots=True)
class Reward:
    """What a rule promises. Build one with :meth:`percent`, :meth:`fixed` or :meth:`points`."""

    kind: RewardKind
    value: Decimal
    currency: str | None = None
    cap: Decimal | None = None

    @classmethod
    def percent(
        cls, rate: Decimal | int | float | str, *, cap: Decimal | int | float | str | None = None
    ) -> Reward:
        """``rate`` percent of the order amount, in the order's currency, at most ``cap``.

        ``cap`` is in the order's currency too; on an order in a currency with fewer decimals
        than ``cap`` has, it is rounded down to that currency's minor unit.
        """
        value = to_amount(rate, "percent rate")
        if not 0 < value <= 100:
            raise ValidationError(f"a percent reward must be above 0 and at most 100, got {value}")
        limit = None if cap is None else to_amount(cap, "cap")
        if limit is not None and limit <= 0:
            raise ValidationError(f"a percent reward's cap must be above 0 (or None), got {limit}")
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

    def earned_on(self, amount: Decimal, currency: str) -> tuple[Decimal, str | None]:
        """The value this promise earns on an order of ``amount`` ``currency``."""
        if self.kind == "points":
            return self.value, None
        if self.kind == "fixed":
            return self.value, self.currency
        value = quantize(amount * self.value / 100, currency)
        if self.cap is not None:
            cap = self.cap.quantize(Decimal(1).scaleb(-exponent(currency)), rounding=ROUND_DOWN)
            value = min(value, cap)
        return value, currency


@dataclass(frozen=True, slots=True)
class RewardRules:
    """The rewards a program pays and when.

    :param referrer_reward: what the referrer earns for a referee's qualifying purchase.
    :param referee_reward: what the referee earns on it too (a double-sided program).
    :param min_order_amount: orders below this earn nothing (``"below_min_order"``).
    :param first_purchase_only: only the referee's first conversion can earn rewards.
    :param attribution_window: a purchase more than this after the referral earns nothing
        (``"outside_window"``); ``None`` for no limit. A purchase dated before the referral
        is outside the window too, whatever its length.
    :param hold_period: rewards stay pending this long (the refund window) before
        :meth:`~refkit.ReferralProgram.approve_due` approves them.
    :param max_rewards_per_referrer: at most this many referrer rewards per referrer, ever
        (refunds do not give a slot back, so a refund loop cannot farm it).
    """

    referrer_reward: Reward | None = None
    referee_reward: Reward | None = None
    min_order_amount: Decimal | None = None
    first_purchase_only: bool = False
    attribution_window: timedelta | None = None
    hold_period: timedelta = field(default_factory=timedelta)
    max_rewards_per_referrer: int | None = None

    def __post_init__(self) -> None:
        for name in ("referrer_reward", "referee_reward"):
            if not isinstance(getattr(self, name), Reward | None):
                raise ConfigurationError(f"{name} must be a Reward (Reward.percent(...)) or None")
        if self.min_order_amount is not None:
            object.__setattr__(
                self, "min_order_amount", to_amount(self.min_order_amount, "min_order_amount")
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


@dataclass(frozen=True, slots=True)
class ConversionContext:
    """What the decision needs to know, read inside the conversion's transaction."""

    amount: Decimal
    currency: str
    at: datetime
    referral: Referral | None
    #: no order of the customer dated at or before this one is stored
    is_first_purchase: bool
    rewarded_roles: frozenset[str]


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
    rewards: tuple[PlannedReward, ...]
    reasons: tuple[str, ...]


Reason = Literal[
    "no_rules",
    "not_referred",
    "outside_window",
    "not_first_purchase",
    "below_min_order",
    "already_rewarded",
]


def decide(rules: RewardRules | None, context: ConversionContext) -> Decision:
    """Which rewards a conversion earns, and why (or why not)."""
    referral = context.referral
    if referral is None:
        return Decision((), ("not_referred",))
    if rules is None or (rules.referrer_reward is None and rules.referee_reward is None):
        return Decision((), ("no_rules",))
    window = rules.attribution_window
    if context.at < referral.created_at or (
        window is not None and context.at - referral.created_at > window
    ):  # the window runs from the referral forward: an order before it was not referred
        return Decision((), ("outside_window",))
    if rules.first_purchase_only and not context.is_first_purchase:
        return Decision((), ("not_first_purchase",))
    if rules.min_order_amount is not None and context.amount < rules.min_order_amount:
        return Decision((), ("below_min_order",))
    planned: list[PlannedReward] = []
    reasons: list[str] = []
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
        value, currency = reward.earned_on(context.amount, context.currency)
        if value <= 0:
            continue
        planned.append(PlannedReward(role, beneficiary, reward.kind, value, currency))  # type: ignore[arg-type]
    return Decision(tuple(planned), tuple(reasons))
