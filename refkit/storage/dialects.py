"""The few statements that differ between dialects, each written once.

* :func:`insert_ignore`: insert a row unless it breaks a unique constraint, and say whether
  it did (``INSERT ... ON CONFLICT DO NOTHING RETURNING`` on SQLite and PostgreSQL, a
  savepoint elsewhere);
* :func:`insert_row`: insert a row and return its key (``RETURNING``, or SQLite's
  ``lastrowid``);
* :func:`insert_ignore_rows`: :func:`insert_ignore` for several rows in one statement (one
  multi-row ``INSERT ... ON CONFLICT DO NOTHING``);
* :func:`add_to_total`: add to the counters of a row, creating it at zero first if needed
  (``INSERT ... ON CONFLICT DO UPDATE`` on SQLite and PostgreSQL, update-else-insert
  elsewhere).

The statements are built and rendered once per table and dialect (:mod:`.prepared`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Final

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from ..errors import StorageError
from .prepared import Prepared

__all__ = [
    "ON_CONFLICT_DIALECTS",
    "add_to_total",
    "insert_ignore",
    "insert_ignore_rows",
    "insert_row",
]

#: Dialects with ``INSERT ... ON CONFLICT`` and ``RETURNING``.
ON_CONFLICT_DIALECTS: Final = ("postgresql", "sqlite")
_ATTEMPTS = 5


def _key(table: Table) -> Any:
    """The column a new row is known by: ``id`` if the table has one, else the first
    primary-key column."""
    return table.c.id if "id" in table.c else next(iter(table.primary_key.columns))


def _insert(dialect: str) -> Any:
    return pg_insert if dialect == "postgresql" else sqlite_insert


@cache
def _insert_statement(table: Table, dialect: str, keys: tuple[str, ...], ignore: bool) -> Prepared:
    statement = _insert(dialect)(table)
    if ignore:
        statement = statement.on_conflict_do_nothing()
    if dialect != "sqlite":
        # RETURNING the key: a row means "inserted" (psycopg reports a rowcount of -1 for
        # ON CONFLICT DO NOTHING). SQLite says so in the rowcount, and gives the new id as
        # the cursor's lastrowid: no result rows to read.
        statement = statement.returning(_key(table))
    return Prepared(statement, keys, {key: table.c[key].type for key in keys})


def _inserted(connection: Connection, table: Table, values: Mapping[str, Any], ignore: bool) -> Any:
    dialect = connection.dialect.name
    prepared = _insert_statement(table, dialect, tuple(values), ignore)
    if dialect != "sqlite":
        return prepared.scalar(connection, values)
    result = prepared.execute(connection, values)
    if result.rowcount != 1:
        return None
    return result.lastrowid if "id" in table.c else values[_key(table).key]


def insert_ignore(connection: Connection, table: Table, values: Mapping[str, Any]) -> Any:
    """Insert ``values`` into ``table`` unless that breaks a unique constraint.

    :returns: the new row's key (its ``id``, or its first primary-key column), or ``None``
        if a row with the same unique values exists.
    """
    if connection.dialect.name in ON_CONFLICT_DIALECTS:
        return _inserted(connection, table, values, ignore=True)
    try:
        with connection.begin_nested():
            result = connection.execute(table.insert(), dict(values))
    except IntegrityError:
        return None
    return result.inserted_primary_key[0]  # type: ignore[index]


def insert_row(connection: Connection, table: Table, values: Mapping[str, Any]) -> Any:
    """Insert ``values`` into ``table``; the new row's key (see :func:`insert_ignore`)."""
    if connection.dialect.name in ON_CONFLICT_DIALECTS:
        return _inserted(connection, table, values, ignore=False)
    return connection.execute(table.insert(), dict(values)).inserted_primary_key[0]  # type: ignore[index]


def _row_name(key: str, index: int) -> str:
    return f"{key}_{index}"


