"""What the tests share that is not a fixture: settings, helpers and small shop apps.

Fixtures live in ``tests/conftest.py`` (and the plugins it registers); a test module imports
from here, never from another test module or from ``conftest.py``.
"""
