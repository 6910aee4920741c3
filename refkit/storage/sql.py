"""SqlStore: refkit's transactions on any SQLAlchemy engine.

A store runs work in one transaction on an open :class:`~sqlalchemy.engine.Connection`,
retries it as a whole when the database asks for it (serialization failures, deadlocks,
SQLite's "database is locked", a lost connection), and turns every other driver error into
:class:`~refkit.StorageError`. What the work does lives in :mod:`refkit.steps`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..errors import StorageError
from .engines import READ_ONLY, engine_for_shop, engine_for_url, restore_connection
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


class SqlStore:
    """Storage on any SQLAlchemy engine.

    :param engine: an :class:`~sqlalchemy.engine.Engine` (for example Flask-SQLAlchemy's
        ``db.engine``: refkit's tables, all prefixed ``refkit_``, live beside the shop's, and
        the engine's event listeners see every statement refkit runs) or a database URL.
    :param create: create or upgrade the tables on first use.
    """

    def __init__(self, engine: Engine | str, *, create: bool = True) -> None:
        if isinstance(engine, str):
            engine = engine_for_url(engine)
        #: the engine refkit's statements run on (a shop's own engine, or on SQLite an
        #: option engine sharing its pool and listeners: see ``refkit/storage/engines.py``)
        self.engine = engine_for_shop(engine)
        self._ready = not create
        self._ready_lock = threading.Lock()
        self._lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()

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
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self._lock, self.engine.connect() as connection:
                    if read_only:
                        connection = connection.execution_options(**{READ_ONLY: True})
                    try:
                        with connection.begin():
                            return work(connection)
                    finally:
                        restore_connection(connection)
            except DBAPIError as error:
                if attempt < MAX_ATTEMPTS and _retryable(error):
                    log.info("refkit: retrying after %s (attempt %d)", error.orig, attempt)
                    time.sleep(0.01 * 2**attempt)
                    continue
                raise StorageError(_storage_message(error.orig)) from error
            except SQLAlchemyError as error:
                raise StorageError(_storage_message(error)) from error
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Release the engine's pooled connections."""
        self.engine.dispose()
