"""The landing route and the JSON API (the dashboard is :mod:`refkit_django.admin`).

=========================  ================================================================
``GET  r/<code>``          captures the code (as ``?ref=``) and redirects to ``?next=`` when
                           it is a local path, else to ``REFKIT["LANDING_REDIRECT"]``
``GET  refkit/api/me``     the logged-in user's code, share link, share URLs, stats, balance
                           and milestone progress (401: anonymous)
``GET  refkit/api/offer``  ``?amount=&currency=``: the friend's discount on this order (a
                           guest: through the referral cookie); never says who the referrer is
=========================  ================================================================

Every API answer is JSON, errors included (``{"error": "..."}``), and never cached.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.http import require_safe

from refkit import InvalidCode, Offer, RefkitError, StorageError, ValidationError
from refkit.capture import safe_local_path
from refkit.serialize import milestone_json, money, offer_json, stats_json

from .conf import get_state
from .failures import guard
from .middleware import capture
from .requests import user_id
from .shop import GUEST_ID, captured, share_link, share_links

__all__ = ["api_me", "api_offer", "landing"]


@require_safe
def landing(request: HttpRequest, code: str) -> HttpResponse:
    """``GET /r/<code>``: capture, then redirect (an invalid code still redirects)."""
    state = get_state()
    guard(lambda: capture(request, code, state))
    target = safe_local_path(request.GET.get("next"), state.settings.landing_redirect)
    return HttpResponseRedirect(target)


landing.refkit_landing = True  # type: ignore[attr-defined]


def _json(data: dict[str, Any], status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _error(error: RefkitError) -> JsonResponse:
    if isinstance(error, ValidationError):
        return _json({"error": " ".join(str(error).split())}, 400)
    if isinstance(error, StorageError):
        return _json(
            {"error": "the referral program is unavailable right now; try again later"}, 503
        )
    return _json({"error": "the referral program failed; the error is in the server log"}, 500)


@require_safe
def api_me(request: HttpRequest) -> JsonResponse:
    """The logged-in user's code, share link and share URLs, stats, balances and milestone
    progress."""
    user = user_id(request)
    if user is None:
        return _json({"error": "nobody is logged in: log in to see your referral code"}, 401)
    try:
        program = get_state().program
        stats = program.stats_for(user)
        return _json(
            {
                "user_id": user,
                "code": program.code_for(user),
                "link": share_link(request),
                "share_links": share_links(request) or {},
                "stats": stats_json(stats),
                "balance": {c: money(v) for c, v in stats.balance_by_currency.items()},
                "debt": {c: money(v) for c, v in stats.debt_by_currency.items()},
                "milestone_progress": stats.milestone_progress,
                "next_milestone": milestone_json(stats.next_milestone),
            }
        )
    except RefkitError as error:
        return _error(error)


@require_safe
def api_offer(request: HttpRequest) -> JsonResponse:
    """The friend's discount on an order of ``?amount=`` in ``?currency=``."""
    amount, currency = request.GET.get("amount", ""), request.GET.get("currency", "")
    if not amount or not currency:
        return _json({"error": "amount and currency are required: ?amount=40.00&currency=EUR"}, 400)
    try:
        Decimal(amount.strip())
    except InvalidOperation:
        return _json({"error": f"amount must be a decimal number, not {amount[:40]!r}"}, 400)
    program = get_state().program
    customer = user_id(request)
    code, variant = captured(request) if customer is None else (None, None)
    try:
        try:
            found = program.offer_for(
                customer or GUEST_ID, amount, currency, code=code, variant=variant
            )
        except InvalidCode as error:  # a code that stopped resolving: no discount, and why
            program.offer_for(GUEST_ID, amount, currency)  # a bad amount is still a 400
            found = Offer(Decimal(0), currency.strip().upper(), None, (f"code_{error.reason}",))
        return _json(offer_json(found, amount))
    except RefkitError as error:
        return _error(error)
