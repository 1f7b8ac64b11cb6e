"""Statements of the busiest use cases, compiled once per database and key set.

`Connection.execute` walks a statement to find its cache key at every call: for the joined
selects and guarded updates of a task completion that walk costs more than SQLite takes to
run them (measured here: 40-60 us against 10-20 us). A `Prepared` statement is compiled once
per database kind and set of parameter names, its parameters processed by the column types'
own bind processors.

It then goes to the driver's cursor itself, inside the connection's transaction, when nothing
listens to the connection's statements (no statement events, no echo): SQLAlchemy's path for a
statement it did not compile (`exec_driver_sql`) still builds an execution context and a result
for each, which costs more than SQLite takes to write the row (measured: the 112 writes of a
deep-dive pathway walk took 6.6-9.5 ms this way against 7.7-13.0 ms through that path).
An error goes through SQLAlchemy's own handling, so it is raised as SQLAlchemy would raise it
(IntegrityError, OperationalError...) and a lost connection is invalidated. When something does
listen (statement logging, a test counting statements, the bench's database floor), or outside
a transaction, the statement runs through `exec_driver_sql` and is seen as any other.

For writes only (INSERT, UPDATE): a select's rows need the column types' result processors
(SQLite returns a date as text), which SQLAlchemy's cached result metadata applies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
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
                params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> int:
        """Run with one set of parameters, or many (executemany) that share their names; return
        the number of rows written."""
        rows: Sequence[Mapping[str, Any]] = [params] if isinstance(params, Mapping) else params
        keys = frozenset(rows[0])
        c = self._compiled.get((conn.dialect.name, keys)) or self._compile(conn.dialect, keys)
        one = len(rows) == 1 and isinstance(params, Mapping)
        args = self._params(c, rows[0]) if one else [self._params(c, row) for row in rows]
        if not _unobserved(conn):
            return conn.exec_driver_sql(c.sql, args).rowcount
        cursor = conn.connection.cursor()
        try:
            if one:
                cursor.execute(c.sql, args)
            else:
                cursor.executemany(c.sql, args)
            return int(cursor.rowcount)
        except conn.dialect.loaded_dbapi.Error as exc:
            # SQLAlchemy's own handling (private, but what its execute path calls): the error
            # wrapped as it would be, a lost connection invalidated; it always raises (NoReturn).
            conn._handle_dbapi_exception(exc, c.sql, args, cursor, None)
        finally:
            cursor.close()


def _unobserved(conn: Connection) -> bool:
    """Whether a statement may skip SQLAlchemy's path: inside a transaction (the path would begin
    one), with nothing listening to statements or logging them."""
    events = conn.dispatch
    return (conn.in_transaction() and not getattr(conn, "_echo", True)
            and not (events.before_execute or events.after_execute or events.before_cursor_execute
                     or events.after_cursor_execute))
