"""What happens to a refkit failure during a request: raised, or logged and counted.

As in the Flask extension: a :class:`~refkit.ValidationError` or
:class:`~refkit.ConfigurationError` (the shop's own mistake: a bad amount, a bad currency) is
raised when ``settings.DEBUG`` is on, logged at ERROR otherwise; any other failure (the
database) is logged at ERROR, so refkit never breaks a checkout. ``REFKIT["RAISE_ERRORS"]``
(``True`` or ``False``) overrides both. Every failure not raised is counted in the site's
:class:`~refkit.dashboard.failures.FailureLog`, shown on the dashboard.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings

from refkit import ConfigurationError, ValidationError

from .conf import get_state

__all__ = ["guard", "should_raise"]

log = logging.getLogger("refkit.django")
T = TypeVar("T")


def should_raise(error: BaseException, raise_errors: bool | None) -> bool:
    """Whether ``error``, caught during a refkit call, is raised rather than logged."""
    if raise_errors is not None:
        return raise_errors
    return isinstance(error, ValidationError | ConfigurationError) and bool(settings.DEBUG)


def guard(work: Callable[[], T], default: T | None = None) -> T | None:
    """Run ``work``; a failure is logged at ERROR and counted and ``default`` returned,
    except the shop's own mistakes under DEBUG, or anything with ``RAISE_ERRORS``."""
    try:
        return work()
    except Exception as error:
        try:
            state = get_state()
        except ConfigurationError:
            raise error from None
        if should_raise(error, state.settings.raise_errors):
            raise
        log.error(
            "refkit: %s was caught so the shop's request goes on: %s",
            type(error).__name__,
            error,
            exc_info=error,
        )
        state.failures.add(error, state.program.clock())
        return default
