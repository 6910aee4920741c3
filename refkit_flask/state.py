"""What refkit keeps for one app, and the one way to find it.

:class:`RefKitState` lives in ``app.extensions["refkit"]`` (one :class:`~refkit_flask.RefKit`
can serve several apps); :func:`get_state` finds it. Per-request data lives in ``g._refkit``
(:func:`request_state`), as Flask's extension guide asks. :func:`guard` runs refkit work so
that a failure never breaks the shop's page.

Every module of the package reads the state from here; nothing here imports the rest of
the package but :mod:`~refkit_flask.config`, so imports run one way: ``extension`` ->
``api``, ``admin``, ``capture`` -> ``state``, ``cookie`` -> :mod:`refkit`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from flask import Flask, current_app, g

from refkit import ReferralProgram, TokenSigner

from . import failures
from .config import Settings

__all__ = [
    "GUEST_ID",
    "Extension",
    "RefKitState",
    "RequestState",
    "get_state",
    "guard",
    "first_value",
    "made_request_state",
    "request_state",
]

log = logging.getLogger("refkit.flask")
T = TypeVar("T")

#: The customer id an offer asks about for a visitor nobody logged in as: a guest with no
#: orders, so the offer follows the captured code alone.
GUEST_ID = "refkit-guest:anonymous"


class Extension(Protocol):
    """What the views ask of the :class:`~refkit_flask.RefKit` that set the app up: who is
    logged in, whether they may see the dashboard, and their share links."""

    def current_user_id(self) -> str | None: ...

    def is_admin(self) -> bool: ...

    def captured_code(self) -> str | None: ...

    def user_name(self, user_id: str | int) -> str | None: ...

    def share_link(
        self,
        user_id: str | int | None = None,
        campaign: str | None = None,
        *,
        external: bool = True,
        channel: str | None = None,
    ) -> str | None: ...

    def share_links(
        self,
        user_id: str | int | None = None,
        campaign: str | None = None,
        *,
        text: str | None = None,
    ) -> dict[str, str] | None: ...


@dataclass(eq=False)
class RefKitState:
    """What refkit keeps for one app, in ``app.extensions["refkit"]``: the extension that
    set it up, the settings read from the ``REFKIT_*`` config, the app's program, and the
    signer of the referral cookie."""

    extension: Extension
    settings: Settings
    program: ReferralProgram
    cookies: TokenSigner


def get_state(app: Flask | None = None) -> RefKitState:
    """The state of ``app`` (default: the current app).

    :raises RuntimeError: refkit is not set up on the app.
    """
    target = current_app if app is None else app
    try:
        state = target.extensions["refkit"]
    except KeyError:
        raise RuntimeError(
            "refkit is not set up on this app: call RefKit(app) or refkit.init_app(app)"
        ) from None
    return cast(RefKitState, state)


@dataclass
class RequestState:
    """refkit's data for the current request (or app context), in ``g._refkit``.

    ``cookie``: the referral cookie's payload when this request changed it (written to the
    response after the view); ``conversions``: the conversions a
    ``@refkit.track_conversion`` view queued, recorded once it answered below 400 (``None``
    outside such a view); ``claims``: the order ids whose discount such a view claimed,
    released when it answers 400 or more or raises (``None`` outside such a view).
    """

    cookie: dict[str, Any] | None = None
    conversions: list[Any] | None = None
    claims: list[str | int] | None = None


def request_state() -> RequestState:
    """refkit's data in ``g._refkit``, made on first use (needs an app context)."""
    found = made_request_state()
    if found is None:
        found = g._refkit = RequestState()
    return found


def made_request_state() -> RequestState | None:
    """refkit's data in ``g._refkit`` if this request (or app context) made it, else ``None``
    (nothing is made: a request refkit never touched has nothing to read or write)."""
    found = g.get("_refkit")
    return found if isinstance(found, RequestState) else None


def first_value(values: Mapping[str, str], name: str) -> str | None:
    """The first value of ``name`` in a request's query string or cookies, or ``None``: what
    ``values.get(name)`` answers, without the ``KeyError`` werkzeug's ``get`` raises and
    catches for a missing name (most requests carry none of refkit's)."""
    return values[name] if name in values else None  # noqa: SIM401 (see the docstring)


def guard(work: Callable[[], T], default: T | None = None) -> T | None:
    """Run ``work``; a failure is logged and ``default`` returned, so refkit never breaks the
    shop's page: it is logged at ERROR and counted, except the shop's own mistakes under debug
    or testing, or anything with ``REFKIT_RAISE_ERRORS`` (see :mod:`refkit_flask.failures`)."""
    try:
        return work()
    except Exception as error:
        state, app = get_state(), current_app._get_current_object()  # type: ignore[attr-defined]
        if failures.should_raise(app, error, state.settings.raise_errors):
            raise
        failures.caught(app, error, state.program.clock())
        return default
