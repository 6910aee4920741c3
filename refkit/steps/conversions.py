"""Conversions: a purchase recorded once per order id, and the rewards it earns.

:func:`record` reads everything the decision needs in one statement into a typed
:class:`Context`, binds a code typed at checkout, asks the pure :func:`refkit.rules.decide`,
and only then writes: the conversion row with its reasons (its primary key settles replays
and races), the rewards (:func:`refkit.steps.rewards.create`) and their ledger entries.

With ``first_purchase_only``, the first purchase is the earliest by ``at``: an order dated
before one whose rewards are still pending takes them over (:func:`refkit.steps.rewards.take_over`
revokes them and frees their roles; approved ones stay).
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Final

from sqlalchemy import (
    Connection,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    exists,
    literal,
    literal_column,
    select,
    update,
)

from ..errors import ConflictError
from ..experiments import RuleSource, rules_for
from ..models import Conversion, EarnedReward, Referral
from ..rules import ConversionContext, Decision, PlannedReward, RewardRules, decide
from ..storage.dialects import insert_ignore
from ..storage.prepared import Prepared
from ..storage.records import REFERRAL_COLUMNS, conversion_from_row, referral_from_row
from ..storage.schema import (
    UTCDateTime,
    conversions,
    counters,
    erasures,
    identities,
    referrals,
    rewards,
    signals,
)
from . import claims, erasure, review
from . import referrals as referral_step
from . import rewards as reward_step

__all__ = ["Context", "NewConversion", "Recorded", "conversion_of", "record"]


@dataclass(frozen=True, slots=True)
class NewConversion:
    """A validated purchase, ready to store (amounts already in minor units)."""

    order_id: str
    customer_id: str
    amount: Decimal
    amount_minor: int
    currency: str
    at: datetime
    code_referrer_id: str | None = None
    campaign: str | None = None
    #: flag the referral when the purchase comes this soon after the click
    fast_purchase: timedelta | None = None
    #: the customer's pseudonyms (one per key): if one is stored, the customer was erased
    #: and the conversion is stored under it
    pseudonyms: tuple[str, ...] = ()
    #: the A/B test variant a referral made by ``code_referrer_id`` gets
    variant: str | None = None
    #: when the call runs (``at`` if ``None``): the date of a taken-over reward's revocation
    now: datetime | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """What :func:`record` did: the conversion (stored now, or before: ``created`` is
    ``False`` for a replay) and the referral a code made on the way, if any."""

    conversion: Conversion
    created: bool
    new_referral: Referral | None = None
    #: the pending rewards of later-dated orders this one took over (now revoked)
    taken_over: tuple[EarnedReward, ...] = ()


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a conversion decides on, read in one statement (:data:`CONVERSION_CONTEXT`)."""

    #: the customer's pseudonym if they were erased
    erased: str | None
    #: the order id is stored already
    replay: bool
    #: an order of the customer dated at or before this one is stored (first purchase
    #: follows the order of ``at``, not of recording)
    bought_before: bool
    referral: Referral | None
    #: the roles the customer's referral already paid a reward to
    rewarded_roles: frozenset[str]
    #: of those, the roles whose reward is pending and was earned by an order dated after
    #: this one (``first_purchase_only`` moves it to this order)
    later_roles: frozenset[str]
    #: the referee and the referrer registered one email
    same_email: bool
    #: when the referee clicked the link, if the click's signals were kept
    clicked_at: datetime | None
    #: referrer rewards the referral's referrer holds toward the cap
    rewards_taken: int


#: The context's yes/no answers, read as one number (bit ``i`` set: ``FLAGS[i]`` holds): each
#: column of a result costs SQLAlchemy's execution layer microseconds to describe, every time.
FLAGS: Final = (
    "replay",
    "bought_before",
    "referrer_rewarded",
    "referee_rewarded",
    "same_email",
    "referrer_later",
    "referee_later",
)


def _packed(**conditions: Any) -> Any:
    bits = [
        cast(conditions[name], Integer) * literal_column(str(1 << i))
        for i, name in enumerate(FLAGS)
    ]
    return functools.reduce(operator.add, bits).label("flags")