@cache
def _row_names(keys: tuple[str, ...], count: int) -> tuple[tuple[str, ...], ...]:
    """The parameter names of each of ``count`` rows of ``keys`` (:func:`_row_name`)."""
    return tuple(tuple(_row_name(key, i) for key in keys) for i in range(count))


@cache
def _insert_rows_statement(
    table: Table, dialect: str, keys: tuple[str, ...], count: int, by: str
) -> Prepared:
    rows = [
        {key: bindparam(_row_name(key, i), type_=table.c[key].type) for key in keys}
        for i in range(count)
    ]
    statement = _insert(dialect)(table).values(rows).on_conflict_do_nothing()
    if dialect != "sqlite":
        statement = statement.returning(_key(table), table.c[by])
    names = [_row_name(key, i) for i in range(count) for key in keys]
    types = {_row_name(key, i): table.c[key].type for i in range(count) for key in keys}
    return Prepared(statement, names, types)


def insert_ignore_rows(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    by: str,
    owner: str,
) -> dict[Any, Any]:
    """Insert each of ``rows`` (all with the same columns) unless it breaks a unique
    constraint, in one statement: :func:`insert_ignore` for several rows.

    :param by: a column whose value differs from row to row: the rows are told apart by it.
    :param owner: a column with the same value in every row that no row stored before holds
        (on SQLite, the keys of a partly refused insert are read back by it).
    :returns: the new rows' keys (see :func:`insert_ignore`) by their ``by`` value; a row
        refused by a unique constraint is missing.
    """
    if not rows:
        return {}
    values = [row[by] for row in rows]
    dialect = connection.dialect.name
    if dialect not in ON_CONFLICT_DIALECTS or len(set(values)) != len(rows):
        keys = {row[by]: insert_ignore(connection, table, row) for row in rows}
        return {value: key for value, key in keys.items() if key is not None}
    columns = tuple(rows[0])
    prepared = _insert_rows_statement(table, dialect, columns, len(rows), by)
    parameters = {
        name: row[key]
        for row, names in zip(rows, _row_names(columns, len(rows)), strict=True)
        for key, name in zip(columns, names, strict=True)
    }
    if dialect != "sqlite":
        return {value: key for key, value in prepared.rows(connection, parameters)}
    result = prepared.execute(connection, parameters)
    if result.rowcount == len(rows):
        if "id" not in table.c:
            return {row[by]: row[_key(table).key] for row in rows}
        # SQLite gives the rows of one INSERT consecutive ids, in order (each the largest
        # before it plus one): the last one is the cursor's lastrowid.
        first = result.lastrowid - len(rows) + 1
        return {value: first + i for i, value in enumerate(values)}
    found = select(_key(table), table.c[by]).where(table.c[owner] == rows[0][owner])
    return {value: key for key, value in connection.execute(found)}


@cache
def _upsert(table: Table, dialect: str, keys: tuple[str, ...], counts: tuple[str, ...]) -> Prepared:
    statement = _insert(dialect)(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(table.primary_key.columns),
        set_={name: table.c[name] + statement.excluded[name] for name in counts},
    )
    return Prepared(statement, (*keys, *counts))


def add_to_total(
    connection: Connection, table: Table, key: Mapping[str, Any], counts: Mapping[str, int]
) -> None:
    """Add ``counts`` to the row of ``table`` whose primary key is ``key``, creating it with
    ``counts`` if there is none, in the caller's transaction."""
    dialect = connection.dialect.name
    if dialect in ON_CONFLICT_DIALECTS:
        _upsert(table, dialect, tuple(key), tuple(counts)).execute(connection, {**key, **counts})
        return
    where = [table.c[name] == value for name, value in key.items()]
    adding = {name: table.c[name] + value for name, value in counts.items()}
    for _ in range(_ATTEMPTS):  # no upsert here: update, else insert, else update
        changed = connection.execute(update(table).where(*where).values(adding))
        if changed.rowcount == 1 or insert_ignore(connection, table, {**key, **counts}) is not None:
            return
    raise StorageError(f"could not add to {table.name}; retrying is safe")
