"""A prepared write goes to the driver's cursor when nothing listens to the connection's
statements, and through SQLAlchemy's own path when something does; either way inside the use
case's transaction, with its types' bind processing and with SQLAlchemy's errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from engine import Engine, audit
from engine.models import AuditEvent, HumanTask, Instance
from engine.prepared import Prepared

FIXTURE = Path(__file__).parents[1] / "fixtures" / "simple"
META = MetaData()
NOTE = Table("prepared_note", META, Column("id", Integer, primary_key=True),
             Column("text", String(50), nullable=False),
             Column("at", DateTime(timezone=True), nullable=False))
ADD = Prepared(insert(NOTE))
EDIT = Prepared(update(NOTE).where(NOTE.c.id == bindparam("nid"), NOTE.c.text == bindparam("was"))
                .values(text=bindparam("now")))
AT = datetime(2025, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def notes(engine: Engine) -> Iterator[Engine]:
    META.create_all(engine.db)
    yield engine
    META.drop_all(engine.db)


@pytest.fixture
def driver_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """SQLAlchemy's path for a statement it did not compile, refused: a write that takes it fails."""
    taken: list[str] = []

    def refused(self: Connection, statement: str, *args: Any, **kwargs: Any) -> Any:
        taken.append(statement)
        raise AssertionError(f"went through exec_driver_sql: {statement}")

    monkeypatch.setattr(Connection, "exec_driver_sql", refused)
    return taken


def _rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.db.connect() as conn:
        return [tuple(r) for r in conn.execute(select(NOTE).order_by(NOTE.c.id))]


def test_with_nothing_listening_a_write_goes_to_the_driver_and_counts_its_rows(
        notes: Engine, driver_only: list[str]) -> None:
    with notes.db.begin() as conn:
        assert ADD.execute(conn, {"id": 1, "text": "one", "at": AT}) == 1
        assert ADD.execute(conn, [{"id": 2, "text": "two", "at": AT},
                                  {"id": 3, "text": "three", "at": AT}]) in (2, -1)
        assert EDIT.execute(conn, {"nid": 2, "was": "two", "now": "deux"}) == 1
        assert EDIT.execute(conn, {"nid": 2, "was": "two", "now": "zwei"}) == 0  # guard missed
    assert driver_only == []
    # The date went through the column type's bind processing: it reads back as the same moment.
    assert [(i, t, at.replace(tzinfo=UTC) if at.tzinfo is None else at)
            for i, t, at in _rows(notes)] == [(1, "one", AT), (2, "deux", AT), (3, "three", AT)]


def test_with_a_statement_listener_a_write_is_seen_as_any_other(notes: Engine) -> None:
    seen: list[str] = []

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.append(sql)

    event.listen(notes.db, "before_cursor_execute", statement)
    try:
        with notes.db.begin() as conn:
            assert ADD.execute(conn, {"id": 1, "text": "one", "at": AT}) == 1
            assert EDIT.execute(conn, {"nid": 1, "was": "x", "now": "y"}) == 0
    finally:
        event.remove(notes.db, "before_cursor_execute", statement)
    assert [s.split()[0] for s in seen] == ["INSERT", "UPDATE"]
    assert [r[:2] for r in _rows(notes)] == [(1, "one")]


def test_outside_a_transaction_sqlalchemy_begins_one(notes: Engine) -> None:
    with notes.db.connect() as conn:
        assert not conn.in_transaction()
        ADD.execute(conn, {"id": 1, "text": "one", "at": AT})
        assert conn.in_transaction()  # SQLAlchemy's autobegin: the driver alone would not
        conn.rollback()
    assert _rows(notes) == []


def test_an_error_is_sqlalchemys_and_the_transaction_leaves_nothing(
        notes: Engine, driver_only: list[str]) -> None:
    with notes.db.begin() as conn:
        ADD.execute(conn, {"id": 1, "text": "one", "at": AT})
    with notes.db.connect() as conn:
        conn.begin()
        ADD.execute(conn, {"id": 2, "text": "two", "at": AT})
        with pytest.raises(IntegrityError):
            ADD.execute(conn, {"id": 1, "text": "again", "at": AT})
        conn.rollback()
    assert driver_only == []
    assert [r[:2] for r in _rows(notes)] == [(1, "one")]
    with notes.db.begin() as conn:  # the pool's connection is usable afterwards
        assert ADD.execute(conn, {"id": 2, "text": "two", "at": AT}) == 1
    assert [r[:2] for r in _rows(notes)] == [(1, "one"), (2, "two")]


def test_a_task_completion_writes_through_the_driver(
        engine: Engine, people: dict[str, str], deploy: Any, driver_only: list[str]) -> None:
    deploy(FIXTURE)
    iid = engine.start("simple", "cpp1", {"child_ref": "C-100"}, practitioner="sw",
                       auditor="auditor")
    with engine.transaction() as s:
        task = s.execute(select(HumanTask).where(HumanTask.instance_id == iid)).scalar_one()
    engine.complete_task(task.id, "auditor", {"answer": "yes"})
    assert driver_only == []
    with engine.transaction() as s:
        assert s.get(HumanTask, task.id).status == "completed"
        assert s.get(Instance, iid).status == "completed"  # the fixture's one task
        kinds = s.execute(select(AuditEvent.kind).where(AuditEvent.instance_id == iid)).scalars()
        assert {"task_completed", "completed"} <= set(kinds)
        assert audit.verify(s).ok  # the events chained as the driver wrote them
