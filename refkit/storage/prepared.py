"""Hot-path statements rendered once per dialect and run with ``exec_driver_sql``.

A cached Core ``Connection.execute`` still costs several times what SQLite needs to run a
small INSERT; :meth:`~sqlalchemy.engine.Connection.exec_driver_sql` costs a fraction of that
and is as public: the shop's ``before_cursor_execute`` listeners, query recording, tracing and
fault injection see the statement, and driver errors are raised (and retried) as for any
other. :class:`Prepared` keeps SQLAlchemy for what it is good at, writing the SQL for each
dialect (``ON CONFLICT``, ``RETURNING``, casts) and converting values through their types,
but does it once per engine, using only public API: ``ClauseElement.compile`` with named
placeholders, ``Compiled.params`` for the statement's own constants, and the types'
``bind_processor`` / ``result_processor``.

On SQLite and PostgreSQL (:data:`PREPARED_DIALECTS`); elsewhere the same statement runs
through ``Connection.execute``, with the same results.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Final

from sqlalchemy import Connection
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.types import TypeEngine

__all__ = ["PREPARED_DIALECTS", "Prepared"]

#: Dialects whose driver takes named parameters (``:name`` for sqlite3, ``%(name)s`` for
#: psycopg), so the SQL rendered once can be handed to it with a dict.
PREPARED_DIALECTS: Final = {"sqlite": "named", "postgresql": "pyformat"}

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Rendered:
    sql: str
    #: the values of the statement's own parameters (literals, LIMIT)
    constants: dict[str, Any]
    binds: tuple[tuple[str, Processor], ...]
    columns: tuple[str, ...]
    results: tuple[Processor | None, ...]


class Prepared:
    """``statement``, executed with parameters named ``keys`` whose types are ``types``
    (the others need no conversion).

    :param statement: a Core statement (``select``, ``insert``, ``text(...).columns(...)``).
    :param keys: the parameter names every execution passes (for an INSERT, its columns).
    :param types: the types of the parameters that need converting (datetimes).
    """

    def __init__(
        self,
        statement: ClauseElement,
        keys: Sequence[str],
        types: Mapping[str, TypeEngine[Any]] | None = None,
    ) -> None:
        self.statement = statement
        self.keys = tuple(keys)
        self.types = dict(types or {})
        self._rendered: weakref.WeakKeyDictionary[Dialect, _Rendered] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"<Prepared {self.statement}>"

    def _render(self, dialect: Dialect) -> _Rendered:
        found = self._rendered.get(dialect)
        if found is not None:
            return found
        named = type(dialect)(paramstyle=PREPARED_DIALECTS[dialect.name])  # type: ignore[call-arg]
        compiled = self.statement.compile(dialect=named, column_keys=list(self.keys))
        constants = {k: v for k, v in compiled.params.items() if k not in self.keys}
        # One processor per type (types that print alike convert alike), so that values
        # of several parameters of one type are converted once (see _parameters).
        processors: dict[str, Processor | None] = {}
        for type_ in self.types.values():
            if repr(type_) not in processors:
                processors[repr(type_)] = type_.dialect_impl(dialect).bind_processor(dialect)
        binds = tuple(
            (name, process)
            for name, type_ in self.types.items()
            if (process := processors[repr(type_)]) is not None
        )
        selected = tuple(getattr(self.statement, "exported_columns", ()))
        found = _Rendered(
            sql=compiled.string,
            constants=constants,
            binds=binds,
            columns=tuple(column.key for column in selected),
            results=tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in selected
            ),
        )
        self._rendered[dialect] = found
        return found

    @staticmethod
    def _parameters(
        rendered: _Rendered,
        values: Mapping[str, Any],
        converted: dict[tuple[Processor, Any], Any] | None = None,
    ) -> Mapping[str, Any]:
        """The driver's parameters for ``values``: the statement's constants added, and the
        values converted by their types, each distinct value once (the rows of a
        multi-row or ``executemany`` statement share ``converted``, and usually their
        dates). Values that compare equal must convert alike: true of refkit's converted
        types (UTC datetimes); a type that renders equal values differently (a Numeric's
        ``Decimal("1.0")`` and ``Decimal("1.00")``) would need its own key."""
        if not rendered.constants and not rendered.binds:
            return values
        parameters = {**rendered.constants, **values}
        if converted is None:
            converted = {}
        for name, process in rendered.binds:
            key = (process, parameters[name])
            if key not in converted:
                converted[key] = process(key[1])
            parameters[name] = converted[key]
        return parameters

    def _run(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        """The raw result on :data:`PREPARED_DIALECTS`, else ``None``."""
        dialect = connection.dialect
        if dialect.name not in PREPARED_DIALECTS:
            return None
        rendered = self._rendered.get(dialect) or self._render(dialect)
        return rendered, connection.exec_driver_sql(
            rendered.sql, self._parameters(rendered, values)
        )

    def execute(self, connection: Connection, values: Mapping[str, Any]) -> CursorResult[Any]:
        """Run once with ``values``; the raw result (for ``rowcount``)."""
        ran = self._run(connection, values)
        if ran is None:
            return connection.execute(self.statement, dict(values))  # type: ignore[call-overload, no-any-return]
        result: CursorResult[Any] = ran[1]
        return result

    def execute_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per row of ``rows`` (the driver's ``executemany``)."""
        if not rows:
            return
        dialect = connection.dialect
        if dialect.name not in PREPARED_DIALECTS:
            connection.execute(self.statement, [dict(row) for row in rows])  # type: ignore[call-overload]
            return
        rendered = self._rendered.get(dialect) or self._render(dialect)
        converted: dict[tuple[Processor, Any], Any] = {}
        parameters = [self._parameters(rendered, row, converted) for row in rows]
        connection.exec_driver_sql(rendered.sql, parameters)

    def row(self, connection: Connection, values: Mapping[str, Any]) -> SimpleNamespace | None:
        """Run once; the first row returned, one attribute per selected column, its
        values converted by the columns' types, or ``None``."""
        ran = self._run(connection, values)
        if ran is None:
            found = connection.execute(self.statement, dict(values)).first()  # type: ignore[call-overload]
            return None if found is None else SimpleNamespace(**found._mapping)
        rendered, result = ran
        raw = result.first()
        if raw is None:
            return None
        return SimpleNamespace(
            **{
                name: value if process is None or value is None else process(value)
                for name, value, process in zip(
                    rendered.columns, raw, rendered.results, strict=True
                )
            }
        )

    def rows(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run once; every row returned, as a tuple, its values converted by the columns'
        types."""
        ran = self._run(connection, values)
        if ran is None:
            return [tuple(row) for row in connection.execute(self.statement, dict(values))]  # type: ignore[call-overload]
        rendered, result = ran
        return [
            tuple(
                value if process is None or value is None else process(value)
                for value, process in zip(raw, rendered.results, strict=True)
            )
            for raw in result.all()
        ]

    def scalar(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        """Run once; the first column of the first row (converted by its type), or
        ``None``."""
        ran = self._run(connection, values)
        if ran is None:
            return connection.execute(self.statement, dict(values)).scalar()  # type: ignore[call-overload]
        rendered, result = ran
        value = result.scalar()
        process = rendered.results[0]
        return value if process is None or value is None else process(value)
