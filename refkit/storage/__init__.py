"""Storage backends, chosen by URL.

=============================  ==========================================================
``sqlite:///path/refkit.db``   the default: an SQLite file (WAL, ``synchronous=NORMAL``)
``postgresql+psycopg://...``   PostgreSQL (``postgresql://`` works too: psycopg 3)
``memory://``                  an in-memory database that lives as long as the store
any SQLAlchemy URL             other dialects, through the portable code paths
=============================  ==========================================================
"""

from __future__ import annotations

from sqlalchemy import Engine

from ..errors import ConfigurationError
from .base import Store
from .memory import MemoryStore
from .sql import SqlStore

__all__ = ["DEFAULT_URL", "MemoryStore", "SqlStore", "Store", "open_store"]

DEFAULT_URL = "sqlite:///refkit.db"


def open_store(store: str | Engine | Store | None = None) -> Store:
    """A store from a URL, an SQLAlchemy engine, or a store object (returned as is)."""
    if store is None:
        store = DEFAULT_URL
    if isinstance(store, str):
        if store in ("memory://", "sqlite://", "sqlite:///:memory:"):
            return MemoryStore()
        if store.startswith("memory:"):
            raise ConfigurationError(f"store {store!r}: the memory store's URL is 'memory://'")
        return SqlStore(store)
    if isinstance(store, Engine):
        return SqlStore(store)
    if isinstance(store, Store):
        return store
    raise ConfigurationError(
        f"store must be a URL, an SQLAlchemy Engine or a Store, not {type(store).__name__}"
    )
