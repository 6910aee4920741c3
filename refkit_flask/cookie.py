"""The signed referral cookie: what it holds, how it is read, and when it is written.

The payload is ``{"code", "campaign", "at", "fp", "seen"}`` (and ``"tags"`` when the first touch
had any): the first-touch code and campaign, its share channel and UTM tags, when that first
touch happened (the attribution window runs from it), the click's fraud signals (keyed hashes of
the IP address and User-Agent, never the raw values) and the codes already counted today. In an
A/B test (:class:`refkit.Experiment`) it also holds ``"vid"``, a random visitor id the variant
is assigned from, and ``"ab"``: the experiment's key and the visitor's variant
(:func:`assign_variant`), so the offer a visitor is shown is the one their signup gets; the
variant never comes from the URL. What it holds is decided by :mod:`refkit.capture` (shared with
the Django app). It is signed with the app's keys for its own purpose (itsdangerous, through
:class:`refkit.TokenSigner`), HttpOnly, SameSite=Lax, Secure over HTTPS.

A request that changes the payload keeps it in ``g._refkit`` (:func:`set_payload`);
:func:`payload` is the one reader (that pending payload first, else the request's valid
cookie), and :func:`write` puts a changed payload on the response.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from refkit import Fingerprint, TokenSigner
from refkit.capture import COOKIE_PURPOSE, assign_variant, load_payload, variant_of
from refkit.capture import click_fingerprint as _click_fingerprint
from refkit.clock import Clock

from .config import Settings
from .state import RefKitState, first_value, get_state, made_request_state, request_state

__all__ = [
    "assign_variant",
    "click_fingerprint",
    "cookie_signer",
    "payload",
    "set_payload",
    "variant_of",
    "write",
    "clear",
]


def cookie_signer(settings: Settings, clock: Clock) -> TokenSigner:
    """The signer of the referral cookie: the app's keys, its own purpose, the window."""
    return TokenSigner(
        settings.secret_key, COOKIE_PURPOSE, max_age=settings.cookie_max_age, clock=clock
    )


def _from_request(state: RefKitState) -> dict[str, Any] | None:
    """The request's referral cookie payload, if present, valid and within the window
    (:func:`refkit.capture.load_payload`)."""
    if "HTTP_COOKIE" not in request.environ:  # a new visitor: no cookies to parse
        return None
    token = first_value(request.cookies, state.settings.cookie_name)
    if not token:  # no referral cookie: no clock, no signature check
        return None
    return load_payload(
        state.cookies, token, now=state.program.clock(), max_age=state.settings.cookie_max_age
    )


def payload(state: RefKitState) -> dict[str, Any] | None:
    """This visitor's referral payload (a copy): the one this request set, else the valid
    cookie the request carries, else ``None``."""
    requested = made_request_state()
    if requested is not None and requested.cookie is not None:
        return dict(requested.cookie)
    return _from_request(state)


def set_payload(changed: dict[str, Any]) -> None:
    """Keep a changed payload for this request: :func:`payload` reads it from now on, and
    :func:`write` signs it onto the response."""
    request_state().cookie = changed


def clear() -> None:
    """Forget this visitor's referral from now on: :func:`payload` reads none, and
    :func:`write` deletes the cookie (after a signup used it)."""
    request_state().cookie = {}


def write(response: Response) -> Response:
    """``after_request``: sign the payload this request changed onto the response, or delete
    the cookie when it was cleared (a request that changed none costs one lookup)."""
    requested = made_request_state()
    if requested is None or requested.cookie is None:
        return response
    pending, requested.cookie = requested.cookie, None
    state = get_state()
    settings = state.settings
    if not pending:
        if response.status_code >= 400:  # the signup failed: the next try still binds
            return response
        response.delete_cookie(
            settings.cookie_name,
            path="/",
            secure=request.is_secure,
            httponly=True,
            samesite="Lax",
        )
    else:
        response.set_cookie(
            settings.cookie_name,
            state.cookies.dumps(pending),
            max_age=int(settings.cookie_max_age.total_seconds()),
            httponly=True,
            samesite="Lax",
            secure=request.is_secure,
            path="/",
        )
    return response


def click_fingerprint(found: dict[str, Any]) -> Fingerprint | None:
    """The click's fingerprint kept in a referral payload, if it holds one."""
    return _click_fingerprint(found)
