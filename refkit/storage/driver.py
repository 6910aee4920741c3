"""Core statements compiled once per engine and run straight on the DBAPI cursor.

SQLAlchemy's execution layer costs several times what SQLite needs to run a small INSERT
(about 60 µs against 9 µs on the benchmark machine), and a rewarded conversion runs four of
them. :class:`DriverStatement` keeps SQLAlchemy for what it is good at, writing the SQL for
each dialect (placeholders, ``ON CONFLICT``, ``RETURNING``) and converting values through the
columns' types, but does it once per engine, then hands the SQL string and converted
parameters to the driver.

The statement runs on the connection's own DBAPI connection, inside the transaction
SQLAlchemy began, and driver errors are raised as SQLAlchemy's (:class:`~sqlalchemy.exc.\
IntegrityError`, :class:`~sqlalchemy.exc.OperationalError`...), so retries and error messages
work as for any other statement. Only statements without result types to convert belong
here (writes, ``RETURNING`` of a key, and one-row SELECTs whose columns' types convert
the values). Engines with ``echo`` on run
them through SQLAlchemy instead, so the log shows every statement.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["DriverStatement"]

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    """The SQL for one dialect, and how to turn a parameter dict into the driver's."""

    sql: str
    #: parameter names in placeholder order (positional paramstyles), else None
    order: tuple[str, ...] | None
    processors: tuple[tuple[str, Processor], ...]
    #: the values of the statement's own parameters (literals, LIMIT), already converted
    constants: dict[str, Any]
    #: the selected columns' names, and their result processors (None: as the driver gives)
    columns: tuple[str, ...]
    results: tuple[Processor | None, ...]

    def parameters(self, values: Mapping[str, Any]) -> Any:
        converted = {**self.constants, **values}
        for name, process in self.processors:
            converted[name] = process(converted[name])
        if self.order is None:
            return converted
        return tuple(converted[name] for name in self.order)


class DriverStatement:
    """The statement ``build(dialect_name)`` returns, compiled for the parameter names
    ``keys`` once per engine, run on the DBAPI cursor.

    Every execution must pass exactly ``keys``.
    """

    def __init__(self, build: Callable[[str], Executable], keys: Sequence[str]) -> None:
        self.build = build
        self.keys = tuple(keys)
        self._compiled: weakref.WeakKeyDictionary[Dialect, _Compiled] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"<DriverStatement {self.build('sqlite')}>"

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect)
        if found is None:
            statement = self.build(dialect.name)
            compiled = statement.compile(dialect=dialect, column_keys=list(self.keys))  # type: ignore[attr-defined]
            assert isinstance(compiled, SQLCompiler)
            processors, constants = [], {}
            for bind, name in compiled.bind_names.items():
                process = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if name not in self.keys:
                    value = bind.effective_value
                    constants[name] = value if process is None else process(value)
                elif process is not None:
                    processors.append((name, process))
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            selected = getattr(statement, "exported_columns", ())
            found = _Compiled(
                compiled.string,
                order,
                tuple(processors),
                constants,
                tuple(column.key for column in selected),
                tuple(
                    column.type.dialect_impl(dialect).result_processor(dialect, None)
                    for column in selected
                ),
            )
            self._compiled[dialect] = found
        return found

    def first(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        """Run once; the first column of the first row returned, or ``None``."""
        if connection.engine.echo:
            statement = self.build(connection.dialect.name)
            row = connection.execute(statement, dict(values)).first()
            return None if row is None else row[0]
        compiled = self._for(connection.dialect)
        parameters = compiled.parameters(values)
        cursor = self._cursor(connection)
        try:
            cursor.execute(compiled.sql, parameters)
            row = cursor.fetchone() if cursor.description is not None else None
        except Exception as error:
            raise self._wrapped(connection, error, compiled.sql, parameters, cursor) from error
        finally:
            cursor.close()
        return None if row is None else row[0]

    def row(self, connection: Connection, values: Mapping[str, Any]) -> SimpleNamespace | None:
        """Run a SELECT once; its first row, values converted by the columns' types, with
        one attribute per selected column, or ``None``."""
        if connection.engine.echo:
            statement = self.build(connection.dialect.name)
            found = connection.execute(statement, dict(values)).first()
            return None if found is None else SimpleNamespace(**found._mapping)
        compiled = self._for(connection.dialect)
        parameters = compiled.parameters(values)
        cursor = self._cursor(connection)
        try:
            cursor.execute(compiled.sql, parameters)
            raw = cursor.fetchone()
        except Exception as error:
            raise self._wrapped(connection, error, compiled.sql, parameters, cursor) from error
        finally:
            cursor.close()
        if raw is None:
            return None
        return SimpleNamespace(
            **{
                name: value if process is None else process(value)
                for name, value, process in zip(
                    compiled.columns, raw, compiled.results, strict=True
                )
            }
        )

    def many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per row of ``rows`` (the driver's ``executemany``)."""
        if connection.engine.echo:
            connection.execute(self.build(connection.dialect.name), [dict(row) for row in rows])
            return
        compiled = self._for(connection.dialect)
        parameters = [compiled.parameters(row) for row in rows]
        cursor = self._cursor(connection)
        try:
            cursor.executemany(compiled.sql, parameters)
        except Exception as error:
            raise self._wrapped(connection, error, compiled.sql, parameters, cursor) from error
        finally:
            cursor.close()

    @staticmethod
    def _cursor(connection: Connection) -> Any:
        driver = connection.connection.driver_connection
        assert driver is not None
        return driver.cursor()

    @staticmethod
    def _wrapped(
        connection: Connection, error: Exception, sql: str, parameters: Any, cursor: Any
    ) -> Exception:
        """The driver's ``error`` as SQLAlchemy would raise it (other errors unchanged)."""
        dialect = connection.dialect
        base = dialect.loaded_dbapi.Error
        if not isinstance(error, base):
            return error
        invalidated = dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
        if invalidated:
            connection.invalidate(error)
        return DBAPIError.instance(
            sql,
            parameters,
            error,
            base,
            connection_invalidated=invalidated,
            dialect=dialect,
        )
