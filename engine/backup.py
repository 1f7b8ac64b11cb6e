"""Portable backup and restore: every table as JSON lines, loadable into SQLite or PostgreSQL.

A backup is one consistent snapshot: a header (format, schema revision, tables and columns),
one line per row in foreign-key order, and a trailer with row counts and a SHA-256 of the
lines, so a truncated or damaged file is refused. Restore loads into an empty database at the
same schema revision, keeps every id, and commits only if the audit trail still verifies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Table,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from engine import (
    audit,
    register_models,  # noqa: F401  (its tables join Base.metadata)
)
from engine.errors import EngineError
from engine.models import AuditHead, Base

FORMAT = "qaflow-backup/1"
BATCH = 500


class BackupInvalid(EngineError):
    """The file is not a complete qaflow backup for this schema, or the target is not empty."""


@dataclass
class Summary:
    path: str
    revision: str
    rows: dict[str, int] = field(default_factory=dict)
    verdict: str = ""

    def __str__(self) -> str:
        total = sum(self.rows.values())
        tables = ", ".join(f"{t} {n}" for t, n in self.rows.items() if n)
        line = f"{self.path}: {total} rows at schema {self.revision} ({tables})"
        return f"{line}\n{self.verdict}" if self.verdict else line


def _python_type(column: Column[Any]) -> type | None:
    kind = column.type
    try:
        return (kind.impl_instance if isinstance(kind, TypeDecorator) else kind).python_type
    except NotImplementedError:
        return None


def _encode(column: Column[Any], value: Any) -> Any:
    """Turn a column value into JSON: times as ISO 8601, bytes as base64, decimals as text."""
    if value is None:
        return None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decode(column: Column[Any], value: Any) -> Any:
    """Turn JSON back into the column's Python type."""
    kind = _python_type(column)
    if value is None or kind is None:
        return value
    if kind in (datetime, date, time):
        return kind.fromisoformat(value)
    if kind is bytes:
        return base64.b64decode(value)
    if kind is Decimal:
        return Decimal(value)
    return value


def _line(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, sort_keys=True) + "\n"


def _revision(conn: Connection) -> str:
    return str(MigrationContext.configure(conn).get_current_revision())


def backup(db: Engine, path: str | Path) -> Summary:
    """Write a consistent snapshot of every table to `path` (atomically replaced)."""
    tables = Base.metadata.sorted_tables
    unknown = set(inspect(db).get_table_names()) - {t.name for t in tables} - {"alembic_version"}
    if unknown:
        raise BackupInvalid(f"tables unknown to this qaflow, so not backed up: {sorted(unknown)}")
    target, partial = Path(path), Path(f"{path}.partial")
    conn = db.connect()
    if db.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with conn, conn.begin(), partial.open("w", encoding="utf-8") as out:
        summary = Summary(str(target), _revision(conn))
        out.write(_line({"format": FORMAT, "revision": summary.revision,
                         "tables": {t.name: [c.name for c in t.columns] for t in tables}}))
        digest = hashlib.sha256()
        for table in tables:
            summary.rows[table.name] = 0
            query = select(table).order_by(*table.primary_key.columns)
            for row in conn.execution_options(yield_per=BATCH).execute(query).mappings():
                line = _line({"t": table.name,
                              "r": {c.name: _encode(c, row[c]) for c in table.columns}})
                digest.update(line.encode())
                out.write(line)
                summary.rows[table.name] += 1
        out.write(_line({"end": True, "rows": summary.rows, "sha256": digest.hexdigest()}))
    os.replace(partial, target)
    return summary


