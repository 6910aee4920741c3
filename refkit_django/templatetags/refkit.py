"""``{% load refkit %}``: the logged-in user's code and link, the invite snippet, the offer.

======================================  ==========================================================
``{% refkit_link %}``                   the user's share link (``campaign="..."`` optional);
                                        empty when nobody is logged in
``{% refkit_code %}``                   the user's code; empty when nobody is logged in
``{% refkit_invite %}``                 "Invite a friend": the link in a read-only field and the
                                        code (template ``refkit_django/invite.html``)
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

from refkit.dashboard.formatting import format_money

from .. import shop

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


@register.inclusion_tag("refkit_django/invite.html", takes_context=True)
def refkit_invite(context: template.Context, campaign: str | None = None) -> dict[str, Any]:
    """The "Invite a friend" snippet (nothing when nobody is logged in)."""
    request = _request(context)
    if request is None:
        return {"link": None}
    return {"link": shop.share_link(request, campaign), "code": shop.code(request)}


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
