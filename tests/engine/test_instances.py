import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import ConcurrentUpdate, FormInvalid, NotAllowed, NotFound, ProcessFailed, audit, org
from engine.models import AuditEvent, HumanTask, Instance, Notification, Participant

FIXTURE = Path(__file__).parents[1] / "fixtures" / "simple"
LONG = Path(__file__).parents[1] / "fixtures" / "long"


@pytest.fixture
def started(engine, people, deploy):
    deploy(FIXTURE)
    return engine.start("simple", "cpp1", {"child_ref": "C-100"}, practitioner="sw",
                        auditor="auditor")


def _tasks(engine, instance_id):
    with engine.transaction() as s:
        return s.execute(select(HumanTask).where(HumanTask.instance_id == instance_id)
                         .order_by(HumanTask.id)).scalars().all()


def test_starting_an_audit_assigns_the_first_task_to_the_auditor_with_its_deadline(
        engine, started):
    [task] = _tasks(engine, started)
    assert (task.name, task.role, task.assignee.username, task.status) == (
        "Do one", "Auditor", "auditor", "open")
    # Allocated Monday 1 December 2025 09:00: noon on the next working day.
    assert task.due_at.isoformat() == "2025-12-02T12:00:00+00:00"


def test_participants_are_derived_from_the_practitioners_line(engine, started):
    with engine.transaction() as s:
        inst = s.get(Instance, started)
        roles = {p.role: p.person.username for p in inst.participants}
    assert roles == {"Auditor": "auditor", "Practitioner": "sw", "Team Manager": "tm",
                     "Service Manager": "sm", "Head of Service": "hos"}


def test_the_service_areas_head_stands_in_for_a_line_that_stops_at_the_service_manager(
        engine, people, deploy):
    deploy(FIXTURE)
    with engine.transaction() as s:
        org.person(s, "sm").manager_id = None
        org.add_person(s, "sw2", "Sky Walsh", manager=org.person(s, "tm"),
                       team=org.person(s, "tm").team)
    iid = engine.start("simple", "cpp1", {"child_ref": "C-2"}, practitioner="sw2",
                       auditor="auditor")
    with engine.transaction() as s:
        inst = s.get(Instance, iid)
        roles = {p.role: p.person.username for p in inst.participants}
        assert (inst.team_id, inst.service_area_id) == (
            org.person(s, "tm").team_id, org.person(s, "tm").team.service_area_id)
    assert (roles["Service Manager"], roles["Head of Service"]) == ("sm", "hos")


def test_a_practitioner_with_no_line_manager_cannot_be_audited_until_one_is_recorded(
        engine, people, deploy):
    deploy(FIXTURE)
    with engine.transaction() as s:
        org.add_person(s, "loner", "Lee Oner")
    with pytest.raises(NotFound, match="Lee Oner has no Team Manager"):
        engine.start("simple", "cpp1", {"child_ref": "C-3"}, practitioner="loner",
                     auditor="auditor")
    with pytest.raises(NotFound, match="username 'nobody'"):
        engine.start("simple", "cpp1", {"child_ref": "C-3"}, practitioner="sw",
                     auditor="nobody")
    with engine.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Instance)) == 0


def test_the_practitioners_own_team_manager_cannot_be_the_auditor(engine, people, deploy):
    deploy(FIXTURE)
    with pytest.raises(NotAllowed):
        engine.start("simple", "cpp1", {"child_ref": "C-1"}, practitioner="sw", auditor="tm")


def test_a_rejected_form_changes_nothing(engine, started):
    [task] = _tasks(engine, started)
    with engine.transaction() as s:
        before = s.get(Instance, started).version
    with pytest.raises(FormInvalid) as err:
        engine.complete_task(task.id, "auditor", {})
    assert err.value.errors == {"answer": "Enter answer"}
    with engine.transaction() as s:
        assert s.get(Instance, started).version == before
        assert s.get(HumanTask, task.id).status == "open"


def test_only_the_assignee_can_complete_a_task(engine, started):
    [task] = _tasks(engine, started)
    with pytest.raises(NotFound):
        engine.complete_task(task.id, "sw", {"answer": "mine now"})


