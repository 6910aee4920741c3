"""Moved to :mod:`refkit.dashboard.data`, shared with the Django app; these names stay
importable from here."""

from refkit.dashboard.data import *  # noqa: F403
from refkit.dashboard.data import __all__ as __all__
