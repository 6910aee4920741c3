"""What happens to a refkit failure during a request: raised, or logged and counted.

A refkit call inside the shop's view must never break a checkout because the database failed;
but a mistake in the shop's own call (a bad amount, a bad currency) must not be lost in
silence either. So:

- a :class:`~refkit.ValidationError` or :class:`~refkit.ConfigurationError` is raised when
  ``app.debug`` or ``app.testing`` is on (the mistake shows in development and in the shop's
  tests), and logged at ERROR otherwise;
- any other failure (:class:`~refkit.StorageError`, a lost connection...) is logged at ERROR;
- an explicit ``REFKIT_RAISE_ERRORS`` (``True`` or ``False``) overrides both: ``True`` raises
  every failure, ``False`` none.

Every failure that is not raised is counted in the app's :class:`FailureLog`, kept **in this
process's memory**: a failure cannot always be written to the store that failed, so refkit does
not try. The dashboard shows this process's count of the last 7 days and the last messages; a
restart empties it and each worker process has its own, so the ERROR lines of the
``refkit.flask`` logger remain the complete record.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask

from refkit import ConfigurationError, ValidationError

__all__ = [
    "RECENT",
    "Failure",
    "FailureLog",
    "RecentFailures",
    "caught",
    "failure_log",
    "redact",
    "should_raise",
]

log = logging.getLogger("refkit.flask")

#: How far back the dashboard counts failures.
RECENT = timedelta(days=7)
#: Failures kept per app (older ones are forgotten) and messages shown.
KEPT = 1000
SHOWN = 5
MESSAGE_LENGTH = 200
#: Quoted values and email addresses are left out of the messages kept (user ids, order ids
#: and emails appear quoted in refkit's messages): the dashboard shows no personal data.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@dataclass(frozen=True, slots=True)
class Failure:
    """One failure: when, the error's class name, and its message without quoted values."""

    at: datetime
    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class RecentFailures:
    """What the dashboard shows: the count over :data:`RECENT` and the last failures."""

    count: int
    last: tuple[Failure, ...]


def redact(message: str) -> str:
    """``message`` without quoted values or email addresses, at most 200 characters."""
    cleaned = _QUOTED.sub("'…'", message)
    return cleaned if len(cleaned) <= MESSAGE_LENGTH else cleaned[: MESSAGE_LENGTH - 1] + "…"


class FailureLog:
    """The failures refkit caught in one app, in this process (bounded, thread-safe)."""

    def __init__(self) -> None:
        self._failures: deque[Failure] = deque(maxlen=KEPT)
        self._lock = threading.Lock()

    def add(self, error: BaseException, at: datetime) -> None:
        failure = Failure(at, type(error).__name__, redact(str(error)))
        with self._lock:
            self._failures.append(failure)

    def recent(self, now: datetime, shown: int = SHOWN) -> RecentFailures:
        """The failures of the last 7 days before ``now``: their count and the newest few."""
        with self._lock:
            kept = [f for f in self._failures if now - f.at <= RECENT]
        return RecentFailures(len(kept), tuple(reversed(kept[-shown:])))


def failure_log(app: Flask) -> FailureLog:
    """The app's :class:`FailureLog` (created on first use)."""
    found = app.extensions.get("refkit_failures")
    if not isinstance(found, FailureLog):
        found = app.extensions["refkit_failures"] = FailureLog()
    return found


def should_raise(app: Flask, error: BaseException, raise_errors: bool | None) -> bool:
    """Whether ``error``, caught during a refkit call, is raised rather than logged.

    :param raise_errors: ``REFKIT_RAISE_ERRORS``: ``True``/``False`` decide; ``None`` raises
        the shop's own mistakes (:class:`~refkit.ValidationError`,
        :class:`~refkit.ConfigurationError`) under ``app.debug`` or ``app.testing``.
    """
    if raise_errors is not None:
        return raise_errors
    return isinstance(error, ValidationError | ConfigurationError) and (app.debug or app.testing)


def caught(app: Flask, error: BaseException, at: datetime) -> None:
    """Log a failure that was not raised at ERROR, with its traceback, and count it."""
    log.error(
        "refkit: %s was caught so the shop's request goes on: %s",
        type(error).__name__,
        error,
        exc_info=error,
    )
    failure_log(app).add(error, at)
