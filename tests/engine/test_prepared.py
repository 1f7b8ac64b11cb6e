"""A prepared write (or a prepared select's read) goes to the driver's cursor when nothing
listens to the connection's statements, and through SQLAlchemy's own path when something does;
either way inside the use case's transaction, with its types' bind (and result) processing and
with SQLAlchemy's errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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
    case,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from engine import Engine, FrozenClock, audit, org
from engine import service as engine_service
from engine.models import AuditEvent, HumanTask, Instance
from engine.prepared import Prepared
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import pathway  # noqa: E402

FIXTURE = Path(__file__).parents[1] / "fixtures" / "simple"
META = MetaData()
NOTE = Table("prepared_note", META, Column("id", Integer, primary_key=True),
             Column("text", String(50), nullable=False),
             Column("at", DateTime(timezone=True), nullable=False))
ADD = Prepared(insert(NOTE))
EDIT = Prepared(update(NOTE).where(NOTE.c.id == bindparam("nid"), NOTE.c.text == bindparam("was"))
                .values(text=bindparam("now")))
AT = datetime(2025, 12, 1, 9, 30, tzinfo=UTC)
# A read whose columns need the types' result processing on SQLite: a date (text there), a
# boolean (0 or 1 there) and a NULL.
READ = Prepared(select(NOTE.c.id, NOTE.c.text, NOTE.c.at, (NOTE.c.id > 1).label("later"),
                       case((NOTE.c.id > 1, NOTE.c.at)).label("then"))
                .where(NOTE.c.id == bindparam("nid")))


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


@pytest.fixture
def no_sqlalchemy_execute(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """SQLAlchemy's execute path, noted: a prepared read that takes it shows up here."""
    taken: list[Any] = []
    real = Connection.execute

    def noted(self: Connection, statement: Any, *args: Any, **kwargs: Any) -> Any:
        taken.append(statement)
        return real(self, statement, *args, **kwargs)

    monkeypatch.setattr(Connection, "execute", noted)
    return taken


# The same read for every note from the first given on, in order.
READ_FROM = Prepared(select(*READ.statement.selected_columns).where(NOTE.c.id >= bindparam("nid"))
                     .order_by(NOTE.c.id))


def _same_row(got: Any, want: Any) -> None:
    assert got._fields == tuple(want._fields) == ("id", "text", "at", "later", "then")
    assert tuple(got) == tuple(want)
    assert [type(v) for v in got] == [type(v) for v in want]
    assert isinstance(got.at, datetime)  # not SQLite's text
    assert (got.later, got.then is None) == (got.id > 1, got.id == 1)


def test_a_prepared_read_gives_what_sqlalchemy_gives(
        notes: Engine, no_sqlalchemy_execute: list[Any]) -> None:
    with notes.db.begin() as conn:
        ADD.execute(conn, [{"id": i, "text": f"n{i}", "at": AT + timedelta(days=i)}
                           for i in (1, 2, 3)])
    for nid in (1, 2, 3, 4):
        with notes.db.begin() as conn:
            first, every = READ.first(conn, {"nid": nid}), READ_FROM.all(conn, {"nid": nid})
            assert no_sqlalchemy_execute == []
            expected_first = conn.execute(READ.statement, {"nid": nid}).first()
            expected_every = conn.execute(READ_FROM.statement, {"nid": nid}).all()
            no_sqlalchemy_execute.clear()
        assert (first is None) == (expected_first is None) == (nid == 4)
        if first is not None:
            _same_row(first, expected_first)
        assert len(every) == len(expected_every) == 4 - nid
        for got, want in zip(every, expected_every, strict=True):
            _same_row(got, want)
        assert [row.at for row in every] == [AT + timedelta(days=i) for i in range(nid, 4)]


def test_with_a_statement_listener_a_read_is_sqlalchemys(notes: Engine) -> None:
    seen: list[str] = []

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.append(sql)

    with notes.db.begin() as conn:
        ADD.execute(conn, [{"id": 1, "text": "one", "at": AT}, {"id": 2, "text": "two", "at": AT}])
    event.listen(notes.db, "before_cursor_execute", statement)
    try:
        with notes.db.begin() as conn:
            row = READ.first(conn, {"nid": 1})
            rows = READ_FROM.all(conn, {"nid": 1})
    finally:
        event.remove(notes.db, "before_cursor_execute", statement)
    assert [s.split()[0] for s in seen] == ["SELECT", "SELECT"]
    assert (row.id, row.text, row.later) == (1, "one", False)
    assert [(row.id, row.later) for row in rows] == [(1, False), (2, True)]


