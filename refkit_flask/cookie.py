"""The signed referral cookie: what it holds, how it is read, and when it is written.

The payload is ``{"code", "campaign", "at", "fp", "seen"}`` (and ``"tags"`` when the
first touch had any): the first-touch code and campaign, its share channel and UTM tags,
when that first touch happened (the attribution window runs from it), the click's fraud
signals (keyed hashes of the IP address and User-Agent, never the raw values) and the codes
already counted today. In an A/B test (:class:`refkit.Experiment`) it also holds ``"vid"``,
a random visitor id the variant is assigned from, and ``"ab"``: the experiment's key and the
visitor's variant (:func:`assign_variant`), so the offer a visitor is shown is the one their
signup gets; the variant never comes from the URL.

The payload is signed with the app's keys for its own purpose (itsdangerous, through
:class:`refkit.TokenSigner`), HttpOnly, SameSite=Lax, Secure over HTTPS.

A request that changes the payload keeps it in ``g._refkit`` (:func:`set_payload`);
:func:`payload` is the one reader (that pending payload first, else the request's valid
cookie), and :func:`write` puts a changed payload on the response.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from flask import Response, request

from refkit import Fingerprint, InvalidToken, ReferralProgram, TokenSigner
from refkit.clock import Clock

from .config import Settings
from .state import RefKitState, request_state

__all__ = [
    "assign_variant",
    "click_fingerprint",
    "cookie_signer",
    "payload",
    "set_payload",
    "variant_of",
    "write",
]


def cookie_signer(settings: Settings, clock: Clock) -> TokenSigner:
    """The signer of the referral cookie: the app's keys, its own purpose, the window."""
    return TokenSigner(
        settings.secret_key, "referral-cookie", max_age=settings.cookie_max_age, clock=clock
    )


def _from_request(state: RefKitState) -> dict[str, Any] | None:
    """The request's referral cookie payload, if present, valid and within the window."""
    token = request.cookies.get(state.settings.cookie_name)
    if not token:
        return None
    try:
        found = state.cookies.loads(token)
    except InvalidToken:
        return None
    if not isinstance(found, dict) or not isinstance(found.get("code"), str):
        return None
    # The token is signed again whenever it changes; the window runs from the first touch.
    try:
        first_touch = datetime.fromisoformat(str(found.get("at")))
    except ValueError:
        return None
    if (
        first_touch.tzinfo is None
        or state.program.clock() - first_touch > state.settings.cookie_max_age
    ):
        return None
    return found


def payload(state: RefKitState) -> dict[str, Any] | None:
    """This visitor's referral payload (a copy): the one this request set, else the valid
    cookie the request carries, else ``None``."""
    pending = request_state().cookie
    if pending is not None:
        return dict(pending)
    return _from_request(state)


def set_payload(changed: dict[str, Any]) -> None:
    """Keep a changed payload for this request: :func:`payload` reads it from now on, and
    :func:`write` signs it onto the response."""
    request_state().cookie = changed


def write(state: RefKitState, response: Response) -> Response:
    """``after_request``: sign the payload this request changed onto the response."""
    pending = request_state().cookie
    if pending is not None:
        request_state().cookie = None
        response.set_cookie(
            state.settings.cookie_name,
            state.cookies.dumps(pending),
            max_age=int(state.settings.cookie_max_age.total_seconds()),
            httponly=True,
            samesite="Lax",
            secure=request.is_secure,
            path="/",
        )
    return response


def click_fingerprint(found: dict[str, Any]) -> Fingerprint | None:
    """The click's fingerprint kept in a referral payload, if it holds one."""
    hashes = found.get("fp")
    if not isinstance(hashes, list) or len(hashes) != 2:
        return None
    ip, user_agent = (h if isinstance(h, str) and len(h) <= 64 else None for h in hashes)
    try:
        at = datetime.fromisoformat(str(found.get("at")))
    except ValueError:
        return None
    return Fingerprint(ip, user_agent, at if at.tzinfo is not None else None)


def variant_of(program: ReferralProgram, found: dict[str, Any]) -> str | None:
    """The A/B test variant kept in a referral payload, if it is one of the program's
    current experiment (a variant of an ended or renamed experiment is none)."""
    experiment = program.experiment
    kept = found.get("ab")
    if experiment is None or not isinstance(kept, list) or len(kept) != 2:
        return None
    key, variant = kept
    if key != experiment.key or not isinstance(variant, str):
        return None
    return variant if variant in experiment.variants else None


def assign_variant(program: ReferralProgram, found: dict[str, Any]) -> str | None:
    """The visitor's variant in the program's experiment (``None`` without one): the one
    the payload keeps, else assigned from its visitor id (a new random one if it has none)
    and kept in ``found``, which the caller then signs onto the response."""
    if program.experiment is None:
        return None
    kept = variant_of(program, found)
    if kept is not None:
        return kept
    visitor = found.get("vid")
    if not isinstance(visitor, str) or not 16 <= len(visitor) <= 64:
        visitor = secrets.token_urlsafe(16)
        found["vid"] = visitor
    variant = program.variant_for(visitor)
    found["ab"] = [program.experiment.key, variant]
    return variant
