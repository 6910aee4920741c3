"""Capturing referrals: ``?ref=`` on any page and ``GET /r/<code>``.

A valid code records a visit (not for HEAD requests or link-preview bots, and at most once per
visitor, code and day) and is kept in a signed cookie (HttpOnly, SameSite=Lax, Secure over
HTTPS) for the attribution window, with the click's fraud signals (keyed hashes of the IP
address and User-Agent, never the raw values) for the check at signup. First touch wins: a
later code never replaces a valid earlier one (one that still resolves: the code of an
erased referrer, or one signed with a dropped key, gives way to the next valid link). An
invalid code sets nothing and records nothing. The landing's share channel
(``REFKIT_CHANNEL_PARAM``) and UTM tags are kept with the visit and, through the cookie, with
the referral; in an A/B test the visitor's variant is assigned at the landing and kept in the
cookie (never taken from the URL). Redirects go only to local paths; anything
else falls back to the landing page.

The decision is the framework-agnostic :mod:`refkit.capture` (shared with the Django app);
this module reads the request and hands the payload to :mod:`refkit_flask.cookie`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from flask import Blueprint, Response, current_app, redirect, request

from refkit import Fingerprint
from refkit import capture as core
from refkit.capture import UTM_TAGS, cookie_tags, is_bot, safe_local_path

from . import cookie, signals
from .config import Settings
from .headers import register_security_headers
from .state import RefKitState, first_value, get_state, guard

__all__ = [
    "UTM_TAGS",
    "capture",
    "capture_query_param",
    "cookie_tags",
    "is_bot",
    "landing_blueprint",
    "landing_tags",
    "request_fingerprint",
    "safe_local_path",
]


def capture(state: RefKitState, code: str, campaign: str | None) -> bool:
    """Record a visit for ``code`` and remember it in the cookie; True if the code is valid.

    The decision is the core's (:func:`refkit.capture.capture`, shared with every framework);
    nothing is recorded for HEAD requests or bots, but a valid code still answers True so
    the landing route redirects the same way.
    """
    args = request.args.to_dict()  # the landing's query parameters (campaign, utm_*...)
    args.pop(state.settings.campaign_param, None)
    if campaign is not None:
        args[state.settings.campaign_param] = campaign
    landing = core.Landing(
        code=code,
        method=request.method,
        user_agent=request.headers.get("User-Agent"),
        ip=request.remote_addr,
        args=args,
    )
    captured = core.capture(
        state.program,
        landing,
        cookie.payload(state),
        campaign_param=state.settings.campaign_param,
        channel_param=state.settings.channel_param,
        bots=state.settings.bot_user_agents,
    )
    if captured.payload is not None:
        cookie.set_payload(captured.payload)
    if captured.visitor:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        signals.referral_captured.send(app, record=captured.code)
    return captured.valid


def request_fingerprint(state: RefKitState) -> Fingerprint:
    """This request's fraud signals: keyed hashes of its IP address and User-Agent (the raw
    values are neither stored nor put in the cookie)."""
    return state.program.fingerprint(
        ip=request.remote_addr, user_agent=request.headers.get("User-Agent")
    )


def landing_tags(state: RefKitState) -> dict[str, str | None]:
    """This request's share channel (``REFKIT_CHANNEL_PARAM``) and UTM tags, each ``None``
    when absent or not what the core accepts (:func:`refkit.capture.landing_tags`)."""
    return core.landing_tags(request.args.to_dict(), state.settings.channel_param)


def landing_blueprint(settings: Settings) -> Blueprint:
    """The ``refkit_landing`` blueprint: ``GET /r/<code>`` (``REFKIT_LANDING_PATH``)
    captures the code and redirects to ``?next=`` when it is a local path."""
    blueprint = Blueprint("refkit_landing", __name__)
    register_security_headers(blueprint)

    @blueprint.route(f"{settings.landing_path}/<path:code>", methods=["GET", "HEAD"])
    def landing(code: str) -> Response:
        state = get_state()
        guard(lambda: capture(state, code, _query(settings.campaign_param)))
        target = safe_local_path(_query("next"), settings.landing_redirect)
        return cast(Response, redirect(target, code=302))

    return blueprint


def capture_query_param(settings: Settings) -> Callable[[], None]:
    """The ``before_request`` hook (with ``REFKIT_CAPTURE_ALL_PAGES``) capturing ``?ref=`` on
    any page; a request without the parameter costs one look at the query string."""
    query_param, campaign_param = settings.query_param, settings.campaign_param

    def capture_ref() -> None:
        code = _query(query_param)
        if code and request.blueprint != "refkit_landing":
            state = get_state()
            guard(lambda: capture(state, code, _query(campaign_param)))

    return capture_ref


def _query(name: str) -> str | None:
    """The query parameter's first value, or ``None``."""
    return first_value(request.args, name)
