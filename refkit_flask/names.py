"""People's names on the admin pages, from the shop's ``@refkit.display_name`` loader.

The loader takes a user id (a str) and returns the name to show, or ``None``. The pages show the
name and keep the id beside it (in the link to the referrer's page and as secondary text), so
two customers with the same name stay apart. A loader that returns ``None`` or an empty name,
or raises, leaves the id alone: a failure is logged once per request (at WARNING on the
``refkit.flask`` logger) and never breaks the page. Each id is looked up once per request.
The lookup is the core's :class:`refkit.dashboard.names.Names` (shared with the Django app),
kept in ``flask.g`` for the request.

Names are the shop's data and may hold anything (``<script>``, quotes): the templates escape
them like any other text.
"""

from __future__ import annotations

import logging

from flask import g, has_request_context

from refkit.dashboard.names import MAX_LENGTH, DisplayNameLoader, Names

__all__ = ["MAX_LENGTH", "DisplayNameLoader", "display_name"]

log = logging.getLogger("refkit.flask")


def _names(loader: DisplayNameLoader) -> Names:
    """This request's lookups through ``loader`` (a fresh one outside a request)."""
    if not has_request_context():
        return Names(loader, log, "@display_name")
    found = g.get("_refkit_names")
    if not isinstance(found, Names) or found.loader is not loader:
        found = Names(loader, log, "@display_name")
        g._refkit_names = found
    return found


def display_name(loader: DisplayNameLoader | None, user_id: object) -> str | None:
    """The name ``loader`` gives ``user_id``, or ``None`` (no loader, no name, or the loader
    failed: the caller shows the id). Cached for the request."""
    if loader is None or user_id is None:
        return None
    return _names(loader)(user_id)
