"""A workflow rebuilt from storage is the one SpiffWorkflow's own converter rebuilds.

The engine restores an audit's tasks in one loop of its own (spiff._FastTasks) rather than
through the converter's generic path. Every task it restores is held here to the stock
converter's, attribute by attribute, at every step of the framework's deep-dive pathway (an RI
grade, a dispute to stage 3, two deadlines fired, the re-audit) and with a safety concern
raised: the event subprocess it starts is a task the stock restore registers for events."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.helpers.bpmn_converter import BpmnConverter

from engine import spiff
from engine.service import stored_state_of
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import pathway  # noqa: E402

_MUTABLE = (dict, list, set)


class _StockConverter(spiff._StateOnlyConverter):
    """The engine's converter with SpiffWorkflow's own restore of tasks, on its stock registry."""

    def mapping_from_dict(self, mapping, key_class=None, **kwargs):  # type: ignore[no-untyped-def]
        return BpmnConverter.mapping_from_dict(self, mapping, key_class, **kwargs)


_STOCK_REGISTRY = BpmnWorkflowSerializer.configure()


def _stock_restore(state: str, changes: list[str], pd: Any) -> Any:
    converter = _StockConverter(_STOCK_REGISTRY, spiff._private(pd.spec, pd.subprocess_specs))
    return converter.from_dict(spiff.stored_state(state, changes))


def _same_task(ours: Any, theirs: Any) -> None:
    assert type(ours) is type(theirs)
    for name in ("id", "_parent", "_children", "_state", "triggered", "last_state_change",
                 "internal_data", "data", "thread_id"):
        assert getattr(ours, name) == getattr(theirs, name), (name, theirs.task_spec.name)
    assert type(ours.task_spec) is type(theirs.task_spec)
    assert ours.task_spec.name == theirs.task_spec.name
    assert ours.task_spec is ours.workflow.spec.task_specs.get(ours.task_spec.name)
    # A task's data is its own: a mutable value is a copy of its parent's, never the same object.
    parent = ours.parent
    if parent is not None:
        for key, value in ours.data.items():
            if isinstance(value, _MUTABLE) and key in parent.data:
                assert value is not parent.data[key], key


def _same_workflow(ours: Any, theirs: Any) -> None:
    assert list(ours.tasks) == list(theirs.tasks)
    for key, task in ours.tasks.items():
        assert task.id == key
        assert task.workflow is ours
        _same_task(task, theirs.tasks[key])
    assert ours.task_tree.id == theirs.task_tree.id
    assert ours.data == theirs.data
    assert (ours.last_task and ours.last_task.id) == (theirs.last_task and theirs.last_task.id)


def assert_restores_as_stock(state: str, changes: list[str], pd: Any) -> Any:
    """Rebuild the stored state both ways and hold the engine's to the stock converter's."""
    ours = spiff.state_from_json(state, pd.spec, pd.subprocess_specs, changes)
    theirs = _stock_restore(state, changes, pd)
    _same_workflow(ours, theirs)
    assert list(ours.subprocesses) == list(theirs.subprocesses)
    for key, sub in ours.subprocesses.items():
        assert sub.top_workflow is ours
        _same_workflow(sub, theirs.subprocesses[key])
    # The tasks waiting for an event are registered with the audit's event manager, as stock.
    assert list(ours.event_manager.tasks) == list(theirs.event_manager.tasks)
    for tid, task in ours.event_manager.tasks.items():
        assert task is ours.get_task_from_id(tid)
    assert spiff.state_to_json(ours) == spiff.state_to_json(theirs)
    return ours


@pytest.fixture(scope="module")
def walked() -> Iterator[tuple[pathway.Bench, pathway.Script]]:
    with pathway.bench() as b:
        yield b, pathway.prepare(b)


def test_every_step_of_the_pathway_is_restored_as_the_converter_restores_it(
        walked: tuple[pathway.Bench, pathway.Script]) -> None:
    b, script = walked
    seen: list[int] = []

    def observe(_ready: object) -> None:
        with b.engine.db.connect() as conn:
            state, changes = stored_state_of(conn, iid_of[0])
        wf = assert_restores_as_stock(state, list(changes), b.definition)
        seen.append(len(wf.event_manager.tasks))

    iid_of = [0]
    real_allocate = pathway._allocate

    def allocate(bench: pathway.Bench) -> int:
        iid_of[0] = real_allocate(bench)
        return iid_of[0]

    pathway._allocate = allocate  # type: ignore[assignment]
    try:
        pathway.walk_persisted(b, script, observe)
    finally:
        pathway._allocate = real_allocate  # type: ignore[assignment]
    assert len(seen) == len(script.steps) + 1
    # Deadlines are boundary timers waiting on their tasks: restored, they wait for events.
    assert sum(1 for waiting in seen if waiting) >= 5, seen


def test_a_safety_concern_and_its_event_tasks_are_restored_as_the_converter_restores_them(
        walked: tuple[pathway.Bench, pathway.Script]) -> None:
    b, _ = walked
    iid = pathway._allocate(b)
    with b.engine.db.connect() as conn:
        before = assert_restores_as_stock(*_stored(conn, iid), b.definition)
    assert not any(task.triggered for task in before.tasks.values())
    b.engine.raise_safety_concern(iid, pathway.AUDITOR, "Bruising seen at the visit")
    with b.engine.db.connect() as conn:
        after = assert_restores_as_stock(*_stored(conn, iid), b.definition)
    assert any(task.triggered for task in after.tasks.values())


def _stored(conn: Any, iid: int) -> tuple[str, list[str]]:
    state, changes = stored_state_of(conn, iid)
    return state, list(changes)


def test_shared_and_typed_values_are_restored_as_the_converter_restores_them(
        walked: tuple[pathway.Bench, pathway.Script]) -> None:
    """Beyond what the framework's forms hold: nested values the parent and child share, a key
    the child dropped, a list turned into text, internal data the converter types (a datetime)."""
    from datetime import UTC, datetime

    b, _ = walked
    pd = b.definition
    wf = spiff.make_workflow(pd.spec, pd.subprocess_specs)
    wf.do_engine_steps()
    line = [t for t in wf.tasks.values() if t.parent is not None and t.children][:3]
    grand, parent, child = line[0].parent, line[0], line[0].children[0]
    grand.data = {"notes": ["a"], "kept": {"x": 1}}
    parent.data = {"notes": ["a", "b"], "kept": {"x": 1}, "dropped": {"y": 2}, "turns": [1]}
    child.data = {"notes": ["a", "b"], "kept": {"x": 1}, "turns": "now text", "new": [{"z": 3}]}
    child.internal_data = {"due": datetime(2025, 12, 24, 12, tzinfo=UTC)}
    assert_restores_as_stock(spiff.state_to_json(wf), [], pd)