def test_completing_the_task_finishes_the_instance_and_records_who_and_what(engine, started):
    [task] = _tasks(engine, started)
    engine.complete_task(task.id, "auditor", {"answer": "done"})
    [task] = _tasks(engine, started)
    assert (task.status, task.completed_by.username) == ("completed", "auditor")
    with engine.transaction() as s:
        assert s.get(Instance, started).status == "completed"
        kinds = [e.kind for e in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()]
        done = s.execute(select(AuditEvent).where(AuditEvent.kind == "task_completed")).scalar_one()
    assert kinds[-3:] == ["started", "task_completed", "completed"]
    assert '"answer": "done"' in done.detail
    assert done.actor == "auditor"


def test_two_people_completing_the_same_task_at_once_one_wins(engine, started, people):
    [task] = _tasks(engine, started)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(answer: str) -> None:
        barrier.wait()
        try:
            engine.complete_task(task.id, "auditor", {"answer": answer})
            outcomes.append("ok")
        except ConcurrentUpdate as exc:
            outcomes.append(f"refused: {exc}")

    threads = [threading.Thread(target=attempt, args=(a,)) for a in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o[:7] for o in outcomes) == ["ok", "refused"]
    with engine.transaction() as s:
        completions = s.execute(select(AuditEvent).where(AuditEvent.kind == "task_completed")).all()
        inst = s.get(Instance, started)
    assert len(completions) == 1
    assert inst.status == "completed"
    with engine.transaction() as s:
        assert audit.verify(s).ok


def test_a_missed_deadline_escalates_to_the_holders_manager_and_the_task_stays_open(
        engine, clock, started):
    clock.advance(timedelta(days=2))
    assert engine.fire_due_timers() == 1
    [task] = _tasks(engine, started)
    assert task.status == "open"
    assert task.escalated_at is not None
    with engine.transaction() as s:
        notes = s.execute(select(Notification)).scalars().all()
        assert [(n.recipient.username, n.subject) for n in notes] == [
            ("sm", "Overdue: Do one (child C-100)")]
    assert engine.fire_due_timers() == 0


def test_a_task_that_opens_after_its_deadline_is_overdue_at_once(engine, people, deploy,
                                                                   tmp_path):
    # A task opened late (a dispute that outlasted the deadline counted from submission, say):
    # its timer fires in the very use case that opens it, and that must still escalate it.
    folder = tmp_path / "late"
    folder.mkdir()
    for f in FIXTURE.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    bpmn = folder / "simple.bpmn"
    bpmn.write_text(bpmn.read_text().replace(
        "noon_next_day(allocated_at)", '"2025-11-03T12:00:00+00:00"'))
    deploy(folder)
    iid = engine.start("simple", "cpp1", {"child_ref": "C-LATE"}, practitioner="sw",
                       auditor="auditor")
    [task] = _tasks(engine, iid)
    assert task.status == "open"
    assert task.due_at.isoformat() == "2025-11-03T12:00:00+00:00"
    assert task.escalated_at is not None
    with engine.transaction() as s:
        notes = [(n.recipient.username, n.subject)
                 for n in s.execute(select(Notification)).scalars()]
        kinds = s.execute(select(AuditEvent.kind).where(AuditEvent.instance_id == iid)
                          .order_by(AuditEvent.id)).scalars().all()
    assert notes == [("sm", "Overdue: Do one (child C-LATE)")]
    assert "timer_fired" in kinds
    assert "escalation" in kinds


def test_a_timer_not_yet_due_does_not_fire(engine, clock, started):
    clock.advance(timedelta(hours=26))
    assert engine.fire_due_timers() == 0
    clock.advance(timedelta(hours=1, seconds=1))
    assert engine.fire_due_timers() == 1


def test_stored_state_does_not_grow_with_the_size_of_the_bpmn(engine, people, deploy, tmp_path):
    small = tmp_path / "small"
    large = tmp_path / "large"
    for folder, padding in ((small, ""), (large, "x" * 200_000)):
        folder.mkdir()
        text = (FIXTURE / "simple.bpmn").read_text()
        text = text.replace('id="simple"', f'id="simple_{folder.name}"')
        text = text.replace("processRef=\"simple\"", f'processRef="simple_{folder.name}"')
        text = text.replace(
            "</bpmn:process>", f"<bpmn:textAnnotation id=\"Note\"><bpmn:text>{padding}"
            "</bpmn:text></bpmn:textAnnotation></bpmn:process>")
        (folder / "simple.bpmn").write_text(text)
        (folder / "one.schema.json").write_text((FIXTURE / "one.schema.json").read_text())
        deploy(folder)
    sizes = {}
    for name in ("small", "large"):
        iid = engine.start(f"simple_{name}", "cpp1", {"child_ref": "C-1"}, practitioner="sw",
                           auditor="auditor")
        with engine.transaction() as s:
            sizes[name] = len(s.get(Instance, iid).workflow_state())
    # Timestamps vary by a digit or two; 200 kB more of BPMN must add nothing.
    assert abs(sizes["large"] - sizes["small"]) < 50


