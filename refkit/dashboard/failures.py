"""The failures refkit caught during a web request, kept to show on the dashboard.

A refkit call inside the shop's view never breaks a checkout: the web integration logs a
failure and counts it here (:class:`FailureLog`), **in this process's memory**: a failure
cannot always be written to the store that failed, so refkit does not try. The dashboard shows
this process's count of the last 7 days and the last messages, without personal data
(:func:`redact`); a restart empties it and each worker process has its own, so the ERROR log
lines remain the complete record.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["RECENT", "Failure", "FailureLog", "RecentFailures", "redact"]

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
    """What the dashboard shows: the count over ``RECENT`` (7 days) and the last failures."""

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
