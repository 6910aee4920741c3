"""The JSON API and the admin pages (a blueprint built per app)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint

if TYPE_CHECKING:
    from .config import Settings
    from .extension import RefKit

__all__ = ["build_blueprint"]


def build_blueprint(extension: RefKit, settings: Settings) -> Blueprint:
    """The ``/refkit`` blueprint: ``/api/...`` and ``/admin``."""
    return Blueprint("refkit", __name__, template_folder="templates")