def test_the_audit_trail_detects_an_edited_a_deleted_and_a_reordered_event(engine, started):
    with engine.transaction() as s:
        assert audit.verify(s).ok
        events = s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
        assert [e.kind for e in events] == ["deploy", "started"]
    with engine.transaction() as s:
        ev = s.get(AuditEvent, 2)
        original = ev.detail
        ev.detail = original.replace("C-100", "C-999")
    with engine.transaction() as s:
        verdict = audit.verify(s)
    assert (verdict.ok, verdict.first_broken_id) == (False, 2)
    with engine.transaction() as s:
        s.get(AuditEvent, 2).detail = original
    with engine.transaction() as s:
        first, second = s.get(AuditEvent, 1), s.get(AuditEvent, 2)
        first.id, second.id = 1000, 1001
        s.flush()
        first.id, second.id = 2, 1
    with engine.transaction() as s:
        verdict = audit.verify(s)
    assert (verdict.ok, verdict.first_broken_id) == (False, 1)
    with engine.transaction() as s:
        first, second = s.get(AuditEvent, 2), s.get(AuditEvent, 1)
        first.id, second.id = 1000, 1001
        s.flush()
        first.id, second.id = 1, 2
    with engine.transaction() as s:
        assert audit.verify(s).ok
        s.delete(s.get(AuditEvent, 2))
    with engine.transaction() as s:
        verdict = audit.verify(s)
    assert (verdict.ok, verdict.first_broken_id) == (False, 2)


def test_only_cpp_allocate_and_senior_leaders_only_request_bespoke_audits(engine, people, deploy):
    deploy(FIXTURE)
    for actor, audit_type in (("sw", "monthly"), ("tm", "monthly"), ("slt", "monthly")):
        with pytest.raises(NotAllowed):
            engine.start("simple", actor, {"child_ref": "C-1", "audit_type": audit_type},
                         practitioner="sw", auditor="auditor")
    assert engine.start("simple", "slt", {"child_ref": "C-1", "audit_type": "bespoke"},
                        practitioner="sw", auditor="auditor")
    assert engine.start("simple", "cpp1", {"child_ref": "C-2", "audit_type": "targeted"},
                        practitioner="sw", auditor="auditor")


