"""The owner's dashboard at ``refkit/admin/``, for users with ``refkit_django.view_dashboard``.

=============================================  =============================================
``GET  refkit/admin/``                         the dashboard (``?days=7|30|90|365|all``,
                                               ``?by=day|week``)
``GET  refkit/admin/referrer/?id=<user id>``   one referrer: referrals, orders, ledger
``POST refkit/admin/rewards/<id>/approve``     approve a pending reward now (``/revoke``)
``POST refkit/admin/rewards/approve-due/``     approve every reward past its hold period
``POST refkit/admin/payouts/``                 record a payout (idempotent by reference)
``POST refkit/admin/referrals/clear/``         clear a referral's review flags
=============================================  =============================================

The pages are the Flask extension's, not a copy: the same Jinja templates, page data and SVG
charts (``refkit.dashboard``), from the program's public read model. Everyone without the
permission (anonymous users included) gets 403. The forms carry Django's CSRF token (the POST
views are ``csrf_protect``-ed) and answer with a redirect back to the dashboard's ``#notice``,
which takes the focus. People are named by ``REFKIT["DISPLAY_NAME"]`` (each id looked up once
per request; a failing loader is logged once on the ``refkit.django`` logger and the ids are
shown).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

import jinja2
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseBase,
    HttpResponseForbidden,
    HttpResponseNotFound,
    HttpResponseRedirect,
)
from django.middleware.csrf import get_token
from django.urls import reverse
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST, require_safe

from refkit import ConflictError, ValidationError
from refkit.dashboard import data, page
from refkit.dashboard.names import Names

from .conf import get_state

__all__ = ["PERMISSION", "approve_due", "dashboard", "decide", "referrer", "stylesheet"]

#: The permission the pages ask for.
PERMISSION = "refkit_django.view_dashboard"
CSRF_FIELD = "csrfmiddlewaretoken"
F = TypeVar("F", bound=Callable[..., HttpResponseBase])
log = logging.getLogger("refkit.django")

_ENDPOINTS = {
    ".admin": "refkit:dashboard",
    ".referrer": "refkit:referrer",
    "refkit.referrer": "refkit:referrer",
    ".decide": "refkit:decide",
    ".approve_due": "refkit:approve_due",
    ".pay_out": "refkit:pay_out",
    ".clear_flags": "refkit:clear_flags",
    "refkit.static": "refkit:stylesheet",
}
_PATH_PARAMS = {"reward_id", "action"}


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(page.TEMPLATES), autoescape=True, auto_reload=False
    )


def url_for(endpoint: str, **params: Any) -> str:
    """The templates' ``url_for``: Flask's endpoint names mapped to this app's URL names."""
    anchor = params.pop("_anchor", None)
    params.pop("filename", None)
    path_params = {k: params.pop(k) for k in list(params) if k in _PATH_PARAMS}
    url = reverse(_ENDPOINTS[endpoint], kwargs=path_params or None)
    query = {k: v for k, v in params.items() if v is not None}
    if query:
        url += "?" + urlencode(query)
    return url + (f"#{anchor}" if anchor else "")


def _render(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    context.update(url_for=url_for, csrf_token=lambda: get_token(request), csrf_field=CSRF_FIELD)
    response = HttpResponse(_environment().get_template(template).render(context))
    response["Cache-Control"] = "no-store"
    return _secured(response)


def _secured(response: HttpResponse) -> HttpResponse:
    for name, value in page.SECURITY_HEADERS.items():
        response[name] = value
    return response


def _allowed(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.has_perm(PERMISSION))


def dashboard_only(view: F) -> F:
    """403 for everyone without :data:`PERMISSION`."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not _allowed(request):
            return _secured(HttpResponseForbidden("You may not see the referral program."))
        return view(request, *args, **kwargs)

    return cast(F, wrapper)


@require_safe
@dashboard_only
def dashboard(request: HttpRequest) -> HttpResponse:
    """The dashboard: funnel, money over time, leaderboard, campaigns, rewards due..."""
    state = get_state()
    program = state.program
    shown = data.period(program.clock(), request.GET.get("days"), request.GET.get("by"))
    context = page.dashboard_context(
        program, shown, done=page.notice(request.GET), name=_names(state.settings.display_name)
    )
    context["failures"] = state.failures.recent(program.clock())
    return _render(request, "refkit/admin.html", context)


@require_safe
@dashboard_only
def referrer(request: HttpRequest) -> HttpResponse:
    """One referrer's page."""
    state = get_state()
    try:
        context = page.referrer_context(
            state.program, request.GET.get("id", ""), name=_names(state.settings.display_name)
        )
    except ValidationError:
        return HttpResponseNotFound("There is no such user id.")
    return _render(request, "refkit/referrer.html", context)


@require_safe
@dashboard_only
def stylesheet(request: HttpRequest) -> HttpResponse:
    """The pages' stylesheet (refkit's own: the CSP allows styles from this site only)."""
    response = HttpResponse(_stylesheet(), content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@functools.cache
def _stylesheet() -> bytes:
    return (page.STATIC / "admin.css").read_bytes()


def _names(loader: Callable[[str], str | None] | None) -> Names:
    """This request's name lookups through ``REFKIT["DISPLAY_NAME"]``."""
    return Names(loader, log, 'REFKIT["DISPLAY_NAME"]')


def _back(request: HttpRequest, **outcome: Any) -> HttpResponseRedirect:
    """Redirect to the dashboard's notice, in the period the form was sent from: the browser
    scrolls to it and moves the focus there."""
    days, by = request.POST.get("days"), request.POST.get("by")
    keep = {
        "days": days if days in data.PERIODS else None,
        "by": by if by in data.BUCKETS else None,
    }
    return HttpResponseRedirect(url_for(".admin", **keep, **outcome, _anchor="notice"), status=303)


@require_POST
@csrf_protect
@dashboard_only
def decide(request: HttpRequest, reward_id: str, action: str) -> HttpResponseBase:
    """Approve or revoke one pending reward."""
    program = get_state().program
    number = int(reward_id)
    changed = program.approve(number) if action == "approve" else program.revoke(number)
    done = "unchanged" if changed is None else f"{action}d"
    return _back(request, done=done, reward=str(reward_id))


@require_POST
@csrf_protect
@dashboard_only
def approve_due(request: HttpRequest) -> HttpResponseBase:
    """Approve every reward whose hold period has passed."""
    approved = get_state().program.approve_due()
    return _back(request, done="approved_due", count=str(len(approved)))


@require_POST
@csrf_protect
@dashboard_only
def pay_out(request: HttpRequest) -> HttpResponseBase:
    """Record a payout of an approved balance."""
    form = request.POST
    try:
        get_state().program.pay_out(
            form.get("user", ""),
            form.get("amount", ""),
            form.get("currency", ""),
            reference=form.get("reference", ""),
        )
    except (ValidationError, ConflictError) as error:
        return HttpResponseBadRequest(
            f"The payout was not recorded: {' '.join(str(error).split())}"
        )
    return _back(request, done="paid_out")


@require_POST
@csrf_protect
@dashboard_only
def clear_flags(request: HttpRequest) -> HttpResponseBase:
    """Clear a referral's review flags."""
    try:
        cleared = get_state().program.clear_flags(request.POST.get("referee", ""))
    except ValidationError:
        return HttpResponseBadRequest("There is no such referee.")
    return _back(request, done="cleared", count=str(cleared))
