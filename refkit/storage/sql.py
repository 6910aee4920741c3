"""SqlStore: refkit's transactions on any SQLAlchemy engine.

A store runs work in one transaction on an open :class:`~sqlalchemy.engine.Connection`,
retries it as a whole when the database asks for it (serialization failures, deadlocks,
SQLite's "database is locked", a lost connection), and turns every other driver error into
:class:`~refkit.StorageError`. What the work does lives in :mod:`refkit.steps`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..errors import ConfigurationError, StorageError, StorageTimeout
from . import operations
from .deadline import CURRENT, DEFAULT_TIMEOUT, Deadline, watchdog
from .engines import (
    READ_ONLY,
    engine_for_shop,
    engine_for_url,
    restore_connection,
    timeout_message,
)
from .migrate import ensure_schema

__all__ = ["SqlStore"]

log = logging.getLogger("refkit.storage")
T = TypeVar("T")

MAX_ATTEMPTS = 5
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock


def _retryable(error: DBAPIError) -> bool:
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in _RETRYABLE_SQLSTATES or error.connection_invalidated:
        return True
    return "database is locked" in str(error.orig)


def _storage_message(error: object) -> str:
    return (
        f"the database failed: {error}. Nothing was stored; check that the store URL is right "
        "and the database is reachable and writable, then retry (retrying the same call, "
        "for example the same order id, is safe)"
    )


class _CommitLost(Exception):
    """The driver raised after COMMIT was sent: the work may have committed."""

    def __init__(self, error: DBAPIError, result: object) -> None:
        super().__init__(str(error))
        self.error = error
        self.result = result


class SqlStore:
    """Storage on any SQLAlchemy engine.

    :param engine: an :class:`~sqlalchemy.engine.Engine` (for example Flask-SQLAlchemy's
        ``db.engine``: refkit's tables, all prefixed ``refkit_``, live beside the shop's, and
        the engine's event listeners see every statement refkit runs) or a database URL.
    :param create: create or upgrade the tables on first use.
    :param timeout: the deadline of each call, in seconds (``None``: none); see
        :attr:`timeout`.
    """

    def __init__(
        self,
        engine: Engine | str,
        *,
        create: bool = True,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        #: How long one call (:meth:`transaction`, :meth:`read`) may take, in seconds, all
        #: included: connecting, waiting for locks, retries, and finding out whether a COMMIT
        #: whose answer was lost went through. Past it, :class:`~refkit.StorageTimeout`.
        #: ``None``: no deadline. ``ReferralProgram(timeout=...)`` sets it.
        self.timeout = check_timeout(timeout)
        if isinstance(engine, str):
            engine = engine_for_url(engine)
        #: the engine refkit's statements run on (a shop's own engine, or on SQLite an
        #: option engine sharing its pool and listeners: see ``refkit/storage/engines.py``)
        self.engine = engine_for_shop(engine)
        self._ready = not create
        self._ready_lock = threading.Lock()
        self._lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        self._writes = itertools.count()
        #: Whether a COMMIT's outcome can be unknown (a network database): SQLite's COMMIT
        #: runs in this process and either commits or fails with nothing committed, so its
        #: transactions record no operation id (``storage/operations.py``).
        self._remote = self.engine.dialect.name != "sqlite"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.engine.url.render_as_string(hide_password=True)}>"

    def create_all(self) -> None:
        """Create the tables, or upgrade them to this release's schema (idempotent)."""
        try:
            with self._lock:
                ensure_schema(self.engine)
        except SQLAlchemyError as error:
            raise StorageError(
                f"could not create refkit's tables: {error}. Check that the store URL points "
                "to a database (for SQLite, in a directory that exists) and that it is writable"
            ) from error
        self._ready = True

    def _ensure_ready(self) -> None:
        if not self._ready:
            with self._ready_lock:
                if not self._ready:
                    self.create_all()

    def transaction(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(connection)`` in one transaction and commit it, retrying serialization
        failures, deadlocks and locks; driver errors become :class:`~refkit.StorageError`."""
        return self._run(work, read_only=False)

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(connection)`` in one read-only transaction, for queries of your own
        over refkit's tables (reports, dashboards). Tables are created first if needed, and
        driver errors become :class:`~refkit.StorageError`."""
        return self._run(work, read_only=True)

    def _run(self, work: Callable[[Connection], T], *, read_only: bool) -> T:
        self._ensure_ready()
        deadline = None if self.timeout is None else Deadline.start(self.timeout)
        operation = None if read_only or not self._remote else operations.new_id()
        token = CURRENT.set(deadline)
        try:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                try:
                    return self._attempt(work, read_only, deadline, operation)
                except _CommitLost as lost:
                    assert operation is not None
                    if self._committed(operation, deadline, lost.error):
                        log.warning(
                            "refkit: the answer to COMMIT was lost (%s); the write committed, "
                            "so it is not run again",
                            lost.error.orig,
                        )
                        return cast(T, lost.result)
                    error = lost.error
                except DBAPIError as failed:
                    error = failed
                except StorageError:
                    raise
                except SQLAlchemyError as failed:
                    raise StorageError(_storage_message(failed)) from failed
                if deadline is not None and deadline.expired:
                    raise StorageTimeout(
                        timeout_message(deadline.timeout, f"last error: {error.orig}"),
                        deadline.timeout,
                    ) from error
                if attempt < MAX_ATTEMPTS and _retryable(error):
                    log.info("refkit: retrying after %s (attempt %d)", error.orig, attempt)
                    pause = 0.01 * 2**attempt
                    time.sleep(pause if deadline is None else min(pause, deadline.remaining()))
                    continue
                raise StorageError(_storage_message(error.orig)) from error
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            CURRENT.reset(token)

    def _attempt(
        self,
        work: Callable[[Connection], T],
        read_only: bool,
        deadline: Deadline | None,
        operation: str | None,
    ) -> T:
        """One attempt: begin, run ``work``, record ``operation``, commit; watched by the
        watchdog until the deadline. Raises :class:`_CommitLost` when COMMIT fails."""
        with self._lock, self.engine.connect() as connection:
            watch = (
                None
                if deadline is None
                else watchdog.watch(deadline, connection.connection.dbapi_connection)
            )
            try:
                if read_only:
                    connection = connection.execution_options(**{READ_ONLY: True})
                try:
                    transaction = connection.begin()
                    try:
                        recorded = False
                        if deadline is not None and connection.dialect.name == "postgresql":
                            # One round trip: the timeouts, and the operation id if any.
                            operations.start_postgres(
                                connection, deadline.remaining_ms(), operation
                            )
                            recorded = True
                        result = work(connection)
                        if operation is not None:
                            if not recorded:
                                operations.record(connection, operation)
                            if next(self._writes) % operations.PURGE_EVERY == 0:
                                operations.purge(connection)
                    except BaseException:
                        transaction.rollback()
                        raise
                    try:
                        transaction.commit()
                    except DBAPIError as error:
                        # A COMMIT the database refused leaves its transaction open (SQLite):
                        # end it; on a lost connection this does nothing.
                        with contextlib.suppress(SQLAlchemyError):
                            transaction.rollback()
                        if operation is None:
                            raise
                        raise _CommitLost(error, result) from error
                    return result
                finally:
                    restore_connection(connection)
            finally:
                if watch is not None and watchdog.cancel(watch):
                    connection.invalidate()  # its socket was shut down: never reuse it

    def _committed(self, operation: str, deadline: Deadline | None, error: DBAPIError) -> bool:
        """Whether ``operation`` committed, asked on a new connection (retried, within the
        deadline, while the database cannot answer)."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self._lock, self.engine.connect() as connection:
                    watch = (
                        None
                        if deadline is None
                        else watchdog.watch(deadline, connection.connection.dbapi_connection)
                    )
                    try:
                        transaction = connection.begin()
                        try:  # a read: rolled back, not committed
                            return operations.committed(connection, operation)
                        finally:
                            transaction.rollback()
                    finally:
                        if watch is not None and watchdog.cancel(watch):
                            connection.invalidate()
            except (SQLAlchemyError, StorageError) as failed:
                if (deadline is not None and deadline.expired) or attempt == MAX_ATTEMPTS:
                    message = (
                        f"the answer to COMMIT was lost ({error.orig}) and the database "
                        f"could not be asked whether the write committed ({failed}): the "
                        "outcome is unknown. Check the stored state (for example "
                        "program.conversion(order_id)) before repeating a refund or approval"
                    )
                    if deadline is not None:
                        raise StorageTimeout(message, deadline.timeout) from error
                    raise StorageError(message) from error
                time.sleep(
                    0.01 * 2**attempt
                    if deadline is None
                    else min(0.01 * 2**attempt, deadline.remaining())
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Release the engine's pooled connections."""
        self.engine.dispose()


def check_timeout(timeout: object) -> float | None:
    """``timeout`` as seconds (a positive number) or ``None``.

    :raises ConfigurationError: anything else.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ConfigurationError(
            f"timeout must be a positive number of seconds or None, not {timeout!r}"
        )
    if timeout == float("inf"):
        return None
    return float(timeout)
