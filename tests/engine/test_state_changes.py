"""A workflow's state is stored whole, then as the changes since: what is stored is always the
live workflow, step for step, and an audit rebuilt from storage is the audit that was running."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import ConcurrentUpdate, Engine, FrozenClock, spiff
from engine.definitions import Bundle, parse_bundle
from engine.models import HumanTask, Instance
from engine.service import stored_state_of
from engine.timeline import all_tasks
from features.driver import AuditDriver
from tests.conftest import PROCESSES, ROOT

sys.path.insert(0, str(ROOT / "bench"))
import pathway  # noqa: E402
from engine_overhead import FORM, sequential_bpmn  # noqa: E402


@pytest.fixture
def live_engine(database_url: str, clock: FrozenClock) -> Iterator[Engine]:
    """An engine that keeps workflows live between steps, as a server does, so saves are changes."""
    eng = Engine(database_url, clock=clock, live_cache_size=64)
    eng.create_schema()
    yield eng
    eng.db.dispose()


def _stored(engine: Engine, instance_id: int) -> tuple[dict, str]:  # type: ignore[type-arg]
    """The stored state with its changes applied, checked against the live workflow and against a
    workflow rebuilt from the row; and how the row was last written."""
    with engine.transaction() as s:
        inst = s.get(Instance, instance_id)
        state, changes = stored_state_of(s.connection(), instance_id)
        assert (state, changes) == (inst.state, [change.changes for change in inst.changes])
        stored = spiff.stored_state(state, changes)
        version, live = engine._live[instance_id]
        assert version == inst.version
        assert stored == json.loads(spiff.state_to_json(live))
        pd = engine.definition_of(s, inst.process_version_id)
        rebuilt = spiff.state_from_json(state, pd.spec, pd.subprocess_specs, changes)
        assert json.loads(spiff.state_to_json(rebuilt)) == stored
        # SpiffWorkflow's own serialisation of the live workflow is what is stored (a task's
        # data is stored as its changes from its parent's: a task waiting ahead stores none).
        assert stored == json.loads(spiff._dumps(spiff._converter.to_dict(live)))
        # Each task's data read from the stored JSON alone is the data the task holds; each task
        # is written directly, byte for byte as SpiffWorkflow's converter writes it; so is each
        # workflow's data.
        by_key = {"": live, **{str(u): sp for u, sp in live.subprocesses.items()}}
        for key, (head, _, _) in spiff._converter.parts(live).items():
            wf = by_key[key]
            converted = spiff._dumps(spiff._converter.registry.convert(wf.data))
            assert head.startswith('{"data":' + converted + ',"correlations":'), key
        for wf in (live, *live.subprocesses.values()):
            for task in wf.tasks.values():
                assert spiff.task_data(state, changes, str(task.id)) == task.data
                assert spiff._task_json(task) == spiff._dumps(
                    spiff._converter.registry.convert(task))
        assert spiff.task_data(state, changes, "no-such-task") is None
        return stored, "changes" if changes else "whole"


def test_each_step_stores_exactly_the_live_workflow(live_engine, clock, people) -> None:
    live_engine.deploy(Bundle.from_paths([PROCESSES]), "policy")
    driver = AuditDriver(live_engine, clock)
    driver.allocate("DUD-7", "CP")
    written = [_stored(live_engine, driver.instance_id)[1]]
    live_engine.raise_safety_concern(driver.instance_id, "auditor", "Bruising seen at the visit")
    written.append(_stored(live_engine, driver.instance_id)[1])
    for name in ("Activity_ArrangeMeeting", "Activity_UpdateChildFile",
                 "Activity_UndertakeAuditTogether", "Activity_ObtainFamilyFeedback"):
        driver.complete(name)
        written.append(_stored(live_engine, driver.instance_id)[1])
    driver.complete("Activity_CompleteAuditTool", grade="Inadequate",
                    good_practice_identified=False)
    written.append(_stored(live_engine, driver.instance_id)[1])
    # Into the dispute, a subprocess of its own: its tasks arrive as changes too.
    driver.complete("Activity_RespondToFindings", practitioner_agrees=False,
                    disagreement_reasons="The risks were overstated")
    stored, how = _stored(live_engine, driver.instance_id)
    written.append(how)
    assert stored["subprocesses"], "the dispute should be running as a subprocess"
    assert "changes" in written, written
    assert written[0] == "whole"


def test_a_workflow_rebuilt_from_storage_before_every_step_stores_only_its_changes(
        live_engine, clock, people) -> None:
    """Another web worker, or a restart, rebuilds the audit from storage before each step, a
    concern and a dispute among them: a rebuilt workflow knows what storage holds, so a step
    stores only its changes, and what is stored is exactly the workflow at every step."""
    live_engine.deploy(Bundle.from_paths([PROCESSES]), "policy")
    driver = AuditDriver(live_engine, clock)
    driver.allocate("DUD-8", "CP")
    written = []
    steps = [("raise", {}), ("Activity_ArrangeMeeting", {}), ("Activity_UpdateChildFile", {}),
             ("Activity_UndertakeAuditTogether", {}), ("Activity_ObtainFamilyFeedback", {}),
             ("Activity_CompleteAuditTool", {"grade": "Inadequate",
                                             "good_practice_identified": False}),
             ("Activity_RespondToFindings", {"practitioner_agrees": False,
                                             "disagreement_reasons": "Overstated"}),
             ("Activity_AddressSafetyConcern", {})]
    for name, answers in steps:
        live_engine._live.clear()  # nothing live: this step rebuilds the audit from storage
        if name == "raise":
            live_engine.raise_safety_concern(driver.instance_id, "auditor", "Not seen alone")
        else:
            driver.complete(name, **answers)
        written.append(_stored(live_engine, driver.instance_id)[1])
    # The concern is raised under the audit's start, a finished step: stored whole; the steps
    # after it, each on a workflow rebuilt from storage, store their changes.
    assert written[0] == "whole", written
    assert written[1:5] == ["changes"] * 4, written


def test_stored_changes_apply_in_place_and_in_order() -> None:
    base = {"data": {}, "root": "r", "tasks": {"a": {"state": 8}, "b": {"state": 16}},
            "subprocesses": {"s": {"data": {}, "tasks": {"c": {"state": 8}}}}}
    delta = {"workflows": {
        "": {"head": None, "tasks": {"b": {"state": 64}, "d": {"state": 16}}, "gone": ["a"]},
        "t": {"head": {"data": {"x": 1}, "spec": "sub"}, "tasks": {"e": {"state": 16}},
              "gone": []}},
        "gone": ["s"]}
    merged = spiff.stored_state(json.dumps(base), json.dumps(delta))
    assert list(merged["tasks"]) == ["b", "d"]  # order kept: changed in place, new at the end
    assert merged["tasks"]["b"] == {"state": 64}
    assert merged["subprocesses"] == {"t": {"tasks": {"e": {"state": 16}}, "data": {"x": 1},
                                            "spec": "sub"}}
    assert spiff.stored_state(json.dumps(base), None) == base
    assert json.loads(spiff.stored_state_json(json.dumps(base), json.dumps(delta))) == merged


def test_a_long_line_of_steps_ahead_stores_exactly_the_live_workflow_at_every_step(
        live_engine, people, tmp_path: Path) -> None:
    """Most of such a workflow is predicted steps ahead, whose JSON is reused from save to save:
    what is stored is still the whole live workflow, as changes and, when they grow, whole."""
    (tmp_path / "seq9.bpmn").write_text(sequential_bpmn(9))
    (tmp_path / "step.schema.json").write_text(FORM)
    live_engine.deploy(Bundle.from_paths([tmp_path]), "policy")
    instance_id = live_engine.start("seq9", "cpp1", {"child_ref": "SEQ-9"},
                                    participants={"Auditor": "auditor"})
    written = [_stored(live_engine, instance_id)[1]]
    chains, sizes = [], []
    for step in range(9):
        with live_engine.transaction() as s:
            task_id = s.execute(select(HumanTask.id).where(
                HumanTask.instance_id == instance_id, HumanTask.status == "open")).scalar_one()
        live_engine.complete_task(task_id, "auditor", {"note": f"step {step}"})
        written.append(_stored(live_engine, instance_id)[1])
        with live_engine.db.connect() as conn:
            changes = stored_state_of(conn, instance_id)[1]
        chains.append(len(changes))
        if changes:
            sizes.append(len(changes[-1]))
    assert written[0] == "whole"
    assert written.count("changes") >= 4, written
    # The change sets grew past the whole state's size: stored whole again.
    assert written[1:].count("whole") >= 1, written
    assert max(chains) >= 2, chains  # each step's changes stored beside the ones before
    # What a step stores is its own changes: the same size at every step of a line of like
    # steps (the last, which ends the process, is not like them), not growing with the steps
    # since the state was last stored whole.
    like = sizes[:-1]
    assert max(like) < 1.2 * min(like), sizes


def test_a_concern_raised_late_in_the_audit_is_stored_exactly(live_engine, clock, people) -> None:
    """The concern starts an event subprocess under the audit's start, a step finished long
    before: a change to a finished step, which the changes alone cannot carry."""
    live_engine.deploy(Bundle.from_paths([PROCESSES]), "policy")
    driver = AuditDriver(live_engine, clock)
    driver.allocate("DUD-9", "CP")
    written = []
    for name, answers in (("Activity_ArrangeMeeting", {}), ("Activity_UpdateChildFile", {}),
                          ("Activity_UndertakeAuditTogether", {}),
                          ("Activity_ObtainFamilyFeedback", {}),
                          ("Activity_CompleteAuditTool", {"grade": "Inadequate",
                                                          "good_practice_identified": False}),
                          ("Activity_RespondToFindings", {"practitioner_agrees": False,
                                                          "disagreement_reasons": "Overstated"}),
                          ("Activity_DiscussFindings", {}),
                          ("Activity_SupervisePractitioner", {})):
        driver.complete(name, **answers)
        written.append(_stored(live_engine, driver.instance_id)[1])
    assert written[-1] == "changes", written
    live_engine.raise_safety_concern(driver.instance_id, "auditor", "Bruising seen at the visit")
    assert _stored(live_engine, driver.instance_id)[1] == "whole"
    driver.complete("Activity_AddressSafetyConcern")
    _stored(live_engine, driver.instance_id)


def test_what_is_saved_is_the_workflow_whatever_changed_in_it(tmp_path: Path) -> None:
    """A change set reuses the JSON of tasks it takes to be unchanged, so each kind of change is
    checked here: data given to a task before it runs, a step run, a task's own data changed."""
    (tmp_path / "seq12.bpmn").write_text(sequential_bpmn(12))
    (tmp_path / "step.schema.json").write_text(FORM)
    pd = parse_bundle(Bundle.from_paths([tmp_path]))["seq12"]
    wf = spiff.make_workflow(pd.spec, pd.subprocess_specs)
    wf.do_engine_steps()
    whole, _ = spiff.state_to_save(wf)
    assert whole is not None
    stored: tuple[str, list[str]] = (whole, [])

    def saved_is_live() -> str:
        nonlocal stored
        saved, changes = spiff.state_to_save(wf)
        if saved is not None:
            stored = (saved, [])
        elif changes is not None:
            stored[1].append(changes)
        assert spiff.stored_state(*stored) == json.loads(spiff.state_to_json(wf))
        return "whole" if saved else "changes" if changes else "nothing"

    ready = wf.get_next_task(state=spiff.TaskState.READY, manual=True)
    ready.set_data(note="typed, not yet submitted")
    assert saved_is_live() == "changes"
    ready.run()
    wf.do_engine_steps()
    assert saved_is_live() == "changes"
    ahead = wf.get_next_task(state=spiff.TaskState.READY, manual=True)
    ahead.internal_data["seen"] = True
    ahead.data["late"] = 1
    assert saved_is_live() == "changes"
    assert saved_is_live() == "nothing"  # stored as it is: nothing to add


