"""Engines by URL, with the settings refkit relies on, and refkit's view of a shop's engine.

Engines refkit creates from a URL are refkit's own. SQLite ones get WAL, ``synchronous=NORMAL``,
a busy timeout and foreign keys on every new connection, the driver's implicit transactions
switched off, and transactions that refkit begins itself: ``BEGIN IMMEDIATE`` for writes (the
write lock is taken at once, so concurrent writers queue instead of failing with "database is
locked" halfway through) and a deferred ``BEGIN`` for read-only work, which never blocks
writers.

A shop's own engine (``ReferralProgram(store=db.engine)``) is not changed: refkit runs on
``engine.execution_options(...)`` (:func:`engine_for_shop`), an option engine that shares the
shop's pool, dialect and event listeners, so every statement refkit runs is seen by the shop's
``before_cursor_execute`` listeners, Flask-SQLAlchemy's query recording and OpenTelemetry's
SQLAlchemy instrumentation. On SQLite, a ``begin`` listener local to that option engine (the
shop's own transactions never see it) gives refkit's transactions the same ``BEGIN
IMMEDIATE`` / ``BEGIN`` as above, through :meth:`~sqlalchemy.engine.Connection.exec_driver_sql`
(so it is a visible statement too). What was verified, and chosen, for the shop's connections:

* the driver's transaction handling (``isolation_level``) is left as the shop set it: with
  sqlite3's default (implicit ``BEGIN`` before DML), the explicit ``BEGIN IMMEDIATE`` comes
  first and the driver sees a transaction already open, and its ``commit()`` ends it; with
  ``isolation_level=None`` it is the same. A connection already inside a transaction (a driver
  that always keeps one open) is left alone.
* ``PRAGMA foreign_keys`` is per connection and off by default in SQLite: for refkit's
  transactions it is switched on before ``BEGIN`` (it cannot change inside a transaction)
  and, if it was off, switched off again afterwards (:func:`restore_connection`), so refkit's
  foreign keys are enforced and the shop's connection is handed back as it was.
* the journal mode and ``synchronous`` stay the shop's choice (the journal mode is a property
  of the file, ``synchronous`` the durability the shop chose), and so does the busy timeout
  (sqlite3's default is 5 seconds).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Final

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from ..errors import ConfigurationError

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "READ_ONLY",
    "engine_for_shop",
    "engine_for_url",
    "memory_engine",
    "prepare_sqlite",
    "restore_connection",
]

BUSY_TIMEOUT_SECONDS = 30
#: PostgreSQL connect timeout, unless the URL sets ``connect_timeout`` itself.
CONNECT_TIMEOUT_SECONDS = 10
#: Execution option: the transaction only reads (SQLite begins it deferred).
READ_ONLY: Final = "refkit_read_only"
#: ``Connection.info`` key: foreign keys were switched on for refkit's transaction.
_FOREIGN_KEYS_ON: Final = "refkit_foreign_keys_on"
#: Execution option: run outside a transaction (no ``BEGIN``), for :func:`restore_connection`.
_NO_BEGIN: Final = "refkit_no_begin"


def _begin_statement(connection: Connection) -> str:
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    return "BEGIN" if read_only else "BEGIN IMMEDIATE"


def prepare_sqlite(engine: Engine, *, wal: bool = True) -> Engine:
    """Apply refkit's SQLite settings to ``engine``, an engine refkit owns (idempotent)."""
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
        connection.exec_driver_sql(_begin_statement(connection))

    engine._refkit_prepared = True  # type: ignore[attr-defined]
    return engine


def engine_for_shop(engine: Engine) -> Engine:
    """The engine refkit runs on for a shop's ``engine``: itself, except on SQLite, where it
    is an option engine sharing its pool and listeners, with refkit's ``BEGIN`` (see the
    module's docstring)."""
    if engine.dialect.name != "sqlite" or getattr(engine, "_refkit_prepared", False):
        return engine
    mine = engine.execution_options(refkit_shop_sqlite=True)

    @event.listens_for(mine, "begin")
    def _on_begin(connection: Connection) -> None:
        driver = connection.connection.driver_connection
        if connection.get_execution_options().get(_NO_BEGIN, False):
            return
        if getattr(driver, "in_transaction", False):
            return  # the driver keeps a transaction open itself: use it
        if not connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.info[_FOREIGN_KEYS_ON] = True
        connection.exec_driver_sql(_begin_statement(connection))

    return mine


def restore_connection(connection: Connection) -> None:
    """After refkit's transaction on a shop's SQLite connection: switch foreign keys back off
    if refkit switched them on (outside any transaction, where the PRAGMA takes effect)."""
    if connection.info.pop(_FOREIGN_KEYS_ON, False):
        driver = connection.connection.driver_connection
        if not getattr(driver, "in_transaction", False):
            connection.execution_options(**{_NO_BEGIN: True})
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.rollback()  # end SQLAlchemy's (empty) autobegun transaction


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
