"""What a shop's views call: signup, checkout, offers, and the user's code and link.

A logged-in customer is bound to a referrer at signup (:func:`attribute_signup`), never at a
later checkout: a customer who had an account before clicking someone's link is not the friend
the link was for. Only a guest checkout (nobody logged in) binds through the referral cookie,
with the A/B test variant the visitor was shown at the landing (kept in the cookie), and a
signup keeps the landing's share channel and UTM tags. A refkit failure never breaks the view:
it is logged and counted (raised under DEBUG for the shop's own mistakes, see
:mod:`refkit_django.failures`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar, cast

from django.db import transaction
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse

from refkit import Conversion, Offer, Referral, RefkitError
from refkit.capture import click_fingerprint, cookie_tags, variant_of
from refkit.sharing import QR_CHANNEL, SHARE_CHANNELS, qr_svg, share_urls, to_share_text
from refkit.validation import to_channel

from .conf import get_state
from .failures import guard
from .requests import clear, payload, request_state, user_id

__all__ = [
    "GUEST_ID",
    "attribute_signup",
    "captured_code",
    "claim_discount",
    "code",
    "conversion",
    "offer",
    "qr",
    "share_link",
    "share_links",
    "track_conversion",
]

F = TypeVar("F", bound=Callable[..., Any])
Amount = Decimal | int | float | str
#: The customer id an offer asks about for a guest: no orders, so the captured code decides.
GUEST_ID = "refkit-guest:anonymous"


def captured_code(request: HttpRequest) -> str | None:
    """The referral code this visitor arrived with (the valid signed cookie), if any."""
    found = payload(request)
    return None if found is None else str(found["code"])


def captured(request: HttpRequest) -> tuple[str | None, str | None]:
    """The code this visitor arrived with and the A/B test variant they were shown at the
    landing (kept in the cookie; ``None`` outside an experiment), or ``(None, None)``."""
    found = payload(request)
    if found is None:
        return None, None
    return str(found["code"]), variant_of(get_state().program, found)


def attribute_signup(
    request: HttpRequest,
    user_id: str | int,
    *,
    email: str | None = None,
    source: str = "link",
) -> Referral | None:
    """Bind a newly registered user to the referrer whose link they arrived with.

    Call it in the registration view once the user exists. ``email`` (the new user's) is
    registered with :meth:`refkit.ReferralProgram.identify` first, also when the visitor came
    without a code, so a second account on the same mailbox cannot refer itself. The click's
    fraud signals kept in the cookie go with the referral (with ``REFKIT["FLAG_SAME_DEVICE"]``,
    this request's too), and so do the landing's share channel and UTM tags and, in an A/B test,
    the variant the visitor was shown. The cookie is then deleted, so the next signup on a
    shared browser is not attributed.

    :returns: the referral, or ``None`` (no valid code; or refused: their own code, already
        referred, which is logged).
    """
    state = get_state()
    found = payload(request, state)
    if found is None:
        if email is not None:
            guard(lambda: state.program.identify(user_id, email=email))
        return None
    clear(request)
    signup = None
    if state.settings.flag_same_device:
        signup = state.program.fingerprint(
            ip=request.META.get("REMOTE_ADDR"), user_agent=request.headers.get("User-Agent")
        )
    tags = cookie_tags(found)
    variant = variant_of(state.program, found)  # the one the visitor was shown
    result: Referral | None = guard(
        lambda: state.program.attribute(
            user_id,
            str(found["code"]),
            source=source,  # type: ignore[arg-type]
            campaign=found.get("campaign"),
            email=email,
            click=click_fingerprint(found),
            signup=signup,
            channel=tags["channel"],
            utm_source=tags["utm_source"],
            utm_medium=tags["utm_medium"],
            utm_campaign=tags["utm_campaign"],
            variant=variant,
        )
    )
    return result


@dataclass(frozen=True, slots=True)
class _Pending:
    order_id: str | int
    customer_id: str | int
    amount: Amount
    currency: str
    code: str | None
    variant: str | None = None


def _customer(request: HttpRequest, customer_id: str | int | None) -> tuple[str | int, bool]:
    """The checkout's customer and whether they are a guest (nobody logged in)."""
    logged_in = user_id(request)
    if customer_id is not None:
        return customer_id, logged_in is None
    if logged_in is None:
        raise RefkitError("refkit_django needs customer_id when nobody is logged in")
    return logged_in, False


def conversion(
    request: HttpRequest,
    *,
    order_id: str | int,
    amount: Amount,
    currency: str,
    customer_id: str | int | None = None,
) -> Conversion | None:
    """Record a purchase once the shop's transaction commits.

    It is recorded on ``django.db.transaction.on_commit``: at once outside a transaction
    (and then returned), after the commit inside ``atomic`` or with ``ATOMIC_REQUESTS``, and
    never for an order that rolls back. Inside a :func:`track_conversion` view it waits for
    the view to answer below 400 too. The customer defaults to the logged-in user; a guest's
    order (``customer_id`` given, nobody logged in) binds through the referral cookie.
    """

    def pending() -> _Pending:
        customer, guest = _customer(request, customer_id)
        code, variant = captured(request) if guest else (None, None)
        return _Pending(order_id, customer, amount, currency, code, variant)

    found: _Pending | None = guard(pending)
    if found is None:
        return None
    queue = request_state(request).conversions
    if queue is not None:
        queue.append(found)
        return None
    return _on_commit(found)


def _on_commit(pending: _Pending) -> Conversion | None:
    done: list[Conversion | None] = []
    transaction.on_commit(lambda: done.append(_record(pending)))
    return done[0] if done else None


def _record(pending: _Pending) -> Conversion | None:
    result: Conversion | None = guard(
        lambda: get_state().program.record_conversion(
            pending.order_id,
            pending.customer_id,
            pending.amount,
            pending.currency,
            code=pending.code,
            variant=pending.variant,
        )
    )
    return result


def track_conversion(view: F) -> F:
    """Decorate a checkout view: the :func:`conversion` calls inside it are recorded once
    it answers below 400 (on ``transaction.on_commit``), and the discounts
    :func:`claim_discount` claimed inside it are released when it answers 400 or more or
    raises, so a failed payment never uses up the friend's discount."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        requested = request_state(request)
        outer, outer_claims = requested.conversions, requested.claims
        queued: list[_Pending] = []
        claimed: list[str | int] = []
        requested.conversions, requested.claims = queued, claimed
        try:
            try:
                response: HttpResponseBase = view(request, *args, **kwargs)
            finally:
                requested.conversions, requested.claims = outer, outer_claims
        except BaseException:
            _release(claimed)
            raise
        if response.status_code < 400:
            for pending in queued:
                _on_commit(pending)
        else:
            _release(claimed)
        return response

    return cast(F, wrapper)


def _release(orders: list[str | int]) -> None:
    program = get_state().program
    for order in orders:
        guard(functools.partial(program.release_discount, order))


def _unavailable(currency: str) -> Offer:
    shown = currency.strip().upper() if isinstance(currency, str) else str(currency)
    return Offer(Decimal(0), shown, None, ("unavailable",))


def offer(request: HttpRequest, amount: Amount, currency: str) -> Offer:
    """What the friend gets off this order now (:meth:`refkit.ReferralProgram.offer_for`,
    which stores nothing): show it in the cart. ``amount`` is the total before the discount.

    For the logged-in customer, their referral decides; for a guest, the captured code. A
    storage failure means no discount (``discount == 0``, reason ``"unavailable"``).
    """

    def work() -> Offer:
        customer = user_id(request)
        program = get_state().program
        if customer is None:
            code, variant = captured(request)
            return program.offer_for(GUEST_ID, amount, currency, code=code, variant=variant)
        return program.offer_for(customer, amount, currency)

    found: Offer | None = guard(work)
    return found if found is not None else _unavailable(currency)


def claim_discount(
    request: HttpRequest,
    order_id: str | int,
    amount: Amount,
    currency: str,
    *,
    customer_id: str | int | None = None,
) -> Offer:
    """Reserve the friend's discount for this order just before payment
    (:meth:`refkit.ReferralProgram.claim_discount`): charge ``amount - offer.discount``,
    then record the conversion with the amount paid.

    Inside a :func:`track_conversion` view the claim is released when the view answers 400
    or more or raises. The customer defaults to the logged-in user (a guest passes
    ``customer_id``, and binds through the referral cookie). A storage failure means no
    discount, never an error page.
    """

    def work() -> Offer:
        customer, guest = _customer(request, customer_id)
        code, variant = captured(request) if guest else (None, None)
        claim = get_state().program.claim_discount(
            order_id, customer, amount, currency, code=code, variant=variant
        )
        claimed = request_state(request).claims
        if claimed is not None and claim.order_id is not None and claim.discount > 0:
            claimed.append(order_id)
        return claim

    found: Offer | None = guard(work)
    return found if found is not None else _unavailable(currency)


def code(request: HttpRequest, user: str | int | None = None) -> str | None:
    """The user's referral code (the logged-in user by default), or ``None``."""
    subject = user if user is not None else user_id(request)
    if subject is None:
        return None
    result: str | None = guard(lambda: get_state().program.code_for(subject))
    return result


def share_link(
    request: HttpRequest, campaign: str | None = None, *, channel: str | None = None
) -> str | None:
    """The logged-in user's share link (``/r/<code>`` on this site, absolute), or ``None``.

    ``channel`` (``"email"``, ``"qr"``...) goes in ``REFKIT["CHANNEL_PARAM"]``: the landing
    keeps it with the visit and, through the cookie, with the referral.
    """
    found = code(request)
    if found is None:
        return None
    url = reverse("refkit:landing", kwargs={"code": found})
    program = get_state().program
    params = {}
    if campaign:
        params[program.campaign_param] = campaign
    if channel:
        params[program.channel_param] = to_channel(channel) or ""
    if params:
        from urllib.parse import urlencode

        url += "?" + urlencode(params)
    return request.build_absolute_uri(url)


def share_links(
    request: HttpRequest, campaign: str | None = None, *, text: str | None = None
) -> dict[str, str] | None:
    """Ready share URLs of the logged-in user's link, one per channel (email, WhatsApp, X,
    Facebook, Telegram, SMS: :func:`refkit.sharing.share_urls`), each holding the landing
    link with its own channel; ``None`` when anonymous.

    :param text: the message before the link; ``REFKIT["SHARE_TEXT"]`` by default.
    :raises refkit.ValidationError: a bad campaign or text.
    """
    program = get_state().program
    message = program.share_text if text is None else to_share_text(text)
    links = {}
    for channel in SHARE_CHANNELS:
        link = share_link(request, campaign, channel=channel)
        if link is None:
            return None
        links[channel] = link
    return share_urls(links, message, program.share_subject)


def qr(request: HttpRequest, campaign: str | None = None) -> str | None:
    """The logged-in user's share link (channel ``"qr"``) as an SVG QR code
    (:func:`refkit.sharing.qr_svg`), or ``None`` when anonymous."""
    link = share_link(request, campaign, channel=QR_CHANNEL)
    return None if link is None else qr_svg(link)
