"""Moved to :mod:`refkit.dashboard.formatting`, shared with the Django app; these names stay
importable from here."""

from refkit.dashboard.formatting import *  # noqa: F403
from refkit.dashboard.formatting import __all__ as __all__
