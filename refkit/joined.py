"""One transaction with the shop's order: a refkit step inside the caller's transaction.

A writing call given ``connection=`` (an SQLAlchemy :class:`~sqlalchemy.engine.Connection`,
:class:`~sqlalchemy.orm.Session` or ``scoped_session``, such as Flask-SQLAlchemy's
``db.session``) runs its step on that connection, inside the transaction the caller owns, and
commits nothing: the shop's order and refkit's rows commit together or not at all.

What this module decides, and why:

* **A savepoint around refkit's part.** The step runs in ``SAVEPOINT`` / ``RELEASE``: a call
  that fails (a :class:`~refkit.ConflictError`, a constraint, a driver error) rolls back only
  what it wrote, and the caller's transaction stays usable (on PostgreSQL an error would
  otherwise abort the whole transaction). It costs two short statements per call.
* **No retries.** refkit cannot replay a transaction it does not own: a deadlock, a
  serialization failure or "database is locked" becomes :class:`~refkit.StorageError`, after
  refkit's savepoint was rolled back; the caller rolls back and retries its transaction (the
  calls are idempotent, so replaying them is safe).
* **Events after the caller's commit, never after a rollback.** With a ``Session``, they fire
  when its outermost transaction has committed (``after_commit`` marks it,
  ``after_transaction_end`` fires, once the session can be used again); a rollback of the
  transaction, or of a savepoint (``begin_nested()``) that held refkit's writes, drops them.
  With a bare ``Connection`` SQLAlchemy has no after-commit hook (its ``commit`` event comes
  *before* the ``COMMIT``), so they fire once the committed connection is closed (checked in
  to the pool) or begins its next transaction, and a failed ``COMMIT`` drops them.
* **The same database.** The connection must be on the store's database (the same engine or
  pool, or the same URL); the memory store's database is private, so it refuses.
* **SQLite.** refkit's own transactions begin with ``BEGIN IMMEDIATE`` so writers queue and
  its checks read the latest data. In the caller's transaction, when the driver has no
  transaction open yet (sqlite3 begins one only before the first write), refkit emits
  ``BEGIN IMMEDIATE`` itself; when one is open because the caller wrote, the caller already
  holds SQLite's write lock. Either way refkit's part runs as the only writer. A caller that
  opened a deferred transaction and only read before can be refused by SQLite ("database is
  locked") when another writer committed meanwhile: SQLite never lets it write on stale data,
  and the error is a :class:`~refkit.StorageError` to retry. Foreign keys stay the caller's
  setting (``PRAGMA foreign_keys`` cannot change inside a transaction); refkit's steps write
  consistent rows either way, and unique constraints, which settle duplicates, always hold.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction, scoped_session

from .errors import ConfigurationError, StorageError
from .storage import MemoryStore, Store

__all__ = ["Joinable", "after_commit", "connection_of", "run"]

log = logging.getLogger("refkit")
T = TypeVar("T")

#: What ``connection=`` accepts.
Joinable: TypeAlias = Connection | Session | scoped_session[Any]

_INFO_KEY: Final = "refkit_joined"
_ready: weakref.WeakSet[Any] = weakref.WeakSet()
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
_listening = threading.Lock()  # listeners are added once per engine, and once for sessions


def _session_of(joinable: object) -> Session | None:
    if isinstance(joinable, scoped_session):
        joinable = joinable()
    if isinstance(joinable, Session):
        return joinable
    return None


def connection_of(store: Store, joinable: object) -> Connection:
    """The connection of ``joinable`` refkit runs on, checked against ``store``.

    :raises ConfigurationError: not a Connection or Session, the memory store, or a
        connection on another database than the store's.
    """
    if isinstance(store, MemoryStore):
        raise ConfigurationError(
            "connection= needs a store on the shop's database, and the memory store's "
            "database is private; use ReferralProgram(store=db.engine) (or the shop's "
            "database URL) to write in the shop's transaction"
        )
    session = _session_of(joinable)
    if session is not None:
        connection = session.connection()
    elif isinstance(joinable, Connection):
        connection = joinable
    else:
        raise ConfigurationError(
            "connection= must be an SQLAlchemy Connection or Session (for example "
            f"Flask-SQLAlchemy's db.session), not {type(joinable).__name__}"
        )
    mine, theirs = store.engine, connection.engine
    if mine.pool is not theirs.pool and mine.url != theirs.url:
        raise ConfigurationError(
            "connection= is on another database than the program's store "
            f"({theirs.url.render_as_string(hide_password=True)} is not "
            f"{mine.url.render_as_string(hide_password=True)}); refkit can only join a "
            "transaction on the database its tables live in: create the program with "
            "store=db.engine, or leave connection= out"
        )
    return connection


def _message(error: object) -> str:
    return (
        f"the database failed inside the caller's transaction: {error}. refkit rolled back "
        "its own part (a savepoint); roll back your transaction and retry it (the same "
        "call with the same order id is safe to repeat)"
    )


def run(store: Store, joinable: object, work: Callable[[Connection], T]) -> T:
    """Run ``work`` on the caller's connection inside a savepoint; commit nothing.

    :raises StorageError: a driver error (refkit's savepoint was rolled back).
    """
    if store not in _ready:
        store.read(lambda _c: None)  # creates or upgrades the tables once, as the store does
        _ready.add(store)
    try:
        connection = connection_of(store, joinable)  # a Session's may fail: a dead connection
        if not connection.in_transaction():
            connection.begin()  # as the caller's next statement would (autobegin); they commit
        if connection.dialect.name == "sqlite":
            driver = connection.connection.driver_connection
            if not getattr(driver, "in_transaction", True):
                connection.exec_driver_sql("BEGIN IMMEDIATE")  # see the module's docstring
        with connection.begin_nested():
            return work(connection)
    except DBAPIError as error:
        raise StorageError(_message(error.orig)) from error
    except SQLAlchemyError as error:
        raise StorageError(_message(error)) from error


# -- events after the caller's commit ---------------------------------------------------


def after_commit(joinable: object, callback: Callable[[], None]) -> None:
    """Call ``callback()`` once the transaction ``joinable`` is in has committed; never if
    it (or a savepoint that held the write) rolls back."""
    session = _session_of(joinable)
    if session is not None:
        _SessionWatch.of(session).add(session, callback)
    else:
        assert isinstance(joinable, Connection)
        _watch_engine(joinable.engine)
        pending = joinable.info.setdefault(_INFO_KEY, _Pending())
        pending.entries.append((_savepoints_of(joinable), callback))


def _fire(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # the hooks log their own failures; this is a last guard
            log.exception("refkit: firing events after the caller's commit failed")


@dataclass
class _SessionWatch:
    """The callbacks waiting for one session's outermost commit."""

    entries: list[tuple[frozenset[int], Callable[[], None]]] = field(default_factory=list)
    root: SessionTransaction | None = None
    committed: bool = False

    @classmethod
    def of(cls, session: Session) -> _SessionWatch:
        watch = session.info.get(_INFO_KEY)
        if watch is None:
            _watch_sessions()
            watch = session.info[_INFO_KEY] = cls()
        assert isinstance(watch, _SessionWatch)
        return watch

    def add(self, session: Session, callback: Callable[[], None]) -> None:
        current = session.get_nested_transaction() or session.get_transaction()
        chain: set[int] = set()
        while current is not None:
            chain.add(id(current))
            if current.parent is None:
                self.root = current
            current = current.parent
        self.entries.append((frozenset(chain), callback))


_sessions_watched: list[bool] = []


def _watch_sessions() -> None:
    """Listen to every session's transactions, once per process (per-session listeners
    would cost more on each request's new session than these checks of ``session.info``)."""
    with _listening:
        if not _sessions_watched:
            event.listen(Session, "after_commit", _session_committed)
            event.listen(Session, "after_soft_rollback", _session_rolled_back)
            event.listen(Session, "after_transaction_end", _session_ended)
            _sessions_watched.append(True)


def _watch_of(session: Session) -> _SessionWatch | None:
    watch = session.info.get(_INFO_KEY) if session.info else None
    return watch if isinstance(watch, _SessionWatch) and watch.root is not None else None


def _session_committed(session: Session) -> None:
    watch = _watch_of(session)
    if watch is None or session.in_nested_transaction():
        return  # not refkit's, or a savepoint released: the outermost commit decides
    if session.get_transaction() is watch.root:
        watch.committed = True


def _session_rolled_back(session: Session, previous: SessionTransaction) -> None:
    watch = _watch_of(session)
    if watch is not None:
        watch.entries = [entry for entry in watch.entries if id(previous) not in entry[0]]


def _session_ended(session: Session, transaction: SessionTransaction) -> None:
    watch = _watch_of(session)
    if watch is None or transaction is not watch.root:
        return
    callbacks = [callback for _chain, callback in watch.entries] if watch.committed else []
    watch.entries, watch.root, watch.committed = [], None, False
    _fire(callbacks)


@dataclass
class _Pending:
    """The callbacks waiting on one bare connection (kept in ``Connection.info``)."""

    entries: list[tuple[frozenset[int], Callable[[], None]]] = field(default_factory=list)
    committing: bool = False


def _savepoints_of(connection: Connection) -> frozenset[int]:
    chain: set[int] = set()
    nested = connection.get_nested_transaction()
    while nested is not None:
        chain.add(id(nested))
        nested = getattr(nested, "_previous_nested", None)  # SQLAlchemy keeps no public link
    return frozenset(chain)


def _watch_engine(engine: Engine) -> None:
    if engine in _engines:
        return
    with _listening:
        if engine in _engines:
            return
        event.listen(engine, "commit", _connection_committing)
        event.listen(engine, "rollback", _connection_rolled_back)
        event.listen(engine, "rollback_savepoint", _savepoint_rolled_back)
        event.listen(engine, "handle_error", _connection_failed)
        event.listen(engine, "begin", _connection_settled)
        event.listen(engine.pool, "checkin", _checked_in)
        _engines.add(engine)


def _pending(connection: Connection) -> _Pending | None:
    found = connection.info.get(_INFO_KEY)
    return found if isinstance(found, _Pending) else None


def _connection_committing(connection: Connection) -> None:
    pending = _pending(connection)
    if pending is not None:
        pending.committing = True


def _connection_rolled_back(connection: Connection) -> None:
    connection.info.pop(_INFO_KEY, None)


def _savepoint_rolled_back(connection: Connection, _name: str, _context: object) -> None:
    pending = _pending(connection)
    current = connection.get_nested_transaction()
    if pending is not None and current is not None:
        pending.entries = [entry for entry in pending.entries if id(current) not in entry[0]]


def _connection_failed(context: Any) -> None:
    connection = context.connection
    pending = None if connection is None else _pending(connection)
    if pending is not None and pending.committing:
        connection.info.pop(_INFO_KEY, None)  # the COMMIT failed: nothing was stored


def _release(info: dict[Any, Any]) -> None:
    pending = info.get(_INFO_KEY)
    if isinstance(pending, _Pending) and pending.committing:
        del info[_INFO_KEY]
        _fire([callback for _chain, callback in pending.entries])


def _connection_settled(connection: Connection) -> None:
    _release(connection.info)


def _checked_in(_dbapi_connection: object, record: Any) -> None:
    if record is not None:
        _release(record.info)
