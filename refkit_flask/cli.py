"""``flask refkit ...`` commands."""

from __future__ import annotations

from flask.cli import AppGroup

__all__ = ["refkit_cli"]

refkit_cli = AppGroup("refkit", help="refkit: the referral program.")
