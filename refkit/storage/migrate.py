"""Schema creation and upgrades (Alembic revisions ship in ``storage/migrations``)."""

from __future__ import annotations

from sqlalchemy import Engine

from .schema import metadata

__all__ = ["ensure_schema"]


def ensure_schema(engine: Engine) -> None:
    """Create refkit's tables if missing (placeholder until the Alembic wiring lands)."""
    metadata.create_all(engine)