def _conversion_context() -> Any:
    customer = bindparam("customer", type_=String)
    other = identities.alias("other")
    mine = identities.alias("mine")
    one = select(literal(1).label("one")).subquery("one")

    at = bindparam("at", type_=UTCDateTime)

    def rewarded(role: str, *later: Any) -> Any:
        return exists().where(
            rewards.c.referee_id == customer, rewards.c.role == role, rewards.c.slot == 0, *later
        )

    def later(role: str) -> Any:
        return rewarded(role, rewards.c.status == "pending", rewards.c.created_at > at)

    return select(
        select(erasures.c.pseudonym)
        .where(
            erasures.c.pseudonym.in_(
                [bindparam(f"pseudonym{i}", type_=String) for i in range(erasure.PSEUDONYM_SLOTS)]
            )
        )
        .limit(1)
        .scalar_subquery()
        .label("erased"),
        _packed(
            replay=exists().where(conversions.c.order_id == bindparam("order_id")),
            bought_before=exists().where(
                conversions.c.customer_id == customer,
                conversions.c.created_at <= at,
            ),
            referrer_rewarded=rewarded("referrer"),
            referee_rewarded=rewarded("referee"),
            same_email=exists().where(
                mine.c.user_id == referrals.c.referee_id,
                other.c.user_id == referrals.c.referrer_id,
                other.c.email_hash == mine.c.email_hash,
            ),
            referrer_later=later("referrer"),
            referee_later=later("referee"),
        ),
        *(referrals.c[name] for name in REFERRAL_COLUMNS),
        select(signals.c.clicked_at)
        .where(signals.c.referee_id == referrals.c.referee_id)
        .scalar_subquery()
        .label("clicked_at"),
        select(counters.c.rewards)
        .where(counters.c.referrer_id == referrals.c.referrer_id)
        .scalar_subquery()
        .label("rewards_taken"),
    ).select_from(one.outerjoin(referrals, and_(referrals.c.referee_id == customer)))


#: Everything a conversion decides on, in one row, for customer ``:customer`` and order
#: ``:order_id`` dated ``:at`` (``:pseudonym0..2``: the customer's candidate pseudonyms); see
#: :class:`Context`. The referral's columns are all ``None`` if the customer is not referred.
CONVERSION_CONTEXT: Final = Prepared(
    _conversion_context(),
    ("customer", "order_id", "at", *(f"pseudonym{i}" for i in range(erasure.PSEUDONYM_SLOTS))),
    {"at": UTCDateTime()},
)
#: The referrer rewards referrer ``:referrer_id`` holds toward the cap.
REWARDS_TAKEN: Final = Prepared(
    select(counters.c.rewards).where(
        counters.c.referrer_id == bindparam("referrer_id", type_=String)
    ),
    ("referrer_id",),
)
#: The conversion of order ``:order_id``.
CONVERSION_OF: Final = select(conversions).where(
    conversions.c.order_id == bindparam("order_id", type_=String)
)
#: A conversion's reasons, rewritten (see :func:`record`).
SET_REASONS: Final = (
    update(conversions)
    .where(conversions.c.order_id == bindparam("order", type_=String))
    .values(reasons=bindparam("new_reasons", type_=String))
)


def _context(
    connection: Connection,
    customer: str,
    order_id: str,
    at: datetime,
    pseudonyms: tuple[str, ...],
) -> Context:
    parameters = {"customer": customer, "order_id": order_id, "at": at}
    row, erased = erasure.read_context(
        connection, CONVERSION_CONTEXT, parameters, customer, pseudonyms
    )
    flags = {name for i, name in enumerate(FLAGS) if row.flags >> i & 1}
    roles = ("referrer", "referee")
    return Context(
        erased=erased,
        replay="replay" in flags,
        bought_before="bought_before" in flags,
        referral=None if row.referrer_id is None else referral_from_row(row),
        rewarded_roles=frozenset(role for role in roles if f"{role}_rewarded" in flags),
        later_roles=frozenset(role for role in roles if f"{role}_later" in flags),
        same_email="same_email" in flags,
        clicked_at=row.clicked_at,
        rewards_taken=int(row.rewards_taken or 0),
    )


def conversion_of(connection: Connection, order_id: str) -> Conversion | None:
    """The stored conversion of ``order_id`` with the rewards it created (and the friend's
    discount it used), or ``None``."""
    row = connection.execute(CONVERSION_OF, {"order_id": order_id}).first()
    if row is None:
        return None
    earned = reward_step.of_order(connection, order_id)
    if "discount_redeemed" in row.reasons:
        discount = claims.discount_of(connection, order_id)
        if discount is not None:
            earned = (*earned, discount)
    return conversion_from_row(row, earned)


