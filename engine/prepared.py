"""Statements of the busiest use cases, compiled once per database and key set.

`Connection.execute` walks a statement to find its cache key at every call: for the joined
selects and guarded updates of a task completion that walk costs more than SQLite takes to
run them (measured here: 40-60 us against 10-20 us). A `Prepared` statement is compiled once
per database kind and set of parameter names, its parameters processed by the column types'
own bind processors, and run with `exec_driver_sql`: the SQL, the types and the connection
events (statement logging, tests counting statements) stay SQLAlchemy's.

For writes only (INSERT, UPDATE): a select's result metadata is cached with SQLAlchemy's
compiled form, so a select runs no faster this way (measured: slower).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql.expression import UpdateBase


@dataclass(frozen=True)
class _Compiled:
    sql: str
    order: tuple[str, ...] | None  # the parameter names in order, for positional drivers
    fixed: dict[str, Any]  # values written into the statement (a status, a NULL)
    processors: dict[str, Callable[[Any], Any]]


class Prepared:
    def __init__(self, statement: UpdateBase):
        self.statement = statement
        self._compiled: dict[tuple[str, frozenset[str]], _Compiled] = {}

    def _compile(self, dialect: Dialect, keys: frozenset[str]) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect, column_keys=sorted(keys))
        binds = compiled.binds
        processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in binds.items():
            processor = bind.type.bind_processor(dialect)
            if processor is not None:
                processors[name] = processor
        fixed = {name: bind.value for name, bind in binds.items() if not bind.required}
        order = tuple(compiled.positiontup or ()) if dialect.positional else None
        found = _Compiled(compiled.string, order, fixed, processors)
        self._compiled[(dialect.name, keys)] = found
        return found

    def _params(self, c: _Compiled, given: Mapping[str, Any]) -> Any:
        values = {**c.fixed, **given}
        for name, processor in c.processors.items():
            if name in values:
                values[name] = processor(values[name])
        if c.order is None:
            return values
        return tuple(values[name] for name in c.order)

    def execute(self, conn: Connection,
                params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> CursorResult[Any]:
        """Run with one set of parameters, or many (executemany) that share their names."""
        rows: Sequence[Mapping[str, Any]] = [params] if isinstance(params, Mapping) else params
        keys = frozenset(rows[0])
        c = self._compiled.get((conn.dialect.name, keys)) or self._compile(conn.dialect, keys)
        if len(rows) == 1 and isinstance(params, Mapping):
            return conn.exec_driver_sql(c.sql, self._params(c, params))
        return conn.exec_driver_sql(c.sql, [self._params(c, row) for row in rows])