def test_a_step_that_fails_at_run_time_holds_up_no_other_audit(engine, clock, people, deploy,
                                                               tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    text = (FIXTURE / "simple.bpmn").read_text()
    text = text.replace('escalate("Activity_One")', "escalate(missing_value)")
    text = text.replace('id="simple"', 'id="broken"').replace('processRef="simple"',
                                                              'processRef="broken"')
    (broken / "simple.bpmn").write_text(text)
    (broken / "one.schema.json").write_text((FIXTURE / "one.schema.json").read_text())
    deploy(broken)
    deploy(FIXTURE)
    bad = engine.start("broken", "cpp1", {"child_ref": "C-BAD"}, practitioner="sw",
                       auditor="auditor")
    good = engine.start("simple", "cpp1", {"child_ref": "C-OK"}, practitioner="sw",
                        auditor="auditor")
    clock.advance(timedelta(days=2))
    assert engine.fire_due_timers() == 2
    with engine.transaction() as s:
        kinds = {(e.instance_id, e.kind) for e in s.execute(select(AuditEvent)).scalars()}
        failure = s.execute(select(AuditEvent).where(AuditEvent.kind == "timer_failed")).scalar_one()
        bad_inst = s.get(Instance, bad)
        assert bad_inst.status == "running"
        assert bad_inst.next_timer_at > clock.now()
        notes = [n.recipient.username for n in s.execute(select(Notification)).scalars()
                 if n.instance_id == bad]
    assert (good, "escalation") in kinds
    assert (bad, "escalation") not in kinds
    assert "missing_value" in failure.detail
    assert notes == ["policy"]
    [task] = [t for t in _tasks(engine, bad)]
    assert task.status == "open"
    assert task.escalated_at is None


def test_a_timer_run_that_fails_after_recording_events_keeps_none_of_them(
        engine, clock, people, deploy, monkeypatch):
    """The timer's run is a savepoint inside the worker's transaction: when it fails, what it
    recorded (here the timer_fired event, recorded before its effects are applied) goes with it,
    and only the failure and the policy owner's notification are kept."""
    deploy(FIXTURE)
    iid = engine.start("simple", "cpp1", {"child_ref": "C-1"}, practitioner="sw",
                       auditor="auditor")
    clock.advance(timedelta(days=2))

    def fail(*_args, **_kwargs):
        raise ProcessFailed("the escalation could not be applied")

    monkeypatch.setattr(engine, "_apply_effects", fail)
    assert engine.fire_due_timers() == 1
    with engine.transaction() as s:
        kinds = [e.kind for e in s.execute(select(AuditEvent).where(
            AuditEvent.instance_id == iid).order_by(AuditEvent.id)).scalars()]
        notes = [n.recipient.username for n in s.execute(select(Notification)).scalars()
                 if n.instance_id == iid]
        intact = audit.verify(s)
    assert kinds == ["started", "timer_failed", "notification"]
    assert notes == ["policy"]
    assert intact.ok


def _with_a_script_between(tmp_path: Path, flow: str, source: str, target: str, name: str,
                           script: str) -> Path:
    """The fixture process with a script task named `name` running `script` put on the flow
    from `source` to `target`: a copy to deploy, the script's task in the auditor's lane."""
    broken = tmp_path / "broken"
    broken.mkdir()
    text = (FIXTURE / "simple.bpmn").read_text()
    text = text.replace(
        f'<bpmn:sequenceFlow id="{flow}" sourceRef="{source}" targetRef="{target}" />',
        f'<bpmn:sequenceFlow id="{flow}" sourceRef="{source}" targetRef="Oops" />'
        f'<bpmn:scriptTask id="Oops" name="{name}"><bpmn:incoming>{flow}</bpmn:incoming>'
        f'<bpmn:outgoing>F9</bpmn:outgoing><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>'
        f'<bpmn:sequenceFlow id="F9" sourceRef="Oops" targetRef="{target}" />')
    text = text.replace(f"<bpmn:flowNodeRef>{target}</bpmn:flowNodeRef>",
                        f"<bpmn:flowNodeRef>{target}</bpmn:flowNodeRef>"
                        "<bpmn:flowNodeRef>Oops</bpmn:flowNodeRef>")
    # The target's incoming flow is now the script's (the first mention is the target's own
    # element, before the flows and the script task).
    text = text.replace(f"<bpmn:incoming>{flow}</bpmn:incoming>", "<bpmn:incoming>F9</bpmn:incoming>", 1)
    (broken / "simple.bpmn").write_text(text)
    (broken / "one.schema.json").write_text((FIXTURE / "one.schema.json").read_text())
    return broken


def test_a_completion_whose_next_step_fails_changes_nothing_and_tells_the_policy_owner(
        engine, people, deploy, tmp_path):
    deploy(_with_a_script_between(tmp_path, "F2", "Activity_One", "Event_End",
                                  "Record the answer", "total = answer + 1"))
    iid = engine.start("simple", "cpp1", {"child_ref": "C-9"}, practitioner="sw",
                       auditor="auditor")
    [task] = _tasks(engine, iid)
    with engine.transaction() as s:
        version = s.get(Instance, iid).version
    with pytest.raises(ProcessFailed, match="Record the answer"):
        engine.complete_task(task.id, "auditor", {"answer": "text"})
    [task] = _tasks(engine, iid)
    assert task.status == "open"
    with engine.transaction() as s:
        assert s.get(Instance, iid).version == version
        assert [n.recipient.username for n in s.execute(select(Notification)).scalars()] == ["policy"]
        assert s.execute(select(AuditEvent).where(AuditEvent.kind == "step_failed")).scalar_one()


def _failing_step(engine, s, read_midway: bool) -> None:
    with s.begin_nested():
        audit.append(s, engine.now(), "cpp1", "dropped", {})
        if read_midway:
            s.execute(select(AuditEvent.id)).all()  # a read writes what is pending
            audit.append(s, engine.now(), "cpp1", "dropped_after_write", {})
        raise RuntimeError("the step failed")


def test_events_recorded_in_a_savepoint_that_rolls_back_never_reach_the_trail(engine, people):
    with engine.transaction() as s:
        audit.append(s, engine.now(), "cpp1", "kept_before", {})
        with pytest.raises(RuntimeError):
            _failing_step(engine, s, read_midway=False)
        with pytest.raises(RuntimeError):
            _failing_step(engine, s, read_midway=True)
        with s.begin_nested():
            audit.append(s, engine.now(), "cpp1", "kept_inside", {})
        audit.append(s, engine.now(), "cpp1", "kept_after", {})
    with engine.transaction() as s:
        kinds = s.execute(select(AuditEvent.kind).where(AuditEvent.actor == "cpp1")
                          .order_by(AuditEvent.id)).scalars().all()
        assert kinds == ["kept_before", "kept_inside", "kept_after"]
        assert audit.verify(s).ok


def test_a_completion_that_fails_at_its_commit_keeps_nothing_of_itself(
        engine, started, monkeypatch) -> None:
    """A completion runs on one transaction: if it fails at the last moment (its events chained
    and its state saved, not yet committed), nothing of it is in the database, the workflow it
    ran is not kept for the next use case, and the next completion chains on as if it had never
    begun."""
    monkeypatch.setattr(engine, "_live_size", 64)  # workflows kept live, as a server keeps them
    [task] = _tasks(engine, started)
    with engine.transaction() as s:
        version = s.get(Instance, started).version
        events = s.execute(select(func.count()).select_from(AuditEvent)).scalar()
    real = audit.write_pending

    def then_fail(s):  # type: ignore[no-untyped-def]
        real(s)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(audit, "write_pending", then_fail)
    with pytest.raises(RuntimeError):
        engine.complete_task(task.id, "auditor", {"answer": "yes"})
    monkeypatch.setattr(audit, "write_pending", real)
    assert engine._live.get(started, (version, None))[0] == version  # not the half-run one
    with engine.transaction() as s:
        assert s.get(Instance, started).version == version
        assert s.get(HumanTask, task.id).status == "open"
        assert s.execute(select(func.count()).select_from(AuditEvent)).scalar() == events
    engine.complete_task(task.id, "auditor", {"answer": "yes"})
    with engine.transaction() as s:
        assert s.get(Instance, started).status == "completed"
        assert s.execute(select(AuditEvent.kind).order_by(AuditEvent.id.desc())
                         .limit(2)).scalars().all() == ["completed", "task_completed"]
        assert audit.verify(s).ok


def test_a_start_that_is_refused_or_whose_first_step_fails_leaves_nothing(
        engine, people, deploy, tmp_path):
    """A start is one transaction: refused, or stopped by a broken first step, it leaves no
    audit, no participants, no task and no event behind."""
    deploy(_with_a_script_between(tmp_path, "F1", "Event_Start", "Activity_One",
                                  "Work out the deadline", "deadline = missing_value + 1"))

    with engine.transaction() as s:
        deployed = s.execute(select(func.max(AuditEvent.id))).scalar_one()

    def nothing_left() -> None:
        with engine.transaction() as s:
            for table in (Instance, Participant, HumanTask, Notification):
                assert s.execute(select(func.count()).select_from(table)).scalar_one() == 0
            assert s.execute(select(func.max(AuditEvent.id))).scalar_one() == deployed

    with pytest.raises(NotAllowed):
        engine.start("simple", "sw", {"child_ref": "C-1"}, practitioner="sw", auditor="auditor")
    nothing_left()
    with pytest.raises(ProcessFailed, match="Work out the deadline"):
        engine.start("simple", "cpp1", {"child_ref": "C-1"}, practitioner="sw", auditor="auditor")
    nothing_left()
    deploy(FIXTURE)  # the process mended: the same start goes through
    iid = engine.start("simple", "cpp1", {"child_ref": "C-1"}, practitioner="sw",
                       auditor="auditor")
    assert [t.status for t in _tasks(engine, iid)] == ["open"]
    with engine.transaction() as s:
        assert audit.verify(s).ok
