"""``python -m refkit``: the ``refkit`` command (see :mod:`refkit.cli`)."""

from .cli import main

raise SystemExit(main())