def test_a_task_is_written_as_the_converter_writes_it_whatever_its_data_holds(tmp_path: Path) -> None:
    """Beyond what the framework's processes hold today: a key the parent has and the task has
    dropped, nested values and text outside ASCII, values the converter types (a datetime, a
    UUID, a timedelta in internal data), a task with no parent."""
    from datetime import UTC, datetime, timedelta
    from uuid import UUID

    (tmp_path / "seq3.bpmn").write_text(sequential_bpmn(3))
    (tmp_path / "step.schema.json").write_text(FORM)
    pd = parse_bundle(Bundle.from_paths([tmp_path]))["seq3"]
    wf = spiff.make_workflow(pd.spec, pd.subprocess_specs)
    wf.do_engine_steps()
    tasks = list(wf.tasks.values())
    parent = next(t for t in tasks if t.parent is not None and t.children)
    child = parent.children[0]
    parent.data = {"kept": 1, "dropped": "x", "nested": {"a": [1, 2, {"b": None}]}}
    child.data = {"kept": 1, "nested": {"a": [1, 2, {"b": True}]}, "note": "Zoë’s plan – ✓"}
    child.internal_data = {"due": datetime(2025, 12, 24, 12, tzinfo=UTC),
                           "ref": UUID(int=7), "wait": timedelta(days=2), "fired": False}
    wf.task_tree.data = {"root": ["é"]}
    for task in tasks:
        assert spiff._task_json(task) == spiff._dumps(spiff._converter.registry.convert(task))
    assert '"deletions":["dropped"]' in spiff._task_json(child)
    # Data equal to the parent's: no updates, unless a value is unequal to itself though the
    # same object (NaN, which a script can make), which the converter writes as an update.
    nan = float("nan")
    for value, updates in ((["same"], "{}"), ({"n": 2}, "{}"), (nan, '{"x":NaN}'),
                           (datetime(2025, 1, 1), None)):
        parent.data = {"x": value, "kept": 1}
        child.data = dict(parent.data)
        expected = spiff._dumps(spiff._converter.registry.convert(child))
        assert spiff._task_json(child) == expected
        if updates is not None:
            assert f'"updates":{updates}' in expected