def test_a_read_error_is_sqlalchemys(notes: Engine) -> None:
    broken = Prepared(select(NOTE.c.id).where(NOTE.c.id == bindparam("nid")))
    META.drop_all(notes.db)
    try:
        with notes.db.connect() as conn:
            conn.begin()
            with pytest.raises(DBAPIError):
                broken.first(conn, {"nid": 1})
            conn.rollback()
    finally:
        META.create_all(notes.db)


def test_a_prepared_select_names_each_column_once_and_takes_no_in_of_a_list(
        notes: Engine) -> None:
    with pytest.raises(ValueError, match="names each column once"):
        Prepared(select(NOTE.c.id, NOTE.c.text.label("id")))
    listed = Prepared(select(NOTE.c.id).where(NOTE.c.text.in_(["one", "two"])))
    with notes.db.begin() as conn, pytest.raises(ValueError, match="no IN of a list"):
        listed.first(conn, {})


def test_completing_and_claiming_read_their_task_through_the_driver(
        engine: Engine, people: dict[str, str], deploy: Any,
        no_sqlalchemy_execute: list[Any]) -> None:
    deploy(FIXTURE)
    iid = engine.start("simple", "cpp1", {"child_ref": "C-101"}, practitioner="sw",
                       auditor="auditor")
    with engine.transaction() as s:
        task = s.execute(select(HumanTask).where(HumanTask.instance_id == iid)).scalar_one()
    with pytest.raises(engine_service.NotAllowed):  # read, found, and refused: not a group task
        engine.claim(task.id, "auditor")
    engine.complete_task(task.id, "auditor", {"answer": "yes"})
    reads = {engine_service._TASK_TO_COMPLETE.statement, engine_service._TASK_TO_CLAIM.statement}
    assert not reads & set(no_sqlalchemy_execute)
    with engine.transaction() as s:
        assert s.get(HumanTask, task.id).status == "completed"


def test_the_worker_reads_what_is_due_through_the_driver(
        engine: Engine, clock: FrozenClock, people: dict[str, str], deploy: Any,
        no_sqlalchemy_execute: list[Any]) -> None:
    deploy(FIXTURE)
    iid = engine.start("simple", "cpp1", {"child_ref": "C-102"}, practitioner="sw",
                       auditor="auditor")
    assert engine.fire_due_timers() == 0  # nothing due yet
    clock.advance(timedelta(days=2))  # the fixture's deadline: noon the next day
    assert engine.fire_due_timers() == 1
    assert engine.fire_due_timers() == 0
    reads = {engine_service._ANY_DUE.statement, engine_service._NEXT_DUE.statement,
             engine_service._NEXT_DUE_SKIP_LOCKED.statement}
    assert not reads & set(no_sqlalchemy_execute)
    with engine.transaction() as s:
        kinds = s.execute(select(AuditEvent.kind).where(AuditEvent.instance_id == iid)).scalars()
        assert list(kinds).count("timer_fired") == 1


def test_the_pathways_people_claims_and_escalations_are_read_through_the_driver(
        monkeypatch: pytest.MonkeyPatch, no_sqlalchemy_execute: list[Any]) -> None:
    used: set[Prepared] = set()
    for name in ("first", "all", "execute"):
        real = getattr(Prepared, name)

        def noted(self: Prepared, *args: Any, _real: Any = real) -> Any:
            used.add(self)
            return _real(self, *args)

        monkeypatch.setattr(Prepared, name, noted)
    with pathway.bench() as b:
        script = pathway.record(b)
        no_sqlalchemy_execute.clear()
        used.clear()
        pathway.walk_persisted(b, script)
    assert script.timers_fired == 2  # both deadlines escalated
    assert {engine_service._LATEST_VERSION, org._HOLDER_NAMED, org._ROLES, org._LINE,
            engine_service._CLAIM, engine_service._RECIPIENT, org._RECIPIENTS,
            engine_service._TO_ESCALATE, engine_service._MARK_ESCALATED} <= used
    assert not {id(p.statement) for p in used} & set(map(id, no_sqlalchemy_execute))
