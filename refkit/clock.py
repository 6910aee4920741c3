"""The injected clock: every "now" in refkit comes from here, so tests never sleep."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "FrozenClock", "system_clock"]

#: A clock is any callable returning an aware ``datetime``.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to; for tests and simulations.

    >>> clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    >>> clock.advance(days=14)
    >>> clock().day
    15
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> None:
        """Move the clock forward by ``delta`` or by ``timedelta(**kwargs)``."""
        self.now += delta if delta is not None else timedelta(**kwargs)
