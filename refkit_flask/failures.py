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
from datetime import datetime

from flask import Flask

from refkit import ConfigurationError, ValidationError
from refkit.dashboard.failures import RECENT, Failure, FailureLog, RecentFailures, redact

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