def test_a_workflows_data_is_written_as_the_converter_writes_it_whatever_it_holds(
        tmp_path: Path) -> None:
    """A workflow's own data, written straight when JSON can write it and through the converter
    when it holds what only the converter types (a datetime) or drops (a callable): the same
    JSON as the converter's either way."""
    from datetime import UTC, datetime

    (tmp_path / "seq3.bpmn").write_text(sequential_bpmn(3))
    (tmp_path / "step.schema.json").write_text(FORM)
    pd = parse_bundle(Bundle.from_paths([tmp_path]))["seq3"]
    wf = spiff.make_workflow(pd.spec, pd.subprocess_specs)
    wf.do_engine_steps()
    for data in ({"plain": [1, "é", {"b": None}], "t": (1, 2), "x": 1.5, "ok": True},
                 {"plain": 1, "when": datetime(2025, 12, 24, 12, tzinfo=UTC)},
                 {"plain": 1, "helper": len}):
        wf.data = data
        head = spiff._converter.parts(wf)[""][0]
        converted = spiff._dumps(spiff._converter.registry.convert(data))
        assert head.startswith('{"data":' + converted + ',"correlations":'), data


def test_two_processes_completing_two_tasks_of_one_audit_at_once_store_both_exactly(
        database_url, clock, people, monkeypatch) -> None:
    """Two web processes, neither holding the audit live, complete its two open tasks at the
    same moment. Both rebuild it from the same stored version; one stores its step's changes,
    the other is refused and stores nothing; tried again, it rebuilds from what the first
    stored and stores its own on top. The stored state is then the audit with both done."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite takes one writer at a time from BEGIN: two never read one version")
    first = Engine(database_url, clock=clock, live_cache_size=0)
    second = Engine(database_url, clock=clock, live_cache_size=0)
    try:
        _race_two_tasks(first, second, clock, monkeypatch)
    finally:
        first.db.dispose()
        second.db.dispose()


def _race_two_tasks(first: Engine, second: Engine, clock: FrozenClock,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    first.create_schema()
    first.deploy(Bundle.from_paths([PROCESSES]), "policy")
    driver = AuditDriver(first, clock)
    iid = driver.allocate("DUD-11", "CP")
    first.raise_safety_concern(iid, "auditor", "Bruising seen at the visit")
    names = [t.spec_name for t in driver.open_tasks()]
    assert len(names) == 2, names
    racing = threading.Barrier(2, timeout=20)
    real = spiff.state_to_save

    def meet_then_save(wf):  # type: ignore[no-untyped-def]
        if racing is not None:
            racing.wait()  # both have read the audit at one version and run their step
        return real(wf)

    monkeypatch.setattr(spiff, "state_to_save", meet_then_save)
    outcomes: dict[str, str] = {}

    def complete(engine: Engine, name: str) -> None:
        by = AuditDriver(engine, clock)
        by.instance_id = iid
        try:
            by.complete(name)
            outcomes[name] = "stored"
        except ConcurrentUpdate:
            outcomes[name] = "refused"

    threads = [threading.Thread(target=complete, args=(engine, name))
               for engine, name in zip((first, second), names, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["refused", "stored"], outcomes
    racing = None
    [again] = [name for name, outcome in outcomes.items() if outcome == "refused"]
    complete(second, again)
    assert outcomes[again] == "stored"

    open_rows = sorted(t.spec_name for t in driver.open_tasks())
    assert not set(names) & set(open_rows)
    with first.db.connect() as conn:
        state, changes = stored_state_of(conn, iid)
        versions = conn.exec_driver_sql(
            "SELECT version FROM instance_change WHERE instance_id = %(i)s ORDER BY version",
            {"i": iid}).scalars().all()
        version = conn.exec_driver_sql("SELECT version FROM instance WHERE id = %(i)s",
                                       {"i": iid}).scalar_one()
    # One change set a stored step, each under the version that stored it; none from the
    # refused attempt.
    assert versions == list(range(version - len(versions) + 1, version + 1)), (versions, version)
    with first.transaction() as s:
        pd = first.definition_of(s, s.get(Instance, iid).process_version_id)
    rebuilt = spiff.state_from_json(state, pd.spec, pd.subprocess_specs, changes)
    done = {t.task_spec.name for t in all_tasks(rebuilt) if t.state == spiff.TaskState.COMPLETED}
    assert set(names) <= done
    ready = sorted(t.task_spec.name for t in all_tasks(rebuilt)
                   if t.state == spiff.TaskState.READY and t.task_spec.manual)
    assert ready == open_rows  # what the task lists show is what the stored state holds


def test_every_step_of_the_pathway_stores_exactly_the_live_workflow(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Allocation to re-audit (an RI grade, a dispute to stage 3, the follow-up with two
    deadlines passing): after every step the stored state, whole or with its changes, is the
    live workflow as SpiffWorkflow's converter writes it. Joins wait for other branches there,
    with no data of their own, through several steps, their JSON reused from the step before."""
    with pathway.bench() as b:
        script = pathway.prepare(b)
        seen: list[str] = []
        reused: list[int] = []
        real_task_json = spiff._task_json
        written: list[int] = []

        def counted(task):  # type: ignore[no-untyped-def]
            written.append(id(task))
            return real_task_json(task)

        def observe(_ready: object) -> None:
            iid = max(b.engine._live)
            with b.engine.db.connect() as conn:
                state, changes = stored_state_of(conn, iid)
            _, live = b.engine._live[iid]
            assert spiff.stored_state(state, changes) == json.loads(spiff._dumps(
                spiff._converter.to_dict(live)))
            seen.append("changes" if changes else "whole")
            waiting = [t for wf in (live, *live.subprocesses.values()) for t in wf.tasks.values()
                       if t.state == spiff.TaskState.WAITING and not t.data]
            reused.append(sum(id(t) not in written for t in waiting))
            written.clear()

        monkeypatch.setattr(spiff, "_task_json", counted)
        pathway.walk_persisted(b, script, observe)
    assert len(seen) == len(script.steps) + 1
    assert "changes" in seen
    assert sum(reused) > 10, reused  # waiting joins not written again (4 when they were)
