"""``ReferralMiddleware``: ``?ref=<code>`` on any page, and the referral cookie on responses.

Add it to ``MIDDLEWARE`` (after ``AuthenticationMiddleware`` if the shop has one). A request
whose query string holds a code (``REFKIT["QUERY_PARAM"]``) is captured exactly as the Flask
extension does, by the same core decision (:func:`refkit.capture.capture`): a valid code
records a visit (not for HEAD requests or bots, once per visitor, code and day) and is kept in
the signed first-touch cookie with the click's fraud signals; an invalid one sets nothing. A
failure never breaks the page (see :mod:`refkit_django.failures`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase

from refkit import capture as core

from . import signals
from .conf import State, get_state
from .failures import guard
from .requests import payload, set_payload, write_cookie

__all__ = ["ReferralMiddleware", "capture"]


def capture(request: HttpRequest, code: str, state: State | None = None) -> bool:
    """Capture ``code`` for this request's visitor; True if the code is valid."""
    state = state or get_state()
    landing = core.Landing(
        code=code,
        method=request.method or "GET",
        user_agent=request.headers.get("User-Agent"),
        ip=request.META.get("REMOTE_ADDR"),
        args={key: str(value) for key, value in request.GET.items()},
    )
    captured = core.capture(
        state.program,
        landing,
        payload(request, state),
        campaign_param=state.settings.campaign_param,
        bots=state.settings.bot_user_agents,
    )
    if captured.payload is not None:
        set_payload(request, captured.payload)
    if captured.visitor:
        signals.referral_captured.send(
            sender=type(state.program), program=state.program, record=captured.code
        )
    return captured.valid


class ReferralMiddleware:
    """Captures ``?ref=`` on every page and writes the referral cookie."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        state = get_state()
        write_cookie(request, response, state)
        return response

    def process_view(
        self,
        request: HttpRequest,
        view: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        """Capture ``?ref=`` before the view runs (the landing view captures its own)."""
        if getattr(view, "refkit_landing", False):
            return
        state = get_state()
        code = request.GET.get(state.settings.query_param)
        if code:
            guard(lambda: capture(request, code, state))
