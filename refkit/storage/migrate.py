"""Schema creation and upgrades through the Alembic revisions in ``storage/migrations``.

:func:`ensure_schema` brings a database to this release's schema: it reads refkit's version
table (``refkit_alembic_version``) and, unless that already names :data:`HEAD`, runs
``alembic upgrade head`` in one transaction. Concurrent callers are serialized by the database
(an advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so two processes starting on a
fresh database do not race. Only tables prefixed ``refkit_`` are refkit's; a shop's own tables
in the same database are never touched.

On SQLite every migration runs with foreign keys off (``engines.foreign_keys_off``,
switched outside the transaction, the only place SQLite lets them change): rebuilding a table
that another references (revision 0009 rebuilds ``refkit_rewards``, which the ledger
references) drops it, and with foreign keys on that fails, or silently rewrites the other
table's references. Before the transaction commits, ``PRAGMA foreign_key_check`` must find
nothing wrong in refkit's tables, or the migration rolls back with a
:exc:`~refkit.StorageError`. :func:`upgrade` and :func:`downgrade` run a migration to a
given revision the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text

from ..errors import StorageError
from .engines import READ_ONLY, foreign_keys_off, restore_connection
from .schema import SCHEMA_VERSION

__all__ = [
    "HEAD",
    "MIGRATIONS",
    "VERSION_TABLE",
    "alembic_config",
    "current_revision",
    "downgrade",
    "ensure_schema",
    "include_name",
    "upgrade",
]

#: The revision this release's code expects.
HEAD = SCHEMA_VERSION
#: The Alembic script directory shipped in the package.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: refkit's own version table, so it never collides with a shop's ``alembic_version``.
VERSION_TABLE = "refkit_alembic_version"
_PREFIX = "refkit_"
_LOCK_KEY = 0x7265666B6974  # "refkit": pg_advisory_xact_lock key for schema changes


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic ``include_name`` hook: only refkit's tables (a shop's are not ours to diff)."""
    return type_ != "table" or (name or "").startswith(_PREFIX)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic :class:`~alembic.config.Config` for refkit's migrations (no ``alembic.ini``).

    :param connection: the connection ``env.py`` migrates; the caller owns its transaction.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in ``refkit_alembic_version``; ``None`` before the first upgrade."""
    with engine.connect() as connection:
        connection = connection.execution_options(**{READ_ONLY: True})
        with connection.begin():
            revision = _revision(connection)
        restore_connection(connection)  # a shop's SQLite connection: foreign keys as they were
        return revision


def ensure_schema(engine: Engine) -> None:
    """Create refkit's tables, or upgrade them to :data:`HEAD` (idempotent, concurrency-safe).

    Cheap when the database is already at :data:`HEAD`: one read of the version table.

    :raises StorageError: the database names a revision this release does not know (it was
        migrated by a newer refkit), or the upgraded tables break a foreign key (SQLite).
    """
    if current_revision(engine) == HEAD:
        return

    def work(connection: Connection) -> None:
        if _revision(connection) != HEAD:  # another process may have upgraded meanwhile
            command.upgrade(alembic_config(connection), "head")

    _migrate(engine, work, HEAD)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade refkit's tables to ``revision``, as :func:`ensure_schema` does to :data:`HEAD`
    (one transaction, under the schema lock; on SQLite with foreign keys off, then checked).

    :raises StorageError: the revision is unknown, or a foreign key is broken (SQLite).
    """
    _migrate(engine, lambda c: command.upgrade(alembic_config(c), revision), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade refkit's tables to ``revision`` (``"base"``: none left), the same way.

    What an older schema cannot hold is deleted (each revision's docstring says what).

    :raises StorageError: the revision is unknown, or a foreign key is broken (SQLite).
    """
    _migrate(engine, lambda c: command.downgrade(alembic_config(c), revision), revision)


def _migrate(engine: Engine, work: Callable[[Connection], None], revision: str) -> None:
    with engine.connect() as connection, foreign_keys_off(connection), connection.begin():
        _lock(connection)
        try:
            work(connection)
        except CommandError as error:
            raise StorageError(
                f"could not bring refkit's tables to revision {revision}: {error} "
                "(was this database migrated by a newer refkit release?)"
            ) from error
        _check_foreign_keys(connection)


def _check_foreign_keys(connection: Connection) -> None:
    """SQLite: fail (and so roll back) if a row of refkit's tables breaks a foreign key (the
    migration ran with them off). A shop's own tables are not refkit's to judge."""
    if connection.dialect.name != "sqlite":
        return
    tables = connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")
    names = [name for name in tables.scalars().all() if name.startswith(_PREFIX)]
    broken = [
        tuple(row)
        for name in names
        for row in connection.exec_driver_sql(f'PRAGMA foreign_key_check("{name}")').all()
    ]
    if broken:
        shown = ", ".join(
            f"{table} row {rowid} -> {parent}" for table, rowid, parent, _ in broken[:5]
        )
        raise StorageError(
            f"refkit's migration left {len(broken)} row(s) breaking a foreign key ({shown}); "
            "nothing was changed. Restore the referenced rows (or report a bug), then retry"
        )


def _lock(connection: Connection) -> None:
    """Serialize schema changes between processes until this transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    # SQLite: refkit's engine began this transaction with BEGIN IMMEDIATE, which holds the
    # write lock; other dialects rely on their own DDL locking.
