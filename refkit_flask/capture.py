"""Capturing referrals: ``?ref=`` on any page and ``GET /r/<code>``.

A valid code records a visit (not for HEAD requests or link-preview bots, and at most once per
visitor, code and day) and is kept in a signed cookie (HttpOnly, SameSite=Lax, Secure over
HTTPS) for the attribution window, with the click's fraud signals (keyed hashes of the IP
address and User-Agent, never the raw values) for the check at signup. First touch wins: a
later code never replaces a valid earlier one (one that still resolves: the code of an
erased referrer, or one signed with a dropped key, gives way to the next valid link). An
invalid code sets nothing and records nothing. Redirects go only to local paths; anything
else falls back to the landing page.

The cookie itself is :mod:`refkit_flask.cookie`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import cast
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, redirect, request

from refkit import Fingerprint, InvalidCode, ValidationError
from refkit.codes import normalize_code
from refkit.validation import to_campaign, to_channel, to_tag

from . import cookie, signals
from .config import DEFAULT_BOT_USER_AGENTS, Settings
from .headers import register_security_headers
from .state import RefKitState, get_state, guard

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

_BOTS = re.compile(DEFAULT_BOT_USER_AGENTS, re.IGNORECASE)
#: Codes remembered per day for visit de-duplication (keeps the cookie well under 4 KB).
MAX_SEEN_CODES = 20
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")
#: The landing's UTM tags kept with the visit and, through the cookie, with the referral.
UTM_TAGS = ("utm_source", "utm_medium", "utm_campaign")


def is_bot(user_agent: str | None, pattern: re.Pattern[str] | None = _BOTS) -> bool:
    """Whether a User-Agent looks like a crawler, a link-preview fetcher or a command-line
    client (or is missing), by ``pattern`` (``REFKIT_BOT_USER_AGENTS``; ``None``: never)."""
    if pattern is None:
        return False
    return not user_agent or bool(pattern.search(user_agent))


def safe_local_path(target: str | None, fallback: str) -> str:
    """``target`` if it is a path on this site, else ``fallback``.

    Refused: absolute and scheme-relative URLs (``//host``, ``/\\host``, ``https:``,
    ``javascript:``), backslashes, control characters (CR, LF, tab...) and anything not
    starting with a single ``/``.
    """
    if not target or not isinstance(target, str) or len(target) > 2048:
        return fallback
    if _UNSAFE.search(target) or not target.startswith("/") or target.startswith("//"):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


def capture(state: RefKitState, code: str, campaign: str | None) -> bool:
    """Record a visit for ``code`` and remember it in the cookie; True if the code is valid.

    Nothing is recorded for HEAD requests or bots, but a valid code still answers True so
    the landing route redirects the same way.
    """
    program = state.program
    try:
        canonical = normalize_code(code)
        bots = state.settings.bot_user_agents
        if request.method != "GET" or is_bot(request.headers.get("User-Agent"), bots):
            program.resolve(canonical)
            return True
        found = cookie.payload(state)
        payload = dict(found or {})
        # The A/B test's variant, assigned to the visitor (never taken from the URL).
        variant = cookie.assign_variant(program, payload)
        today = program.clock().date().isoformat()
        seen = {c: day for c, day in dict(payload.get("seen") or {}).items() if day == today}
        tags = landing_tags(state)
        if seen.get(canonical) == today:
            program.resolve(canonical)
        else:  # checks the code and counts the visit in one go
            program.record_visit(
                canonical,
                campaign=_campaign(campaign),
                channel=tags["channel"],
                utm_source=tags["utm_source"],
                utm_medium=tags["utm_medium"],
                utm_campaign=tags["utm_campaign"],
                variant=variant,
            )
    except InvalidCode:
        return False
    if seen.get(canonical) != today:
        if len(seen) >= MAX_SEEN_CODES:
            seen.pop(next(iter(seen)))  # keep the cookie small: forget the oldest code today
        seen[canonical] = today
    if not _first_touch_holds(state, payload, canonical):
        kept: dict[str, object] = {k: payload[k] for k in ("vid", "ab") if k in payload}
        payload = {"code": canonical, "campaign": _campaign(campaign), "at": _now(state), **kept}
        if any(tags.values()):
            payload["tags"] = tags
        click = request_fingerprint(state)
        payload["fp"] = [click.ip, click.user_agent]
    payload["seen"] = seen
    if payload != found:
        # Signed again only when it changed: the window runs from the first touch (kept in
        # the payload), not from the signature, so an unchanged cookie stays as it is.
        cookie.set_payload(payload)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    signals.referral_captured.send(app, record=canonical)
    return True


def _first_touch_holds(state: RefKitState, payload: dict[str, object], code: str) -> bool:
    """Whether the cookie's code stays (first touch wins) rather than ``code`` replacing
    it: it does while it is a code that still resolves, not once its referrer was erased
    or its key dropped."""
    kept = payload.get("code")
    if not isinstance(kept, str):
        return False
    if kept == code:
        return True
    try:
        state.program.resolve(kept)
    except InvalidCode:
        return False
    return True


def request_fingerprint(state: RefKitState) -> Fingerprint:
    """This request's fraud signals: keyed hashes of its IP address and User-Agent (the raw
    values are neither stored nor put in the cookie)."""
    return state.program.fingerprint(
        ip=request.remote_addr, user_agent=request.headers.get("User-Agent")
    )


def landing_tags(state: RefKitState) -> dict[str, str | None]:
    """This request's share channel (``REFKIT_CHANNEL_PARAM``) and UTM tags, each ``None``
    when absent or not what the core accepts (a hostile or over-long value is dropped: the
    code still counts)."""
    args = request.args
    return _checked(args.get(state.settings.channel_param), {n: args.get(n) for n in UTM_TAGS})


def cookie_tags(found: dict[str, object]) -> dict[str, str | None]:
    """The channel and UTM tags kept in a referral payload (checked again: only what the
    core accepts), for :meth:`refkit.ReferralProgram.attribute`."""
    kept = found.get("tags")
    tags: dict[str, object] = kept if isinstance(kept, dict) else {}
    return _checked(tags.get("channel"), {n: tags.get(n) for n in UTM_TAGS})


def _checked(channel: object, utm: dict[str, object]) -> dict[str, str | None]:
    """The channel and UTM tags the core accepts; any other value becomes ``None``."""
    result: dict[str, str | None] = {}
    try:
        result["channel"] = to_channel(channel or None)
    except ValidationError:
        result["channel"] = None
    for name, value in utm.items():
        try:
            result[name] = to_tag(value or None, name)
        except ValidationError:
            result[name] = None
    return result


def _campaign(value: str | None) -> str | None:
    """The campaign from a link if the core would accept it, else none (the code still counts)."""
    try:
        return to_campaign(value or None)
    except ValidationError:
        return None


def _now(state: RefKitState) -> str:
    when: datetime = state.program.clock()
    return when.isoformat()


def landing_blueprint(settings: Settings) -> Blueprint:
    """The ``refkit_landing`` blueprint: ``GET /r/<code>`` (``REFKIT_LANDING_PATH``)
    captures the code and redirects to ``?next=`` when it is a local path."""
    blueprint = Blueprint("refkit_landing", __name__)
    register_security_headers(blueprint)

    @blueprint.route(f"{settings.landing_path}/<path:code>", methods=["GET", "HEAD"])
    def landing(code: str) -> Response:
        state = get_state()
        guard(lambda: capture(state, code, request.args.get(settings.campaign_param)))
        target = safe_local_path(request.args.get("next"), settings.landing_redirect)
        return cast(Response, redirect(target, code=302))

    return blueprint


def capture_query_param() -> None:
    """``before_request`` (with ``REFKIT_CAPTURE_ALL_PAGES``): capture ``?ref=`` on any page."""
    state = get_state()
    code = request.args.get(state.settings.query_param)
    if code and request.blueprint != "refkit_landing":
        guard(lambda: capture(state, code, request.args.get(state.settings.campaign_param)))
