"""Audits run on the cached parsed specs until a safety concern is raised; only then does the
audit move onto a private copy, and only the copy is rewired for the concern.

SpiffWorkflow rewires a process spec the first time one of its event subprocesses is triggered
(BpmnStartTask.trigger_wf). The cached spec is shared by every audit of its version, so the
rewiring must never reach it: one child's safety concern would otherwise appear in every later
child's audit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from engine import Engine, FrozenClock, spiff
from engine.definitions import Bundle, ParsedDefinition
from engine.models import Instance
from features.driver import AuditDriver, walk_as_twins, where
from tests.conftest import PROCESSES


@pytest.fixture
def live_engine(database_url: str, clock: FrozenClock) -> Iterator[Engine]:
    eng = Engine(database_url, clock=clock, live_cache_size=64)
    eng.create_schema()
    eng.deploy(Bundle.from_paths([PROCESSES]), "policy")
    yield eng
    eng.db.dispose()


def _wiring(pd: ParsedDefinition) -> dict[str, Any]:
    """Every spec's connections, as names: what the rewiring would change."""
    return {name: {ts.name: (tuple(ts._inputs), tuple(ts._outputs))
                   for ts in spec.task_specs.values()}
            for name, spec in (("", pd.spec), *pd.subprocess_specs.items())}


def _live(engine: Engine, driver: AuditDriver) -> tuple[spiff.BpmnWorkflow, ParsedDefinition]:
    with engine.transaction() as s:
        inst = s.get(Instance, driver.instance_id)
        pd = engine.definition_of(s, inst.process_version_id)
        wf, _ = engine._load(s, inst)
        engine._keep_live(inst.id, inst.version, wf)
    return wf, pd


def _each_task_on_its_workflows_spec(wf: spiff.BpmnWorkflow) -> None:
    """Every task's spec is its workflow's, and a subprocess hands back, when it ends, through
    the spec of the task that started it."""
    for workflow in (wf, *wf.subprocesses.values()):
        for task in workflow.tasks.values():
            assert workflow.spec.task_specs[task.task_spec.name] is task.task_spec
    for tid, sp in wf.subprocesses.items():
        starter = wf.get_task_from_id(tid)
        assert sp.completed_event.is_connected(starter.task_spec._on_subworkflow_completed)
        assert sp.completed_event.n_subscribers() == 1


# Answers that keep the walk on one path (the rest are sampled from each form).
STEER: dict[str, dict[str, Any]] = {
    "Activity_ReauditChildFile": {"reaudit_grade": "Good",
                                  "reaudit_file_still_inadequate_or_ri": False,
                                  "reaudit_action_plan_completed": True},
}


def _into_the_dispute(driver: AuditDriver, ref: str) -> None:
    driver.allocate(ref, "CP")
    for name in ("Activity_ArrangeMeeting", "Activity_UpdateChildFile",
                 "Activity_UndertakeAuditTogether", "Activity_ObtainFamilyFeedback"):
        driver.complete(name)
    driver.complete("Activity_CompleteAuditTool", grade="Requires Improvement",
                    good_practice_identified=False)
    driver.complete("Activity_RespondToFindings", practitioner_agrees=False,
                    disagreement_reasons="The family's views were not heard")


def test_a_concern_raised_during_the_dispute_rewires_a_copy_and_the_audit_goes_on_as_its_twin(
        live_engine: Engine, clock: FrozenClock, people: object) -> None:
    """The twin is moved onto its own copy of the specs before anything happens, as every audit
    was before copies were made on demand; the other moves at the concern, with the dispute
    running as a subprocess that must still hand back to the audit when it ends."""
    shared, twin = AuditDriver(live_engine, clock), AuditDriver(live_engine, clock)
    _into_the_dispute(shared, "DUD-21")
    _into_the_dispute(twin, "DUD-22")
    wf, pd = _live(live_engine, shared)
    wiring = _wiring(pd)
    assert wf.spec is pd.spec, "on the cached specs"
    assert wf.subprocesses, "the dispute running as a subprocess"
    own, _ = _live(live_engine, twin)
    spiff._own_specs(own)
    own.__dict__.pop(spiff._SHARED)
    assert own.spec is not pd.spec
    _each_task_on_its_workflows_spec(own)

    for driver in (shared, twin):
        live_engine.raise_safety_concern(driver.instance_id, "auditor", "Bruising seen")
    wf, _ = _live(live_engine, shared)
    assert wf.spec is not pd.spec, "moved onto a copy at the concern"
    assert wf.subprocesses, "the dispute still running"
    assert pd.spec.task_specs[wf.spec.start.name] is pd.spec.start
    _each_task_on_its_workflows_spec(wf)
    assert _wiring(pd) == wiring, "the cached specs are as parsed"
    assert "Activity_AddressSafetyConcern" in where(shared)[1]

    walk_as_twins(shared, twin, STEER)
    assert where(shared)[0] == "completed", where(shared)
    assert where(twin) == where(shared)
    assert _wiring(pd) == wiring


def test_an_audit_without_a_concern_stays_on_the_cached_specs_live_and_rebuilt(
        live_engine: Engine, clock: FrozenClock, people: object) -> None:
    driver = AuditDriver(live_engine, clock)
    _into_the_dispute(driver, "DUD-23")
    wf, pd = _live(live_engine, driver)
    assert wf.spec is pd.spec
    assert all(sp.spec is pd.subprocess_specs[sp.spec.name] for sp in wf.subprocesses.values())
    live_engine._live.clear()  # another process, or a restart: rebuilt from storage
    rebuilt, _ = _live(live_engine, driver)
    assert rebuilt is not wf
    assert rebuilt.spec is pd.spec
    _each_task_on_its_workflows_spec(rebuilt)


def test_an_audit_rebuilt_after_its_concern_is_on_a_rewired_copy(
        live_engine: Engine, clock: FrozenClock, people: object) -> None:
    driver = AuditDriver(live_engine, clock)
    driver.allocate("DUD-24", "CP")
    pd = _live(live_engine, driver)[1]
    wiring = _wiring(pd)
    live_engine.raise_safety_concern(driver.instance_id, "auditor", "Not seen alone")
    live_engine._live.clear()
    rebuilt, _ = _live(live_engine, driver)
    assert rebuilt.spec is not pd.spec
    concern = next(t for t in rebuilt.task_tree.children if t.triggered)
    assert rebuilt.spec.start in concern.task_spec.inputs  # rewired, on the copy
    assert pd.spec.start not in pd.spec.task_specs[concern.task_spec.name].inputs
    assert _wiring(pd) == wiring
    _each_task_on_its_workflows_spec(rebuilt)
    # A second concern on the same audit: already on its copy, which is rewired no further.
    assert spiff._SHARED not in rebuilt.__dict__
    own = rebuilt.spec
    live_engine.raise_safety_concern(driver.instance_id, "auditor", "Seen again, bruised")
    again, _ = _live(live_engine, driver)
    assert again is rebuilt
    assert again.spec is own
    assert sum(1 for t in again.task_tree.children if t.triggered) == 2
    assert own.start.outputs.count(concern.task_spec) == 1
    assert _wiring(pd) == wiring
    _each_task_on_its_workflows_spec(again)
    assert [t.spec_name for t in driver.open_tasks()].count("Activity_AddressSafetyConcern") == 2