def _read(path: Path) -> tuple[dict[str, Any], Iterator[tuple[Table, dict[str, Any]]]]:
    """Check the whole file first; return its header and an iterator over its rows."""
    try:
        with path.open(encoding="utf-8") as f:
            header = json.loads(f.readline() or "{}")
            digest, counts, trailer = hashlib.sha256(), dict[str, int](), None
            for line in f:
                if trailer is not None:
                    raise BackupInvalid("there is data after the end of the backup")
                doc = json.loads(line)
                if doc.get("end"):
                    trailer = doc
                    continue
                digest.update(line.encode())
                counts[doc["t"]] = counts.get(doc["t"], 0) + 1
    except (OSError, ValueError, KeyError) as exc:
        raise BackupInvalid(f"cannot read the backup: {exc}") from None
    if header.get("format") != FORMAT:
        raise BackupInvalid(f"not a {FORMAT} file")
    if trailer is None:
        raise BackupInvalid("the backup is incomplete (no end record)")
    if trailer.get("sha256") != digest.hexdigest() or \
            {t: n for t, n in trailer.get("rows", {}).items() if n} != counts:
        raise BackupInvalid("the backup is damaged (its checksum or row counts do not match)")
    wanted = {t.name: [c.name for c in t.columns] for t in Base.metadata.sorted_tables}
    if header.get("tables") != wanted:
        raise BackupInvalid("the backup's tables do not match this version of qaflow")

    def rows() -> Iterator[tuple[Table, dict[str, Any]]]:
        with path.open(encoding="utf-8") as f:
            f.readline()
            for line in f:
                doc = json.loads(line)
                if not doc.get("end"):
                    table = Base.metadata.tables[doc["t"]]
                    yield table, {c.name: _decode(c, doc["r"][c.name]) for c in table.columns}

    return header, rows()


def _deferred(table: Table, order: dict[str, int]) -> list[str]:
    """Columns pointing at their own table or a later one: loaded empty, filled in afterwards."""
    return [fk.parent.name for fk in table.foreign_keys
            if fk.parent.nullable and order[fk.column.table.name] >= order[table.name]]


def _check_empty(conn: Connection) -> None:
    for table in Base.metadata.sorted_tables:
        query = select(func.count()).select_from(table)
        if table.name == AuditHead.__tablename__:
            query = query.where(table.c.last_id != 0)
        if conn.execute(query).scalar_one():
            raise BackupInvalid(f"the database is not empty (table {table.name} has rows)")


def _reset_sequences(conn: Connection) -> None:
    for table in Base.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and pk[0].autoincrement in (True, "auto") and pk[0].type.python_type is int:
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), m) "
                f"FROM (SELECT MAX({pk[0].name}) AS m FROM {table.name}) AS t WHERE m IS NOT NULL"))


def restore(db: Engine, path: str | Path) -> Summary:
    """Load a backup into an empty database of either kind; commit only if the trail verifies."""
    from engine.migrate import upgrade

    header, rows = _read(Path(path))
    upgrade(db)
    order = {t.name: i for i, t in enumerate(Base.metadata.sorted_tables)}
    with db.connect() as conn, conn.begin():
        summary = Summary(str(path), _revision(conn))
        if header["revision"] != summary.revision:
            raise BackupInvalid(f"the backup is at schema {header['revision']}, this database "
                                f"at {summary.revision}; restore with the matching qaflow")
        _check_empty(conn)
        conn.execute(Base.metadata.tables[AuditHead.__tablename__].delete())
        pending: list[dict[str, Any]] = []
        later: list[tuple[Table, dict[str, Any]]] = []
        current: Table | None = None
        for table, row in rows:
            if table is not current and pending:
                conn.execute(current.insert(), pending)  # type: ignore[union-attr]
                pending = []
            current = table
            summary.rows[table.name] = summary.rows.get(table.name, 0) + 1
            held = {c: row[c] for c in _deferred(table, order) if row[c] is not None}
            if held:
                later.append((table, {**{c.name: row[c.name] for c in table.primary_key}, **held}))
                row = {**row, **dict.fromkeys(held)}
            pending.append(row)
            if len(pending) >= BATCH:
                conn.execute(table.insert(), pending)
                pending = []
        if pending and current is not None:
            conn.execute(current.insert(), pending)
        for table, values in later:
            keys = [c.name for c in table.primary_key]
            conn.execute(update(table).where(*[table.c[k] == values[k] for k in keys])
                         .values({k: v for k, v in values.items() if k not in keys}))
        if db.dialect.name == "postgresql":
            _reset_sequences(conn)
        verdict = audit.verify(Session(bind=conn))
        if not verdict.ok:
            raise BackupInvalid(f"not restored, the backup's {verdict}")
        summary.verdict = str(verdict)
    return summary
