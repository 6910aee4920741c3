"""Engines by URL, with the settings refkit relies on.

SQLite gets WAL, ``synchronous=NORMAL``, a busy timeout, foreign keys, and write transactions
that take the write lock at ``BEGIN IMMEDIATE``, so concurrent writers queue instead of failing
with "database is locked" halfway through. Read-only work begins a deferred transaction, so it
never blocks writers.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from ..errors import ConfigurationError

__all__ = ["BUSY_TIMEOUT_SECONDS", "engine_for_url", "memory_engine", "prepare_sqlite"]

BUSY_TIMEOUT_SECONDS = 30
#: PostgreSQL connect timeout, unless the URL sets ``connect_timeout`` itself.
CONNECT_TIMEOUT_SECONDS = 10
READ_ONLY = "refkit_read_only"


def prepare_sqlite(engine: Engine, *, wal: bool = True) -> Engine:
    """Apply refkit's SQLite settings to ``engine`` (idempotent per engine)."""
    if engine.dialect.name != "sqlite" or getattr(engine, "_refkit_prepared", False):
        return engine

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # refkit emits BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
        if wal:
            _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        if connection.engine.echo:
            connection.exec_driver_sql(begin)
            return
        # Straight to the driver: this runs once per transaction, and SQLAlchemy's execution
        # layer would cost more than the statement.
        try:
            connection.connection.driver_connection.execute(begin)  # type: ignore[union-attr]
        except sqlite3.Error as error:
            raise DBAPIError.instance(
                begin, (), error, sqlite3.Error, dialect=engine.dialect
            ) from error

    engine._refkit_prepared = True  # type: ignore[attr-defined]
    return engine


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL. The switch needs an exclusive lock, and SQLite answers "database
    is locked" at once (no busy wait) while another new connection is doing the same, as when
    several processes open a brand-new database together: retry until the deadline."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def memory_engine() -> Engine:
    """One private in-memory SQLite database, shared by the threads of this process."""
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    return prepare_sqlite(engine, wal=False)


def _normalize(url: URL) -> URL:
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def engine_for_url(url: str) -> Engine:
    """An engine for a SQLAlchemy URL (``postgresql://`` means psycopg 3).

    :raises ConfigurationError: not a URL, an unknown scheme, or a driver that is not installed.
    """
    try:
        parsed = _normalize(make_url(url))
        parsed.get_dialect()
    except (ArgumentError, ValueError) as error:
        raise ConfigurationError(
            f"store {url!r} is not a database URL; use 'sqlite:///refkit.db', "
            "'postgresql+psycopg://user:password@host/db' or 'memory://'"
        ) from error
    except NoSuchModuleError as error:
        raise ConfigurationError(
            f"store {url!r} has an unknown scheme {url.split(':', 1)[0]!r}; refkit knows "
            "'sqlite', 'postgresql' (and other SQLAlchemy dialects) and 'memory'"
        ) from error
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        options.update(pool_pre_ping=True)
        if "connect_timeout" not in parsed.query:
            # An unreachable server must fail fast (StorageError), not hang a checkout.
            options.update(connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    try:
        engine = create_engine(parsed, **options)
    except ModuleNotFoundError as error:
        hint = " (pip install 'refkit[postgres]')" if "psycopg" in str(error) else ""
        raise ConfigurationError(
            f"the database driver for {parsed.drivername!r} is not installed{hint}"
        ) from error
    return prepare_sqlite(engine)
