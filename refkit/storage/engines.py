"""Engines by URL, with the settings refkit relies on, and refkit's view of a shop's engine.

Engines refkit creates from a URL are refkit's own. SQLite ones get WAL, ``synchronous=NORMAL``,
a busy timeout and foreign keys on every new connection, the driver's implicit transactions
switched off, and transactions that refkit begins itself: ``BEGIN IMMEDIATE`` for writes (the
write lock is taken at once, so concurrent writers queue instead of failing with "database is
locked" halfway through) and a deferred ``BEGIN`` for read-only work, which never blocks
writers. That ``BEGIN`` is the engine's dialect's own (``do_begin``, as SQLAlchemy's implicit
one is), chosen by the connection's execution options (:data:`READ_ONLY`), not a ``begin``
event listener: any connection event listener makes SQLAlchemy dispatch events around every
statement. Every statement of the transaction goes through the public execution API.

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
* a migration that rebuilds a table other tables reference needs foreign keys off, which
  :func:`foreign_keys_off` switches outside the migration's transaction (on a shop's
  connection as on refkit's own), and back to what they were afterwards.
* the journal mode and ``synchronous`` stay the shop's choice (the journal mode is a property
  of the file, ``synchronous`` the durability the shop chose), and so does the busy timeout
  (sqlite3's default is 5 seconds).
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from ..errors import ConfigurationError, StorageTimeout
from .deadline import CURRENT, Deadline, watchdog

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "READ_ONLY",
    "engine_for_shop",
    "engine_for_url",
    "foreign_keys_off",
    "memory_engine",
    "prepare_sqlite",
    "restore_connection",
    "timeout_message",
    "watch_connections",
]

BUSY_TIMEOUT_SECONDS = 30
#: PostgreSQL connect timeout, unless the URL sets ``connect_timeout`` itself.
CONNECT_TIMEOUT_SECONDS = 10
#: ``ConnectionPoolEntry.info`` key: connected for this checkout (no ping needed).
_FRESH: Final = "refkit_fresh"
#: Execution option: the transaction only reads (SQLite begins it deferred).
READ_ONLY: Final = "refkit_read_only"
#: ``Connection.info`` key: foreign keys were switched on for refkit's transaction.
_FOREIGN_KEYS_ON: Final = "refkit_foreign_keys_on"
#: Execution option: run outside a transaction (no ``BEGIN``), for :func:`restore_connection`
#: and :func:`foreign_keys_off`.
_NO_BEGIN: Final = "refkit_no_begin"
#: ``Connection.info`` key: :func:`foreign_keys_off` holds foreign keys off on this connection.
_FOREIGN_KEYS_OFF: Final = "refkit_foreign_keys_off"
#: ``Connection.info`` key: the busy timeout (ms) last set on this SQLite connection.
_BUSY_MS: Final = "refkit_busy_ms"
#: ``Connection.info`` key, on refkit's own SQLite engines: how the connection's next
#: transaction begins (``""``: not at all), set from its execution options.
_BEGIN: Final = "refkit_begin"


def _begin_statement(connection: Connection) -> str:
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    return "BEGIN" if read_only else "BEGIN IMMEDIATE"


def _busy_ms() -> int:
    """SQLite's busy timeout (how long ``BEGIN IMMEDIATE`` waits for another writer) that
    fits inside the running call's deadline, rounded up to a quarter second."""
    deadline = CURRENT.get()
    wanted = BUSY_TIMEOUT_SECONDS * 1000 if deadline is None else deadline.remaining_ms()
    return -(-wanted // 250) * 250


def _busy_timeout(connection: Connection) -> None:
    """Fit the busy timeout inside the deadline (:func:`_busy_ms`), set only when it
    changes, so a call with its whole budget ahead runs no extra statement."""
    wanted = _busy_ms()
    if connection.info.get(_BUSY_MS) != wanted:
        connection.exec_driver_sql(f"PRAGMA busy_timeout={wanted}")
        connection.info[_BUSY_MS] = wanted


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

    # The BEGIN is the dialect's own (as SQLAlchemy's implicit BEGIN is), not a "begin"
    # listener: any connection event listener on an engine makes SQLAlchemy dispatch events
    # around every statement it runs (measured: 3 us a statement), and the BEGIN itself
    # through exec_driver_sql costs 13 us more. So on engines refkit owns, the BEGIN is not
    # a statement listeners see; every statement of the transaction is. (A shop's engine
    # keeps its listeners: engine_for_shop.)
    dialect = engine.dialect
    set_options = dialect.set_connection_execution_options

    def set_connection_execution_options(connection: Connection, opts: Any) -> None:
        set_options(connection, opts)
        if READ_ONLY in opts or _NO_BEGIN in opts:
            no_begin = connection.get_execution_options().get(_NO_BEGIN, False)
            connection.info[_BEGIN] = "" if no_begin else _begin_statement(connection)

    def do_begin(dbapi_connection: Any) -> None:
        statement = dbapi_connection.info.pop(_BEGIN, "BEGIN IMMEDIATE")
        if not statement:
            return
        cursor = dbapi_connection.cursor()
        try:
            wanted = _busy_ms()
            if dbapi_connection.info.get(_BUSY_MS) != wanted:
                cursor.execute(f"PRAGMA busy_timeout={wanted}")
                dbapi_connection.info[_BUSY_MS] = wanted
            cursor.execute(statement)
        finally:
            cursor.close()

    dialect.set_connection_execution_options = set_connection_execution_options  # type: ignore[method-assign]
    dialect.do_begin = do_begin  # type: ignore[method-assign]
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
        if connection.info.get(_FOREIGN_KEYS_OFF, False):
            pass  # a migration holds them off (foreign_keys_off)
        elif not connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.info[_FOREIGN_KEYS_ON] = True
        _busy_timeout(connection)
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


def _outside_transaction(connection: Connection, statement: str) -> Any:
    """Run ``statement`` (a ``PRAGMA``) with no transaction open; its first value, if any."""
    connection.execution_options(**{_NO_BEGIN: True})
    try:
        result = connection.exec_driver_sql(statement)
        value = result.scalar() if result.returns_rows else None
        connection.rollback()  # end SQLAlchemy's (empty) autobegun transaction
    finally:
        connection.execution_options(**{_NO_BEGIN: False})
    return value


@contextlib.contextmanager
def foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite: run the block with foreign keys off on ``connection`` (the block begins and
    commits its own transaction: ``PRAGMA foreign_keys`` takes effect only outside one, so
    it is switched here, before and after), then switch them back to what they were. What
    the block changes must be checked before it commits (``PRAGMA foreign_key_check``).
    Other dialects: the block runs as it is.

    If they cannot be switched back, the connection is invalidated (closed, never pooled
    again with foreign keys off).
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    if connection.in_transaction():
        raise RuntimeError("foreign_keys_off needs a connection outside a transaction")
    was_on = bool(_outside_transaction(connection, "PRAGMA foreign_keys"))
    if was_on:
        _outside_transaction(connection, "PRAGMA foreign_keys=OFF")
    connection.info[_FOREIGN_KEYS_OFF] = True
    try:
        yield
    finally:
        connection.info.pop(_FOREIGN_KEYS_OFF, None)
        if was_on:
            try:
                if connection.in_transaction():  # the block left one open: not committed
                    connection.rollback()
                _outside_transaction(connection, "PRAGMA foreign_keys=ON")
            except BaseException:
                connection.invalidate()
                raise


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
    postgres = parsed.get_backend_name() == "postgresql"
    if postgres and parsed.get_driver_name() == "psycopg":
        # No server-side prepared statements: psycopg prepares a statement run 5 times on a
        # connection, and behind a transaction pooler (PgBouncer) the next transaction may
        # run on another server connection, where it does not exist. refkit's statements
        # are short and few; measured, preparing them saves no time worth that.
        options.update(connect_args={"prepare_threshold": None})
    if postgres and "connect_timeout" not in parsed.query:
        # An unreachable server must fail fast (StorageError), not hang a checkout.
        options.setdefault("connect_args", {})["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    try:
        engine = create_engine(parsed, **options)
    except ModuleNotFoundError as error:
        hint = " (pip install 'refkit[postgres]')" if "psycopg" in str(error) else ""
        raise ConfigurationError(
            f"the database driver for {parsed.drivername!r} is not installed{hint}"
        ) from error
    if postgres:
        explicit = parsed.query.get("connect_timeout")
        watch_connections(engine, None if explicit is None else float(str(explicit)))
    return prepare_sqlite(engine)


def watch_connections(engine: Engine, connect_timeout: float | None = None) -> None:
    """Keep connecting and checking out within the running call's deadline, on an engine
    refkit owns (PostgreSQL):

    * a new connection gets ``connect_timeout`` = the time left (at least 2 s, libpq's
      minimum; at most ``connect_timeout``, else :data:`CONNECT_TIMEOUT_SECONDS`), and none is
      attempted once the deadline has passed (:class:`~refkit.StorageTimeout`);
    * a pooled connection is checked with ``SELECT 1`` before use (what ``pool_pre_ping``
      does, but watched: a server that never answers has its socket shut down at the
      deadline); a dead one is replaced by the pool.
    """
    ceiling = CONNECT_TIMEOUT_SECONDS if connect_timeout is None else connect_timeout

    @event.listens_for(engine, "do_connect")
    def _on_connect(dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        deadline = CURRENT.get()
        seconds = ceiling
        if deadline is not None:
            if deadline.expired:
                raise _timed_out(deadline, "connecting to the database")
            seconds = min(ceiling, max(2, math.ceil(deadline.remaining())))
        cparams["connect_timeout"] = int(seconds)
        if deadline is None or deadline.remaining() >= seconds:
            return None  # the driver's own timeout is within the deadline
        return _connect_within(deadline, lambda: dialect.connect(*cargs, **cparams))

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.pop(_FRESH, False):
            return  # just connected: alive
        deadline = CURRENT.get()
        watch = None if deadline is None else watchdog.watch(deadline, dbapi_connection)
        try:
            engine.dialect.do_ping(dbapi_connection)  # what pool_pre_ping runs
        except Exception as error:
            if deadline is not None and deadline.expired:
                raise _timed_out(deadline, "checking a pooled connection") from error
            raise DisconnectionError(str(error)) from error  # the pool connects afresh
        finally:
            if watch is not None:
                watchdog.cancel(watch)

    @event.listens_for(engine, "connect")
    def _on_new(_dbapi_connection: Any, record: Any) -> None:
        record.info[_FRESH] = True


def _connect_within(deadline: Deadline, connect: Callable[[], Any]) -> Any:
    """``connect()`` if it succeeds before ``deadline``; else :class:`~refkit.StorageTimeout`
    (libpq waits at least 2 seconds for a server that accepts the TCP connection and then
    says nothing: the connection is made in a thread, and closed if it comes too late)."""
    done = threading.Event()
    outcome: list[Any] = []
    abandoned = threading.Event()

    def run() -> None:
        try:
            outcome.append(("ok", connect()))
        except BaseException as error:
            outcome.append(("error", error))
        done.set()
        if abandoned.is_set() and outcome[0][0] == "ok":
            with contextlib.suppress(Exception):
                outcome[0][1].close()

    threading.Thread(target=run, name="refkit-connect", daemon=True).start()
    if not done.wait(deadline.remaining()):
        abandoned.set()
        if done.is_set() and outcome[0][0] == "ok":  # came in just now
            return outcome[0][1]
        raise _timed_out(deadline, "connecting to the database")
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value


def _timed_out(deadline: Deadline, doing: str) -> StorageTimeout:
    return StorageTimeout(timeout_message(deadline.timeout, doing), deadline.timeout)


def timeout_message(timeout: float, doing: str) -> str:
    """The message of a :class:`~refkit.StorageTimeout`."""
    return (
        f"the database did not answer within the deadline of {timeout:g} s ({doing}): the "
        "server may be hung or unreachable, or another process holds a lock too long. "
        "Nothing was stored, unless the message says the outcome is unknown; check the "
        "database, or raise the deadline (ReferralProgram(timeout=...), REFKIT_TIMEOUT) if "
        "calls are just slow"
    )
