"""The deployed framework processes, round-tripped through the state codec at every step."""

import json

from sqlalchemy import select

from engine import spiff
from engine.models import HumanTask, Instance
from features.driver import AuditDriver


def _driver(engine, clock, deploy):
    deploy()
    return AuditDriver(engine, clock)


def test_the_framework_processes_validate(engine, deploy):
    deployed = {d.process_id for d in deploy()}
    assert {"deep_dive_audit", "dispute_resolution", "grading_follow_up"} <= deployed


def test_a_safety_concern_in_one_audit_does_not_leak_into_the_next(engine, clock, people, deploy):
    first = _driver(engine, clock, deploy)
    first.allocate("DUD-1", "CP")
    engine.raise_safety_concern(first.instance_id, "auditor", "Bruising seen at the home visit")
    second = AuditDriver(engine, clock)
    second.allocate("DUD-2", "CIN")
    assert [t.name for t in second.open_tasks()] == [
        "Contact the practitioner and Team Manager and arrange a time to meet"]
    assert "Record how the safety concern was addressed" in [t.name for t in first.open_tasks()]
    # Walked to its end, the second audit never meets the first one's concern, and ends.
    for _ in range(40):
        open_now = sorted(t.spec_name for t in second.open_tasks())
        if second.instance().status != "running" or not open_now:
            break
        assert "Activity_AddressSafetyConcern" not in open_now
        second.complete(open_now[0])
    assert second.instance().status == "completed"


def test_the_incremental_state_json_equals_a_full_serialisation(engine, clock, people, deploy):
    driver = _driver(engine, clock, deploy)
    driver.allocate("DUD-3", "CiC")
    engine.raise_safety_concern(driver.instance_id, "auditor", "Worried about the placement")
    for name in ("Activity_ArrangeMeeting", "Activity_UpdateChildFile",
                 "Activity_UndertakeAuditTogether", "Activity_ObtainFamilyFeedback"):
        driver.complete(name)
    driver.complete("Activity_CompleteAuditTool", grade="Inadequate", good_practice_identified=False)
    driver.complete("Activity_RespondToFindings", practitioner_agrees=False,
                    disagreement_reasons="The risks were overstated")
    with engine.transaction() as s:
        inst = s.get(Instance, driver.instance_id)
        wf, pd = engine._load(s, inst)
        assert wf.subprocesses, "the dispute should be running as a subprocess"
        incremental = spiff.state_to_json(wf)
        full = spiff._converter.to_dict(wf)
        assert json.loads(incremental) == json.loads(json.dumps(full))
        restored = spiff.state_from_json(incremental, pd.spec, pd.subprocess_specs)
        assert json.loads(spiff.state_to_json(restored)) == json.loads(incremental)
        open_names = sorted(t.name for t in s.execute(select(HumanTask).where(
            HumanTask.instance_id == inst.id, HumanTask.status == "open")).scalars())
    assert open_names == ["Discuss the findings with the practitioner",
                          "Record how the safety concern was addressed"]
