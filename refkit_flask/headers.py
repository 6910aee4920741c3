"""Security headers on refkit's own pages: the admin dashboard, the JSON API, the landing route.

Every answer of refkit's blueprints carries :data:`DEFAULT_SECURITY_HEADERS`: a strict
Content-Security-Policy the pages pass (no script, styles only from refkit's own static file,
no framing, forms posting only to the same origin), ``X-Content-Type-Options: nosniff`` and a
``Referrer-Policy``. The shop's own pages are untouched. (The ``Server`` header is the WSGI
server's, below any Flask hook: see the docs for each server.)

``REFKIT_SECURITY_HEADERS`` (read when the blueprint is registered) adjusts them: a dict
overrides or extends the defaults (a value of ``None`` drops that header), ``None`` sends none
of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response
from flask.blueprints import BlueprintSetupState

from refkit import ConfigurationError
from refkit.dashboard.page import SECURITY_HEADERS

__all__ = ["CONFIG_KEY", "DEFAULT_SECURITY_HEADERS", "register_security_headers", "resolve"]

CONFIG_KEY = "REFKIT_SECURITY_HEADERS"

#: What refkit's pages send by default (the same for the Django app's pages).
DEFAULT_SECURITY_HEADERS: Mapping[str, str] = SECURITY_HEADERS


def resolve(setting: Any) -> dict[str, str]:
    """The headers to send for a ``REFKIT_SECURITY_HEADERS`` value.

    :raises ConfigurationError: neither ``None`` nor a dict of header names to strings (or
        ``None``).
    """
    if setting is None:
        return {}
    if not isinstance(setting, Mapping):
        raise ConfigurationError(
            f"{CONFIG_KEY} must be a dict of header names to values (None drops one), "
            f"or None to send none; got {type(setting).__name__}"
        )
    headers = dict(DEFAULT_SECURITY_HEADERS)
    for name, value in setting.items():
        if not isinstance(name, str) or not (value is None or isinstance(value, str)):
            raise ConfigurationError(
                f"{CONFIG_KEY}: {name!r} must map a header name to a str, or to None to drop it"
            )
        matching = [key for key in headers if key.lower() == name.lower()]
        for key in matching:
            del headers[key]
        if value is not None:
            headers[name] = value
    return headers


def register_security_headers(blueprint: Blueprint) -> None:
    """Send the app's security headers on every answer of ``blueprint`` (and of the
    blueprints nested in it)."""
    # Resolved once, when the blueprint is registered: each answer only appends them.
    headers: list[tuple[str, str]] = []
    lowered: set[str] = set()

    def read_config(state: BlueprintSetupState) -> None:
        resolved = resolve(state.app.config.get(CONFIG_KEY, {}))
        headers.extend(resolved.items())
        lowered.update(name.lower() for name in resolved)

    blueprint.record_once(read_config)

    @blueprint.after_request
    def add_headers(response: Response) -> Response:
        sent = response.headers
        if any(name.lower() in lowered for name, _ in sent):
            for name, value in headers:  # the view set one of them: replace it
                sent[name] = value
        else:  # the usual answer has none of them: append them all at once
            sent[len(sent) :] = headers
        return response
