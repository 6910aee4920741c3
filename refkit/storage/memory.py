"""MemoryStore: the SQL store on a private in-memory SQLite database.

A pure-Python store would have to re-implement every constraint as a check under a lock; this
one keeps the database's own constraints and transactions, so the single-reward rules are
enforced the same way on every store. Transactions are serialized by a lock, as SQLite's
in-memory database is one connection shared by the process's threads. Data lives as long as
the store object.
"""

from __future__ import annotations

import threading

from .engines import memory_engine
from .sql import SqlStore

__all__ = ["MemoryStore"]


class MemoryStore(SqlStore):
    """Everything in memory, for tests and demos (``store="memory://"``)."""

    def __init__(self) -> None:
        super().__init__(memory_engine())
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return "<MemoryStore>"
