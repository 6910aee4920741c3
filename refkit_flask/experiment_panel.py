"""Moved to :mod:`refkit.dashboard.experiment`, shared with the Django app; these names stay
importable from here."""

from refkit.dashboard.experiment import *  # noqa: F403
from refkit.dashboard.experiment import __all__ as __all__
