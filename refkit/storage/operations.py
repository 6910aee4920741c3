"""Operation ids: knowing whether a write committed when the answer to its COMMIT was lost.

Every write transaction the runner (``storage/sql.py``) runs inserts one row into
``refkit_operations`` just before COMMIT: an id made for the call (time-ordered: 12 hex digits
of milliseconds since the epoch, then 20 random ones), the same for all its attempts. If the
driver raises after COMMIT was sent (the connection dropped, the answer never came), the
transaction may or may not have committed. The runner then looks the id up on a new
connection: found, the transaction committed, and the call returns the result its work
computed (what the database now holds), so the program fires its events once; missing, it did
not commit, and retrying runs the work again. Nothing is ever run twice, whatever the step.

Only on network databases (PostgreSQL and the other non-SQLite dialects): SQLite runs its
COMMIT in this process, and a COMMIT that raises there committed nothing, so its writes skip
the extra insert.

The ids are time-ordered so that the purge of rows older than :data:`KEEP` is a range delete
on the primary key (:func:`purge`, run once per :data:`PURGE_EVERY` writes of a process).
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import Connection, bindparam, delete, insert, select

from .prepared import Prepared
from .schema import operations

__all__ = ["KEEP", "PURGE_EVERY", "committed", "new_id", "purge", "record", "start_postgres"]

#: How long an operation's row is kept: far longer than any call's retries.
KEEP: Final = timedelta(days=1)
#: A process purges old rows once every this many write transactions.
PURGE_EVERY: Final = 1000

_RECORD: Final = Prepared(
    insert(operations), ("id", "created_at"), {"created_at": operations.c.created_at.type}
)
_FIND: Final = select(operations.c.id).where(operations.c.id == bindparam("id"))
_PURGE: Final = delete(operations).where(operations.c.id < bindparam("before"))


_LIMITS: Final = (
    "SELECT set_config('statement_timeout', %(ms)s, true), set_config('lock_timeout', %(ms)s, true)"
)
_LIMITS_AND_RECORD: Final = (
    f"WITH limits AS ({_LIMITS}) INSERT INTO refkit_operations (id, created_at) "  # noqa: S608
    "SELECT %(id)s, %(created_at)s FROM limits"
)


def _prefix(at: float) -> str:
    return f"{int(at * 1000):012x}"


def new_id() -> str:
    """A new operation id, ordered by creation time."""
    return _prefix(time.time()) + secrets.token_hex(10)


def record(connection: Connection, operation: str) -> None:
    """Store ``operation`` in the transaction under way (it commits with the work)."""
    _RECORD.execute(connection, {"id": operation, "created_at": datetime.now(UTC)})


def start_postgres(connection: Connection, timeout_ms: int, operation: str | None) -> None:
    """The first statement of a PostgreSQL transaction: its ``statement_timeout`` and
    ``lock_timeout`` (``set_config(..., true)`` is ``SET LOCAL``: nothing outlives the
    transaction, so it is safe behind a transaction pooler), and ``operation`` recorded, in
    one round trip. (The row is inserted first rather than last; it commits or rolls back
    with the work all the same.)"""
    limits = {"ms": str(int(timeout_ms))}
    if operation is None:
        connection.exec_driver_sql(_LIMITS, limits)
        return
    created_at = datetime.now(UTC).replace(tzinfo=None)  # stored naive UTC, as UTCDateTime
    connection.exec_driver_sql(
        _LIMITS_AND_RECORD, {**limits, "id": operation, "created_at": created_at}
    )


def committed(connection: Connection, operation: str) -> bool:
    """Whether a transaction that recorded ``operation`` committed."""
    return connection.execute(_FIND, {"id": operation}).first() is not None


def purge(connection: Connection) -> int:
    """Delete the operations older than :data:`KEEP`; returns how many."""
    before = _prefix(time.time() - KEEP.total_seconds())
    return connection.execute(_PURGE, {"before": before}).rowcount
