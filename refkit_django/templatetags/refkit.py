"""``{% load refkit %}``: the logged-in user's code and link, the invite snippet, the offer.

======================================  ==========================================================
``{% refkit_link %}``                   the user's share link (``campaign="..."`` optional);
                                        empty when nobody is logged in
``{% refkit_code %}``                   the user's code; empty when nobody is logged in
``{% refkit_share_links as shares %}``  the share URLs of the user's link, by channel
                                        (``email``, ``whatsapp``, ``x``, ``facebook``,
                                        ``telegram``, ``sms``); empty when nobody is logged in
``{% refkit_qr %}``                     the user's link (channel ``qr``) as an inline SVG QR code
``{% refkit_invite %}``                 "Invite a friend": the link in a read-only field, the
                                        code, the share buttons and the QR code (template
                                        ``refkit_django/invite.html``)
``{% refkit_offer amount currency %}``  the friend's discount on this cart, when there is one
                                        (template ``refkit_django/offer.html``)
======================================  ==========================================================

The tags need the ``request`` in the context (``django.template.context_processors.request``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe

from refkit.dashboard.formatting import format_money

from .. import shop
from ..failures import guard

register = template.Library()


def _request(context: template.Context) -> HttpRequest | None:
    found = context.get("request")
    return found if isinstance(found, HttpRequest) else None


@register.simple_tag(takes_context=True)
def refkit_link(context: template.Context, campaign: str | None = None) -> str:
    """The logged-in user's share link, or ``""``."""
    request = _request(context)
    return (shop.share_link(request, campaign) or "") if request is not None else ""


@register.simple_tag(takes_context=True)
def refkit_code(context: template.Context) -> str:
    """The logged-in user's code, or ``""``."""
    request = _request(context)
    return (shop.code(request) or "") if request is not None else ""


@register.simple_tag(takes_context=True)
def refkit_share_links(context: template.Context, campaign: str | None = None) -> dict[str, str]:
    """The share URLs of the logged-in user's link by channel, or ``{}``."""
    request = _request(context)
    if request is None:
        return {}
    found: dict[str, str] | None = guard(lambda: shop.share_links(request, campaign))
    return found or {}


@register.simple_tag(takes_context=True)
def refkit_qr(context: template.Context, campaign: str | None = None) -> SafeString:
    """The logged-in user's link as an SVG QR code, or ``""``."""
    request = _request(context)
    if request is None:
        return mark_safe("")
    found: str | None = guard(lambda: shop.qr(request, campaign))
    # qr_svg draws the link and writes no text of it: its markup is safe as it is.
    return mark_safe(found or "")  # noqa: S308


#: The share buttons of the invite snippet: (channel, label).
SHARE_BUTTONS = (
    ("email", "Share by email"),
    ("whatsapp", "Share on WhatsApp"),
    ("x", "Share on X"),
    ("facebook", "Share on Facebook"),
    ("telegram", "Share on Telegram"),
    ("sms", "Share by SMS"),
)


@register.inclusion_tag("refkit_django/invite.html", takes_context=True)
def refkit_invite(context: template.Context, campaign: str | None = None) -> dict[str, Any]:
    """The "Invite a friend" snippet (nothing when nobody is logged in): the link, the code,
    the share buttons and the QR code."""
    request = _request(context)
    if request is None:
        return {"link": None}
    link = shop.share_link(request, campaign)
    if link is None:
        return {"link": None}
    shares = refkit_share_links(context, campaign)
    return {
        "link": link,
        "code": shop.code(request),
        "size": min(len(link), 30),
        "shares": [(channel, label, shares[channel]) for channel, label in SHARE_BUTTONS]
        if shares
        else [],
        "qr": refkit_qr(context, campaign),
    }


@register.inclusion_tag("refkit_django/offer.html", takes_context=True)
def refkit_offer(context: template.Context, amount: Any, currency: str) -> dict[str, Any]:
    """The friend's discount on a cart of ``amount`` in ``currency`` (nothing without one)."""
    request = _request(context)
    if request is None:
        return {"offer": None}
    offer = shop.offer(request, amount, currency)
    if offer.discount <= 0:
        return {"offer": None}
    total = Decimal(str(amount)) - offer.discount
    return {
        "offer": offer,
        "discount": format_money(offer.discount, offer.currency),
        "total": format_money(total, offer.currency),
    }
