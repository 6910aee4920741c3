"""Moved to :mod:`refkit.dashboard.charts`, shared with the Django app; these names stay
importable from here."""

from refkit.dashboard.charts import *  # noqa: F403
from refkit.dashboard.charts import __all__ as __all__
