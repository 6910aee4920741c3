"""The Store protocol: where refkit's transactions run.

A store runs work in transactions and knows nothing of referrals: the steps
(:mod:`refkit.steps`) do the work on the open connection it hands them. refkit ships
:class:`~refkit.storage.sql.SqlStore` (SQLite, PostgreSQL and other SQLAlchemy databases) and
:class:`~refkit.storage.memory.MemoryStore`, the same code on an in-memory SQLite database, so
even the memory store enforces every rule with real constraints and transactions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar, runtime_checkable

from sqlalchemy import Connection, Engine

__all__ = ["Store"]

T = TypeVar("T")


@runtime_checkable
class Store(Protocol):
    """Runs refkit's transactions. Each call is atomic: all of ``work`` is stored, or none."""

    engine: Engine

    def create_all(self) -> None:
        """Create or upgrade the tables (idempotent)."""

    def transaction(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(connection)`` in one read-write transaction and commit it; retried as a
        whole on serialization failures, deadlocks and locks."""
        ...

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(connection)`` in one read-only transaction."""
        ...

    def close(self) -> None:
        """Release the pooled connections."""
