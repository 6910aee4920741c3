"""People's names on the admin pages, from the shop's ``@refkit.display_name`` loader.

The loader takes a user id (a str) and returns the name to show, or ``None``. The pages show the
name and keep the id beside it (in the link to the referrer's page and as secondary text), so
two customers with the same name stay apart. A loader that returns ``None`` or an empty name,
or raises, leaves the id alone: a failure is logged once per request (at WARNING on the
``refkit.flask`` logger) and never breaks the page. Each id is looked up once per request.

Names are the shop's data and may hold anything (``<script>``, quotes): the templates escape
them like any other text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import g, has_request_context

__all__ = ["MAX_LENGTH", "DisplayNameLoader", "display_name"]

log = logging.getLogger("refkit.flask")

#: ``(user_id) -> name or None``: what ``@refkit.display_name`` registers.
DisplayNameLoader = Callable[[str], str | None]
#: Longer names are cut (with an ellipsis): a name is a label, not a paragraph.
MAX_LENGTH = 80


class _RequestNames:
    """The names looked up in one request, and whether a failure was logged yet."""

    def __init__(self) -> None:
        self.found: dict[str, str | None] = {}
        self.failed = False


def _cache() -> _RequestNames:
    found = g.get("_refkit_names")
    if not isinstance(found, _RequestNames):
        found = _RequestNames()
        g._refkit_names = found
    return found


def _clean(name: object) -> str | None:
    if name is None:
        return None
    text = " ".join(str(name).split())
    if not text:
        return None
    return text if len(text) <= MAX_LENGTH else text[: MAX_LENGTH - 1] + "…"


def display_name(loader: DisplayNameLoader | None, user_id: object) -> str | None:
    """The name ``loader`` gives ``user_id``, or ``None`` (no loader, no name, or the loader
    failed: the caller shows the id). Cached for the request."""
    if loader is None or user_id is None:
        return None
    key = str(user_id)
    cache = _cache() if has_request_context() else _RequestNames()
    if key in cache.found:
        return cache.found[key]
    try:
        name = _clean(loader(key))
    except Exception:
        name = None
        if not cache.failed:
            cache.failed = True
            log.warning(
                "the @display_name loader failed; the admin pages show user ids instead",
                exc_info=True,
            )
    cache.found[key] = name
    return name
