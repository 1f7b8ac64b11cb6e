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

A prepared select (`first`, `all`) is read the same way: a row comes back as a named tuple with the
columns' keys, each value through its column type's result processor, as SQLAlchemy would
process it (SQLite returns a date as text, a boolean as 0 or 1); it is only read when nothing
listens, and otherwise is SQLAlchemy's own Row. Measured on the task-completion select, in a
loop: 30 us through `Connection.execute`, 11 directly; over whole 20-task walks (30 of each,
alternating), 27.4 against 26.0 ms. A statement with an IN of a list is refused: its SQL is
made afresh at each execution.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Select
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql.expression import UpdateBase

_T = TypeVar("_T")


@dataclass(frozen=True)
class _Compiled:
    sql: str
    order: tuple[str, ...] | None  # the parameter names in order, for positional drivers
    fixed: dict[str, Any]  # values written into the statement (a status, a NULL)
    processors: dict[str, Callable[[Any], Any]]


class Prepared:
    def __init__(self, statement: UpdateBase | Select[*tuple[Any, ...]]):
        self.statement = statement
        self._compiled: dict[tuple[str, frozenset[str]], _Compiled] = {}
        # A select's columns that have a result processor, with it, per database kind: found
        # from the driver's description of the first row read.
        self._results: dict[str, list[tuple[int, Callable[[Any], Any]]]] = {}
        if isinstance(statement, Select):
            # The row's names, as SQLAlchemy's Row has them (`selected_columns.keys()` would
            # rename a second "id" to "id_1", which the Row does not).
            keys = [str(column.key) for column in statement.selected_columns]
            if len(set(keys)) != len(keys) or not all(k.isidentifier() for k in keys):
                raise ValueError(f"a prepared select names each column once: {keys}")
            self._row: Any = namedtuple("Row", keys)  # type: ignore[misc]

    def _compile(self, dialect: Dialect, keys: frozenset[str]) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect, column_keys=sorted(keys))
        if compiled.post_compile_params:  # an IN of a list: its SQL is made at each execution
            raise ValueError("a prepared statement takes no IN of a list of values")
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

    def _find_results(self, dialect: Dialect, description: Any
                      ) -> list[tuple[int, Callable[[Any], Any]]]:
        """Each column's result processor, as SQLAlchemy finds it: the column type's for this
        dialect, given the driver's type code for the column."""
        assert isinstance(self.statement, Select)
        found: list[tuple[int, Callable[[Any], Any]]] = []
        for i, column in enumerate(self.statement.selected_columns):
            processor = column.type.dialect_impl(dialect).result_processor(
                dialect, description[i][1])
            if processor is not None:
                found.append((i, processor))
        self._results[dialect.name] = found
        return found

    def _lookup(self, conn: Connection, keys: frozenset[str]) -> _Compiled:
        return self._compiled.get((conn.dialect.name, keys)) or self._compile(conn.dialect, keys)

    def _on_cursor(self, conn: Connection, c: _Compiled, args: Any,
                   use: Callable[[Any], _T]) -> _T:
        """`use` the driver's cursor of the connection's transaction; a driver error is raised
        as SQLAlchemy raises it, through its own handling (private, but what its execute path
        calls): wrapped as it would be, a lost connection invalidated (it always raises)."""
        cursor = conn.connection.cursor()
        try:
            return use(cursor)
        except conn.dialect.loaded_dbapi.Error as exc:
            conn._handle_dbapi_exception(exc, c.sql, args, cursor, None)
        finally:
            cursor.close()

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
        c = self._lookup(conn, frozenset(rows[0]))
        one = len(rows) == 1 and isinstance(params, Mapping)
        args = self._params(c, rows[0]) if one else [self._params(c, row) for row in rows]
        if not _unobserved(conn):
            return conn.exec_driver_sql(c.sql, args).rowcount

        def write(cursor: Any) -> int:
            (cursor.execute if one else cursor.executemany)(c.sql, args)
            return int(cursor.rowcount)

        return self._on_cursor(conn, c, args, write)

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """A prepared select's first row (its columns by key and by position), or None."""
        if not _unobserved(conn):
            return conn.execute(self.statement, params).first()
        rows = self._read(conn, params, lambda cursor: cursor.fetchmany(1))
        return rows[0] if rows else None

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """A prepared select's rows, each as `first` returns one."""
        if not _unobserved(conn):
            return list(conn.execute(self.statement, params).all())
        return self._read(conn, params, lambda cursor: cursor.fetchall())

    def _read(self, conn: Connection, params: Mapping[str, Any],
              fetch: Callable[[Any], list[Any]]) -> list[Any]:
        c = self._lookup(conn, frozenset(params))
        args = self._params(c, params)

        def read(cursor: Any) -> tuple[list[Any], list[tuple[int, Callable[[Any], Any]]]]:
            cursor.execute(c.sql, args)
            found = fetch(cursor)
            results = self._results.get(conn.dialect.name)
            return found, (results if results is not None
                           else self._find_results(conn.dialect, cursor.description))

        found, results = self._on_cursor(conn, c, args, read)
        make = self._row._make
        if not results:
            return [make(row) for row in found]
        rows = []
        for row in found:
            values = list(row)
            for i, processor in results:
                values[i] = processor(values[i])
            rows.append(make(values))
        return rows


def _unobserved(conn: Connection) -> bool:
    """Whether a statement may skip SQLAlchemy's path: inside a transaction (the path would begin
    one), with nothing listening to statements or logging them."""
    if not conn.in_transaction() or getattr(conn, "_echo", True):
        return False
    # Neither the connection nor its engine marked as having listeners (a private flag of
    # SQLAlchemy's, set by any listener added to either): none to ask about.
    if not (getattr(conn, "_has_events", True) or getattr(conn.engine, "_has_events", True)):
        return True
    events = conn.dispatch
    return not (events.before_execute or events.after_execute or events.before_cursor_execute
                or events.after_cursor_execute)