def _replay(connection: Connection, new: NewConversion, customer: str) -> Recorded:
    """The same order id again must carry the same purchase."""
    stored = conversion_of(connection, new.order_id)
    assert stored is not None
    for field, old, given in (
        ("customer_id", stored.customer_id, customer),
        ("amount", stored.amount, new.amount),
        ("currency", stored.currency, new.currency),
    ):
        if old != given:
            raise ConflictError(
                new.order_id,
                f"order {new.order_id!r} was recorded with {field} {old!r}, not {given!r}; "
                "an order id identifies one purchase (use a new id for a new order)",
            )
    return Recorded(stored, created=False)


def _decide(
    rules: RewardRules | None,
    context: Context,
    new: NewConversion,
    referral: Referral | None,
    claimed: Decimal | None = None,
    taken: bool = False,
    taking_over: frozenset[str] = frozenset(),
) -> Decision:
    if referral is not None and context.referral is not None and context.same_email:
        # Identified as one person after the binding: nobody earns on their own purchase.
        return Decision((), ("self_referral",))
    return decide(
        rules,
        ConversionContext(
            # the order before the friend's discount: what was paid plus what was claimed
            amount=new.amount + (claimed or 0),
            currency=new.currency,
            at=new.at,
            referral=referral,
            is_first_purchase=not context.bought_before,
            rewarded_roles=context.rewarded_roles - taking_over,
            claimed_discount=claimed,
            discount_taken=taken,
            converting=True,
        ),
    )


def _fast(context: Context, new: NewConversion) -> bool:
    """Whether this purchase came within ``fast_purchase`` of the referee's click."""
    if new.fast_purchase is None or context.clicked_at is None:
        return False
    return bool(timedelta(0) <= new.at - context.clicked_at <= new.fast_purchase)


def _reasons(first: list[str], plans: tuple[PlannedReward, ...], outcomes: list[Any]) -> str:
    """The conversion's reasons: ``first``, then for each plan ``<role>_rewarded`` or why not
    (``"already_rewarded"`` said once)."""
    reasons = list(first)
    for plan, outcome in zip(plans, outcomes, strict=True):
        reason = outcome if isinstance(outcome, str) else f"{plan.role}_rewarded"
        if reason != "already_rewarded" or reason not in reasons:
            reasons.append(reason)
    return ",".join(reasons)


