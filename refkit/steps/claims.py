"""The friend's discount: offered (a preview), claimed before payment, used by the order's
conversion, released or lapsed.

One referee holds at most one live, used or refunded claim: ``refkit_discount_claims.slot``
is the referee's id while it does, and UNIQUE (``slot``) settles every race. A live claim
past its ``expires_at`` lapses lazily, the next time anyone claims for that referee: no
background job. Every figure comes from :func:`refkit.rules.decide`, the decision
:func:`refkit.steps.conversions.record` uses too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Connection, String, and_, bindparam, exists, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import ConflictError
from ..experiments import RuleSource, rules_for
from ..models import EarnedReward, Offer, Referral
from ..money import from_minor, to_minor
from ..rules import ConversionContext, Decision, RewardRules, decide
from ..storage.dialects import insert_ignore
from ..storage.prepared import Prepared
from ..storage.records import REFERRAL_COLUMNS, referral_from_row
from ..storage.schema import (
    CLAIM_HELD,
    UTCDateTime,
    conversions,
    discount_claims,
    referrals,
    rewards,
)
from . import referrals as referral_step

__all__ = [
    "Checkout",
    "claim",
    "discount_of",
    "discount_taken",
    "offer",
    "on_refund",
    "release",
    "use",
]

claims = discount_claims

#: Lapse referee ``:referee``'s live claims whose time ran out at ``:now``.
LAPSE: Final = (
    update(claims)
    .where(
        claims.c.referee_id == bindparam("referee", type_=String),
        claims.c.status == "live",
        claims.c.expires_at <= bindparam("now"),
    )
    .values(status="lapsed", slot=None)
)
#: The claim of order ``:order_id``.
CLAIM_OF: Final = select(claims).where(claims.c.order_id == bindparam("order_id", type_=String))


@dataclass(frozen=True, slots=True)
class Checkout:
    """An order at checkout, validated: ``amount`` is the total before the discount."""

    order_id: str | None
    customer_id: str
    amount: Decimal
    currency: str
    at: datetime
    code_referrer_id: str | None = None
    #: the A/B test variant of the referral ``code_referrer_id`` makes
    variant: str | None = None


def discount_taken(
    connection: Connection, referee: str, order_id: str | None, now: datetime | None = None
) -> bool:
    """Whether another order of ``referee`` holds (or used) the discount; with ``now``, a
    live claim whose time ran out does not count (it lapses at the next claim)."""
    held = and_(claims.c.slot == referee)
    if order_id is not None:
        held = and_(held, claims.c.order_id != order_id)
    if now is not None:
        held = and_(held, or_(claims.c.status != "live", claims.c.expires_at > now))
    return bool(connection.execute(select(exists().where(held))).scalar())


def _lapse(connection: Connection, referee: str, now: datetime) -> None:
    connection.execute(LAPSE, {"referee": referee, "now": now})


def _offer_context() -> Any:
    customer = bindparam("customer", type_=String)
    order_id = bindparam("order_id", type_=String)
    one = select(literal(1).label("one")).subquery("one")

    def rewarded(role: str) -> Any:
        return exists().where(
            rewards.c.referee_id == customer, rewards.c.role == role, rewards.c.slot == 0
        )

    return select(
        *(referrals.c[name] for name in REFERRAL_COLUMNS),
        exists().where(conversions.c.customer_id == customer).label("bought"),
        rewarded("referrer").label("referrer_rewarded"),
        rewarded("referee").label("referee_rewarded"),
        exists()
        .where(
            claims.c.slot == customer,
            or_(order_id.is_(None), claims.c.order_id != order_id),
            or_(claims.c.status != "live", claims.c.expires_at > bindparam("now")),
        )
        .label("discount_taken"),
    ).select_from(one.outerjoin(referrals, referrals.c.referee_id == customer))


#: Everything an offer decides on, in one row, for customer ``:customer`` checking out order
#: ``:order_id`` (``NULL``: no order yet) at ``:now``: their referral (all ``None`` if not
#: referred), whether they bought before, the roles their referral was rewarded for, and
#: whether another order holds their discount (see :func:`discount_taken`). Rendered once
#: per dialect: building these reads per call cost more than running them.
OFFER_CONTEXT: Final = Prepared(
    _offer_context(), ("customer", "order_id", "now"), {"now": UTCDateTime()}
)


def _decision(
    connection: Connection, offers: RuleSource, checkout: Checkout
) -> tuple[Decision, Referral | None, bool, RewardRules | None]:
    """The decision for ``checkout`` and the referral it is made for (a guest's typed code
    makes a referral that is not stored yet); whether that referral is bound already; the
    rules it follows (its variant's, in an A/B test)."""
    parameters = {
        "customer": checkout.customer_id,
        "order_id": checkout.order_id,
        "now": checkout.at,
    }
    row = OFFER_CONTEXT.row(connection, parameters)
    assert row is not None  # one row, referred or not
    referral = None if row.referrer_id is None else referral_from_row(row)
    bound = referral is not None
    code_referrer = checkout.code_referrer_id
    if referral is None and code_referrer is not None and code_referrer != checkout.customer_id:
        referral = Referral(
            checkout.customer_id, code_referrer, "code", checkout.at, variant=checkout.variant
        )
    rules = rules_for(offers, referral.variant if referral is not None else None)
    roles = ("referrer", "referee")
    context = ConversionContext(
        amount=checkout.amount,
        currency=checkout.currency,
        at=checkout.at,
        referral=referral,
        is_first_purchase=not row.bought,
        rewarded_roles=frozenset(role for role in roles if getattr(row, f"{role}_rewarded")),
        discount_taken=bool(row.discount_taken),
    )
    return decide(rules, context), referral, bound, rules


def _offer_expiry(
    rules: RewardRules | None, referral: Referral | None, bound: bool
) -> datetime | None:
    if rules is None or referral is None:
        return None
    ends = []
    if rules.attribution_window is not None:
        ends.append(referral.created_at + rules.attribution_window)
    if not bound and rules.ends_at is not None:
        ends.append(rules.ends_at)
    return min(ends, default=None)


def offer(connection: Connection, offers: RuleSource, checkout: Checkout) -> Offer:
    """What the friend would get off ``checkout`` now; reads only."""
    decision, referral, bound, rules = _decision(connection, offers, checkout)
    reasons = decision.reasons + (("discount_offered",) if decision.discount > 0 else ())
    return Offer(
        discount=decision.discount,
        currency=checkout.currency,
        referrer_id=referral.referrer_id if referral else None,
        reasons=reasons,
        expires_at=_offer_expiry(rules, referral, bound) if decision.discount > 0 else None,
    )


def _stored(row: Any, reasons: tuple[str, ...]) -> Offer:
    return Offer(
        discount=from_minor(row.discount_minor, row.currency),
        currency=row.currency,
        referrer_id=row.referrer_id,
        reasons=reasons,
        expires_at=row.expires_at if row.status == "live" else None,
        order_id=row.order_id,
    )


def _same_order(row: Any, checkout: Checkout) -> None:
    minor = to_minor(checkout.amount, checkout.currency)
    for field, old, given in (
        ("customer_id", row.referee_id, checkout.customer_id),
        ("amount", row.amount_minor, minor),
        ("currency", row.currency, checkout.currency),
    ):
        if old != given:
            raise ConflictError(
                row.order_id,
                f"order {row.order_id!r} claimed a discount with another {field}; an order id "
                "identifies one order (release_discount() it, or use a new id for a new order)",
            )


def claim(connection: Connection, offers: RuleSource, checkout: Checkout, ttl: timedelta) -> Offer:
    """Reserve the friend's discount for ``checkout.order_id`` until ``at + ttl``.

    The same order again returns its live or used claim. A released or lapsed claim of the
    same order is claimed afresh.
    """
    order_id = checkout.order_id
    assert order_id is not None
    row = connection.execute(CLAIM_OF, {"order_id": order_id}).first()
    if row is not None:
        live = row.status == "live" and row.expires_at > checkout.at
        if live or row.status in ("used", "refunded"):
            _same_order(row, checkout)
            return _stored(row, ("discount_claimed",))
        # released or lapsed: the cart may have changed; it is claimed afresh below
    if checkout.code_referrer_id is not None:  # a guest's typed code binds, as at conversion
        referral_step.attribute(
            connection,
            checkout.customer_id,
            checkout.code_referrer_id,
            "code",
            None,
            checkout.at,
            variant=checkout.variant,
        )
        checkout = replace(checkout, code_referrer_id=None)  # bound now, or refused
    _lapse(connection, checkout.customer_id, checkout.at)  # frees the slot of a stale claim
    decision, referral, _, _ = _decision(connection, offers, checkout)
    if decision.discount <= 0 or referral is None:
        return Offer(
            Decimal(0),
            checkout.currency,
            None if referral is None else referral.referrer_id,
            decision.reasons,
            order_id=order_id,
        )
    values = {
        "order_id": order_id,
        "referee_id": checkout.customer_id,
        "referrer_id": referral.referrer_id,
        "slot": checkout.customer_id,
        "status": "live",
        "amount_minor": to_minor(checkout.amount, checkout.currency),
        "discount_minor": to_minor(decision.discount, checkout.currency, "discount"),
        "currency": checkout.currency,
        "created_at": checkout.at,
        "expires_at": checkout.at + ttl,
        "used_at": None,
    }
    if row is not None:  # released or lapsed: claim it again, if the slot is free
        with connection.begin_nested() as nested:
            try:
                connection.execute(
                    update(claims).where(claims.c.order_id == order_id).values(**values)
                )
            except IntegrityError:
                nested.rollback()
                return _taken(checkout, referral)
    elif insert_ignore(connection, claims, values) is None:
        # The referee's slot is taken, or this very order was claimed meanwhile.
        again = connection.execute(CLAIM_OF, {"order_id": order_id}).first()
        if again is not None and again.status in CLAIM_HELD:
            _same_order(again, checkout)
            return _stored(again, ("discount_claimed",))
        return _taken(checkout, referral)
    stored = connection.execute(CLAIM_OF, {"order_id": order_id}).one()
    return _stored(stored, ("discount_claimed",))


def _taken(checkout: Checkout, referral: Referral) -> Offer:
    """Another order took the referee's discount first (the unique slot said so)."""
    return Offer(
        Decimal(0),
        checkout.currency,
        referral.referrer_id,
        ("discount_already_claimed",),
        order_id=checkout.order_id,
    )


def release(connection: Connection, order_id: str) -> bool:
    """Free the live claim of ``order_id`` at once; ``False`` if it has none."""
    freed = connection.execute(
        update(claims)
        .where(claims.c.order_id == order_id, claims.c.status == "live")
        .values(status="released", slot=None)
    )
    return freed.rowcount == 1


def use(
    connection: Connection, order_id: str, customer: str, currency: str, at: datetime
) -> Decimal | None:
    """Mark the claim of ``order_id`` used by its conversion; the discount it gave, or
    ``None`` when the order holds none (never claimed, released, or lapsed and the
    referee's discount taken since by another order).

    A claim whose ``claim_ttl`` ran out still counts when its own order converts, as long
    as no other order took the discount since: the customer paid the reduced price. So
    whether an unrelated call lapsed it in between makes no difference.

    :raises ConflictError: the order was claimed for another customer.
    """
    row = connection.execute(CLAIM_OF, {"order_id": order_id}).first()
    if row is None or row.status not in ("live", "lapsed"):
        return None
    if (row.referee_id, row.currency) != (customer, currency):
        raise ConflictError(
            order_id,
            f"order {order_id!r} claimed a discount for another customer or currency; an "
            "order id identifies one order",
        )
    try:
        with connection.begin_nested():  # a lapsed claim takes the referee's slot back
            used = connection.execute(
                update(claims)
                .where(claims.c.order_id == order_id, claims.c.status.in_(("live", "lapsed")))
                .values(status="used", used_at=at, slot=row.referee_id)
            )
    except IntegrityError:
        return None  # another order holds the referee's one discount now
    return from_minor(row.discount_minor, row.currency) if used.rowcount == 1 else None


def discount_of(connection: Connection, order_id: str) -> EarnedReward | None:
    """The discount order ``order_id`` used, as a reward record, or ``None``."""
    row = connection.execute(CLAIM_OF, {"order_id": order_id}).first()
    if row is None or row.status not in ("used", "refunded"):
        return None
    value = from_minor(row.discount_minor, row.currency)
    return EarnedReward(
        id=-row.id,
        order_id=row.order_id,
        beneficiary_id=row.referee_id,
        role="referee",
        kind="discount",
        value=value,
        currency=row.currency,
        status="redeemed" if row.status == "used" else "reversed",
        created_at=row.used_at,
        due_at=row.used_at,
        referee_id=row.referee_id,
        referrer_id=row.referrer_id,
        original_value=value,
    )


def on_refund(connection: Connection, order_id: str) -> None:
    """A full refund of an order reverses its discount: it no longer counts in the reward
    cost. The claim keeps the referee's slot: a refunded order does not give the discount
    back for another order."""
    full = select(
        exists().where(
            conversions.c.order_id == order_id,
            conversions.c.refunded_minor >= conversions.c.amount_minor,
        )
    )
    if connection.execute(full).scalar():
        connection.execute(
            update(claims)
            .where(claims.c.order_id == order_id, claims.c.status == "used")
            .values(status="refunded")
        )
