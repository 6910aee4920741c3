"""Alembic environment for refkit's tables (run by :func:`refkit.storage.migrate.ensure_schema`).

There is no ``alembic.ini``: the caller builds the configuration with
:func:`refkit.storage.migrate.alembic_config` and passes an open connection in
``config.attributes["connection"]``. If that connection is already in a transaction, the
migrations run inside it and the caller commits.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from refkit.storage.migrate import VERSION_TABLE, include_name
from refkit.storage.schema import metadata

target_metadata = metadata


def run_migrations_online() -> None:
    """Migrate the connection handed over in ``config.attributes["connection"]``."""
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "refkit's migrations need a SQLAlchemy Connection in "
            'config.attributes["connection"] (see refkit.storage.migrate.alembic_config)'
        )
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_name=include_name,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("refkit's migrations run online only, on a connection")
run_migrations_online()