def record(connection: Connection, new: NewConversion, offers: RuleSource) -> Recorded:
    """Record the purchase ``new`` and create the rewards its referral's rules (from
    ``offers``: the variant's, in an A/B test) grant it, or return the stored conversion if
    its order id was recorded before.

    :raises ConflictError: the order id was recorded with another customer, amount or
        currency.
    """
    customer = new.customer_id
    context = _context(connection, customer, new.order_id, new.at, new.pseudonyms)
    if context.erased is not None:  # the customer was erased: store under the pseudonym
        customer = context.erased
        context = _context(connection, customer, new.order_id, new.at, ())
    if context.replay:
        return _replay(connection, new, customer)

    referral = context.referral
    reasons: list[str] = []
    new_referral = None
    taken = context.rewards_taken
    if new.code_referrer_id is not None:
        bound = referral_step.attribute(
            connection,
            customer,
            new.code_referrer_id,
            "code",
            new.campaign,
            new.at,
            variant=new.variant,
        )
        if bound.created:
            new_referral = referral = bound.referral
            assert referral is not None
            rules = rules_for(offers, referral.variant)
            if rules is not None and rules.max_rewards_per_referrer is not None:
                found = REWARDS_TAKEN.scalar(connection, {"referrer_id": referral.referrer_id})
                taken = int(found or 0)
        elif bound.refused == "already_referred":
            reasons.append("code_ignored_already_referred")
        elif bound.refused in ("self_referral", "cycle", "same_email"):
            reasons.append("self_referral")
        elif bound.refused == "existing_customer":
            reasons.append("existing_customer")
    rules = rules_for(offers, referral.variant if referral is not None else None)
    claimed, discount_taken = None, False
    if rules is not None and rules.referee_discount is not None and referral is not None:
        claimed = claims.use(connection, new.order_id, customer, new.currency, new.at)
        discount_taken = claimed is None and claims.discount_taken(
            connection, customer, new.order_id, new.at
        )
    first_only = rules is not None and rules.first_purchase_only
    # The first purchase follows ``at``: pending rewards of later-dated orders move here.
    taking_over = context.later_roles if first_only else frozenset()
    decision = _decide(rules, context, new, referral, claimed, discount_taken, taking_over)
    reasons.extend(decision.reasons)
    if claimed is not None:
        reasons.append("discount_redeemed")
    cap = rules.max_rewards_per_referrer if rules is not None else None
    if cap is not None and "referrer" in taking_over:
        taken = max(0, taken - 1)  # the later order's reward gives its capped slot back
    # What the rewards will be, as far as this transaction can see: the cap as read.
    expected = [
        "cap_reached" if plan.role == "referrer" and cap is not None and taken >= cap else None
        for plan in decision.rewards
    ]
    values = {
        "order_id": new.order_id,
        "customer_id": customer,
        "amount_minor": new.amount_minor,
        "refunded_minor": 0,
        "currency": new.currency,
        "created_at": new.at,
        "referrer_id": referral.referrer_id if referral else None,
        "campaign": referral.campaign if referral else None,
        "channel": referral.channel if referral else None,
        "reasons": _reasons(reasons, decision.rewards, expected),
    }
    if insert_ignore(connection, conversions, values) is None:
        return _replay(connection, new, customer)  # recorded meanwhile by another call

    if referral is not None and _fast(context, new):
        review.flag(connection, referral.referee_id, referral.referrer_id, "fast_purchase", new.at)
    taken_over: list[EarnedReward] = []
    if taking_over:
        now = new.now or new.at
        taken_over, _ = reward_step.take_over(connection, customer, taking_over, new.at, now, cap)
    outcomes: list[Any] = []
    if decision.rewards:
        assert referral is not None
        hold = rules.hold_period if rules is not None else timedelta(0)
        plans = [plan for plan, why in zip(decision.rewards, expected, strict=True) if not why]
        created = iter(_create(connection, new, referral, plans, hold, cap, first_only, taken_over))
        outcomes = [why or next(created) for why in expected]
        stored_reasons = _reasons(reasons, decision.rewards, outcomes)
        if stored_reasons != values["reasons"]:
            # A race only the database could settle: on PostgreSQL a concurrent conversion
            # took the referrer's last capped slot, or another order of this referee got its
            # reward, between the read above and these writes (SQLite serializes writers,
            # so there it never happens). The row must still say why.
            connection.execute(SET_REASONS, {"order": new.order_id, "new_reasons": stored_reasons})
            values["reasons"] = stored_reasons
    earned = tuple(outcome for outcome in outcomes if not isinstance(outcome, str))
    if claimed is not None:
        discount = claims.discount_of(connection, new.order_id)
        earned = (*earned, *((discount,) if discount is not None else ()))
    stored = conversion_from_row(SimpleNamespace(**values), earned)
    return Recorded(stored, True, new_referral, tuple(taken_over))


def _create(
    connection: Connection,
    new: NewConversion,
    referral: Referral,
    plans: list[PlannedReward],
    hold: timedelta,
    cap: int | None,
    first_only: bool,
    taken_over: list[EarnedReward],
) -> list[reward_step.Outcome]:
    """Create the rewards of ``plans`` (:func:`refkit.steps.rewards.create`). With
    ``first_purchase_only``, a role refused because an order dated later holds it (on
    PostgreSQL, one committed after this transaction's read), or holds the referrer's last
    capped slot, is taken over, into ``taken_over``, and its reward created again: the
    earliest order wins whatever the timing, and the database still keeps one reward per
    role."""
    due = new.at + hold
    outcomes = reward_step.create(connection, new.order_id, referral, plans, new.at, due, cap)
    for _ in range(reward_step.TAKE_OVER_ROUNDS if first_only else 0):
        refused = {
            plan.role
            for plan, got in zip(plans, outcomes, strict=True)
            if got in ("already_rewarded", "cap_reached")
        }
        if not refused:
            break
        moved, raced = reward_step.take_over(
            connection, referral.referee_id, refused, new.at, new.now or new.at, cap
        )
        taken_over.extend(moved)
        roles = refused if raced else {reward.role for reward in moved}
        if not roles:
            break
        again = [plan for plan in plans if plan.role in roles]
        redone = iter(
            reward_step.create(connection, new.order_id, referral, again, new.at, due, cap)
        )
        outcomes = [
            next(redone) if plan.role in roles else got
            for plan, got in zip(plans, outcomes, strict=True)
        ]
    return outcomes
