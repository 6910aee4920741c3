"""The deadline of one refkit call, and the watchdog that enforces it on the client side.

A call's deadline bounds everything it does: taking a pooled connection (and checking it is
alive), connecting, waiting for locks, running statements, retrying, and checking whether a
COMMIT whose answer was lost went through. The database enforces what it can (PostgreSQL's
``statement_timeout`` and ``lock_timeout``, set per transaction; SQLite's busy timeout, set
before each ``BEGIN IMMEDIATE``), but a server that never answers (a frozen host, a dropped
network path, a proxy that stalls) never sees a query to time out. So the :class:`Watchdog`,
one thread per process, interrupts the connection at the deadline: for a network connection
(psycopg) it shuts its socket down, so the driver call blocked on it returns an error at once
(the connection is then invalidated, never reused); for SQLite it calls
``sqlite3.Connection.interrupt()``.

The runner (``storage/sql.py``) publishes the running call's :class:`Deadline` in
:data:`CURRENT`, so the engine's listeners (``storage/engines.py``: ``begin``, ``checkout``,
``do_connect``) use the same one.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import math
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CURRENT", "DEFAULT_TIMEOUT", "Deadline", "Watchdog", "interrupt", "watchdog"]

#: The core's default deadline, in seconds (``ReferralProgram(timeout=...)``): far beyond any
#: refkit transaction on a healthy database (they take milliseconds), so scripts and batch
#: jobs never hit it, yet a hung server or a lock held forever fails a call with
#: :class:`~refkit.StorageTimeout` instead of blocking it (and its worker) indefinitely. Web
#: apps set a tight one (the Flask extension's ``REFKIT_TIMEOUT`` is 2 seconds).
DEFAULT_TIMEOUT: float = 30.0


@dataclass(frozen=True, slots=True)
class Deadline:
    """A point in time (``time.monotonic()``) a call must finish by; ``timeout`` is the
    whole budget, in seconds, for messages."""

    timeout: float
    end: float

    @classmethod
    def start(cls, timeout: float) -> Deadline:
        """The deadline ``timeout`` seconds from now."""
        return cls(timeout, time.monotonic() + timeout)

    def remaining(self) -> float:
        """Seconds left (0 once passed)."""
        return max(0.0, self.end - time.monotonic())

    @property
    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return time.monotonic() >= self.end

    def remaining_ms(self) -> int:
        """Milliseconds left, at least 1 (0 would mean "no timeout" to the databases)."""
        return max(1, math.ceil(self.remaining() * 1000))


#: The deadline of the refkit call running in this context (``None``: no deadline).
CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "refkit_deadline", default=None
)


def interrupt(dbapi_connection: Any) -> None:
    """Make whatever a thread is doing on ``dbapi_connection`` fail now: shut a network
    connection's socket down (psycopg), or interrupt an SQLite connection."""
    pgconn = getattr(dbapi_connection, "pgconn", None)
    if pgconn is not None:
        with suppress(Exception):
            fd = pgconn.socket
            if fd >= 0:
                # fromfd duplicates the descriptor; shutting the duplicate down shuts the
                # socket down for every descriptor (closing it would not).
                with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
        return
    method = getattr(dbapi_connection, "interrupt", None)
    if callable(method):
        with suppress(Exception):
            method()


_COMPACT_AT = 1024


@dataclass(order=True)
class _Watch:
    end: float
    number: int
    target: Any = field(compare=False)
    fired: bool = field(default=False, compare=False)
    cancelled: bool = field(default=False, compare=False)


class Watchdog:
    """One thread interrupting connections whose deadline passed (see :func:`interrupt`).

    :meth:`watch` and :meth:`cancel` cost a heap push and a flag, so every transaction can be
    watched; the thread starts on first use and sleeps until the earliest deadline.
    """

    def __init__(self) -> None:
        self._heap: list[_Watch] = []
        self._condition = threading.Condition()
        self._numbers = itertools.count()
        self._thread: threading.Thread | None = None
        self._cancelled = 0  # cancelled watches still in the heap (about)

    def watch(self, deadline: Deadline, dbapi_connection: Any) -> _Watch:
        """Interrupt ``dbapi_connection`` at ``deadline`` unless cancelled first."""
        entry = _Watch(deadline.end, next(self._numbers), dbapi_connection)
        with self._condition:
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="refkit-watchdog", daemon=True
                )
                self._thread.start()
            elif self._heap[0] is entry:
                self._condition.notify()
        return entry

    def cancel(self, entry: _Watch) -> bool:
        """Stop watching; returns whether the watchdog had already interrupted it."""
        with self._condition:
            entry.cancelled = True
            entry.target = None
            self._cancelled += 1
            if self._cancelled > _COMPACT_AT and self._cancelled * 2 > len(self._heap):
                # Cancelled watches wait in the heap for their deadline: drop them in bulk
                # so the heap stays the size of the calls under way.
                self._heap = [watch for watch in self._heap if not watch.cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0
            return entry.fired

    def _run(self) -> None:
        while True:
            with self._condition:
                while self._heap and self._heap[0].cancelled:
                    heapq.heappop(self._heap)
                    self._cancelled = max(0, self._cancelled - 1)
                if not self._heap:
                    self._condition.wait()
                    continue
                wait = self._heap[0].end - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                entry = heapq.heappop(self._heap)
                entry.fired = True
                target = entry.target
            interrupt(target)


#: The process's watchdog.
watchdog = Watchdog()
