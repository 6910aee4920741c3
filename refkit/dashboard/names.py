"""People's names on the dashboard, from the shop's display-name loader (Flask's
``@refkit.display_name``, Django's ``REFKIT["DISPLAY_NAME"]``).

The loader takes a user id (a str) and returns the name to show, or ``None``. The pages show the
name and keep the id beside it (in the link to the referrer's page and as secondary text), so
two customers with the same name stay apart. A loader that returns ``None`` or an empty name,
or raises, leaves the id alone: a failure is logged once per :class:`Names` (one request) at
WARNING and never breaks the page. Each id is looked up once per :class:`Names`.

Names are the shop's data and may hold anything (``<script>``, quotes): the templates escape
them like any other text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["MAX_LENGTH", "DisplayNameLoader", "Names", "clean", "user_label"]

#: ``(user_id) -> name or None``: what a shop registers.
DisplayNameLoader = Callable[[str], str | None]
#: Longer names are cut (with an ellipsis): a name is a label, not a paragraph.
MAX_LENGTH = 80


def clean(name: object) -> str | None:
    """A name as the pages show it: whitespace folded, at most :data:`MAX_LENGTH` characters,
    ``None`` when empty."""
    if name is None:
        return None
    text = " ".join(str(name).split())
    if not text:
        return None
    return text if len(text) <= MAX_LENGTH else text[: MAX_LENGTH - 1] + "…"


class Names:
    """The names one request looks up through ``loader`` (cached; a failure logged once on
    ``log``, naming the loader as ``source`` says). Call it with a user id: the name, or
    ``None`` (the page shows the id)."""

    def __init__(
        self, loader: DisplayNameLoader | None, log: logging.Logger, source: str = "display-name"
    ) -> None:
        self.loader = loader
        self.log = log
        self.source = source
        self.found: dict[str, str | None] = {}
        self.failed = False

    def __call__(self, user_id: object) -> str | None:
        if self.loader is None or user_id is None:
            return None
        key = str(user_id)
        if key in self.found:
            return self.found[key]
        try:
            name = clean(self.loader(key))
        except Exception:
            name = None
            if not self.failed:
                self.failed = True
                self.log.warning(
                    "the %s loader failed; the admin pages show user ids instead",
                    self.source,
                    exc_info=True,
                )
        self.found[key] = name
        return name


def user_label(name: Callable[[str], str | None] | None, user_id: object) -> str:
    """Plain text naming a user for an attribute or a title: ``"Alice Martin (42)"`` with a
    name, the id alone without one."""
    found = None if name is None else name(str(user_id))
    return str(user_id) if found is None else f"{found} ({user_id})"
