"""The friend's discount at checkout: :meth:`offer_for`, :meth:`claim_discount` and
:meth:`release_discount`, mixed into :class:`refkit.ReferralProgram`.

The checkout sequence is offer -> claim -> pay -> convert: the shop shows the offer, claims
the discount when the customer pays (a reservation, at most one live or used per referee),
charges the total minus the discount, and records the conversion with the amount paid. A
failed payment releases the claim; a claim not converted within ``claim_ttl`` lapses.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from .calls.base import Base
from .joined import Joinable
from .models import Offer
from .money import to_amount, to_currency, to_minor
from .privacy import PSEUDONYM_PREFIX
from .steps import claims
from .validation import to_id

__all__ = ["DEFAULT_CLAIM_TTL", "Discounts"]

#: A claimed discount not converted within this time lapses (the ``claim_ttl`` option).
DEFAULT_CLAIM_TTL: Final = timedelta(hours=1)


class Discounts(Base):
    """The discount calls of :class:`refkit.ReferralProgram` (see the module's doc)."""

    def _checkout(
        self,
        order_id: str | int | None,
        customer_id: str | int,
        amount: Decimal | int | float | str,
        currency: str,
        code: object,
        at: datetime | None,
        variant: str | None,
    ) -> claims.Checkout:
        order = None if order_id is None else to_id(order_id, "order_id")
        customer = to_id(customer_id, "customer_id")
        chosen = self._variant(variant, None if code is None else customer)
        money = to_currency(currency)
        value = to_amount(amount, currency=money)
        to_minor(value, money)
        when = self._now(at)
        referrer = None if code is None else self.resolve(code)
        return claims.Checkout(order, customer, value, money, when, referrer, chosen)

    def offer_for(
        self,
        customer_id: str | int,
        amount: Decimal | int | float | str,
        currency: str,
        *,
        code: object = None,
        at: datetime | None = None,
        variant: str | None = None,
        connection: Joinable | None = None,
    ) -> Offer:
        """What the friend would get off this order now (``RewardRules.referee_discount``);
        stores nothing.

        :param amount: the order's total before the referral discount.
        :param code: for a guest, the captured or typed code (the referral
            :meth:`record_conversion` would make with it).
        :param variant: in an A/B test (:class:`~refkit.Experiment`), the variant of that
            guest's referral (the one they were shown); by default assigned from the
            customer id. A referred customer's offer follows their referral's variant.
        :returns: an :class:`~refkit.Offer`: ``discount`` (``0`` with the reasons when
            there is none), and ``expires_at``, when the offer lapses (the end of the
            attribution window, or of the offer for a guest), or ``None``.
        :raises ValidationError: a bad id, amount, currency or time.
        :raises InvalidCode: ``code`` is not one of this program's (or was revoked).
        """
        checkout = self._checkout(None, customer_id, amount, currency, code, at, variant)
        offers = self._offers
        return self._read(lambda c: claims.offer(c, offers, checkout), connection)

    def claim_discount(
        self,
        order_id: str | int,
        customer_id: str | int,
        amount: Decimal | int | float | str,
        currency: str,
        *,
        code: object = None,
        at: datetime | None = None,
        variant: str | None = None,
        connection: Joinable | None = None,
    ) -> Offer:
        """Reserve the friend's discount for this order before payment.

        At most one claim per referee is live or used, enforced by the database; the same
        ``order_id`` again returns the same claim. Another order of the same referee gets
        ``discount == 0`` and the reason ``"discount_already_claimed"``. A claim not
        converted within ``claim_ttl`` (one hour by default) lapses; :meth:`release_discount`
        frees it at once. Charge ``amount - offer.discount``, then record the conversion
        with the amount paid. With ``connection=``, the claim is written in the caller's
        transaction (:mod:`refkit.joined`) and lives or dies with the shop's order.

        :param amount: the order's total before the referral discount.
        :param code: for a guest, the typed or captured code: it binds the customer, as
            :meth:`record_conversion` would.
        :param variant: the variant of the referral ``code`` makes (see :meth:`offer_for`).
        :returns: the claim, as an :class:`~refkit.Offer` with ``order_id`` and
            ``expires_at`` (``None`` once used).
        :raises ConflictError: the order id claimed a discount with another customer,
            amount or currency.
        """
        checkout = self._checkout(order_id, customer_id, amount, currency, code, at, variant)
        if checkout.customer_id.startswith(PSEUDONYM_PREFIX):
            return Offer(Decimal(0), checkout.currency, None, ("not_referred",))
        offers, ttl = self._offers, self.claim_ttl
        return self._write(lambda c: claims.claim(c, offers, checkout, ttl), connection)

    def release_discount(self, order_id: str | int, *, connection: Joinable | None = None) -> bool:
        """Free the order's live claim at once (the payment failed, the cart was
        abandoned); ``False`` if the order holds none (never claimed, released, lapsed,
        or used by its conversion)."""
        order = to_id(order_id, "order_id")
        return self._write(lambda c: claims.release(c, order), connection)
