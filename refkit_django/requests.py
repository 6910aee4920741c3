"""refkit's data for one request (``request._refkit``) and the referral cookie on it.

The payload is the core's (:mod:`refkit.capture`): the first-touch code and campaign, when it
happened, the click's fraud signals (keyed hashes) and the codes counted today. A request that
changes it keeps it here; :func:`payload` is the one reader (that pending payload first, else
the request's valid cookie), and :func:`write_cookie` puts a change on the response (or
deletes the cookie after a signup used it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponseBase

from .conf import State, get_state

__all__ = [
    "RequestState",
    "clear",
    "payload",
    "request_state",
    "set_payload",
    "user_id",
    "write_cookie",
]


@dataclass
class RequestState:
    """``cookie``: the payload this request changed (``None``: unchanged); ``cleared``: a
    signup used the referral, so the cookie is deleted; ``conversions`` and ``claims``: what
    a ``@track_conversion`` view queued and claimed (``None`` outside one)."""

    cookie: dict[str, Any] | None = None
    cleared: bool = False
    conversions: list[Any] | None = None
    claims: list[str | int] | None = field(default=None)


def request_state(request: HttpRequest) -> RequestState:
    """refkit's data on ``request``, made on first use."""
    found = getattr(request, "_refkit", None)
    if not isinstance(found, RequestState):
        found = RequestState()
        request._refkit = found  # type: ignore[attr-defined]
    return found


def payload(request: HttpRequest, state: State | None = None) -> dict[str, Any] | None:
    """The visitor's referral payload (a copy): the one this request set, else the request's
    valid cookie; ``None`` when there is none, or a signup used it in this request."""
    requested = request_state(request)
    if requested.cleared:
        return None
    if requested.cookie is not None:
        return dict(requested.cookie)
    state = state or get_state()
    return state.cookie.load(request.COOKIES.get(state.settings.cookie_name))


def set_payload(request: HttpRequest, changed: dict[str, Any]) -> None:
    """Keep a changed payload: :func:`payload` reads it, :func:`write_cookie` signs it."""
    requested = request_state(request)
    requested.cookie, requested.cleared = changed, False


def clear(request: HttpRequest) -> None:
    """The referral was used (a signup): delete the cookie on the response."""
    requested = request_state(request)
    requested.cookie, requested.cleared = None, True


def write_cookie(request: HttpRequest, response: HttpResponseBase, state: State) -> None:
    """Sign a changed payload onto ``response``, or delete a used cookie."""
    requested = request_state(request)
    name = state.settings.cookie_name
    if requested.cleared and name in request.COOKIES:
        response.delete_cookie(name, path="/", samesite="Lax")
    elif requested.cookie is not None:
        response.set_cookie(
            name,
            state.cookie.dump(requested.cookie),
            max_age=int(state.settings.cookie_max_age.total_seconds()),
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
            path="/",
        )


def user_id(request: HttpRequest) -> str | None:
    """The logged-in user's id (``request.user.pk``) as a str, or ``None``."""
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return str(user.pk)
