import shutil
from pathlib import Path

import pytest

from engine.definitions import Bundle, validate_paths
from engine.errors import DefinitionInvalid

FIXTURE = Path(__file__).parents[1] / "fixtures" / "simple"


@pytest.fixture
def simple(tmp_path: Path) -> Path:
    target = tmp_path / "defs"
    shutil.copytree(FIXTURE, target)
    return target


def _edit(folder: Path, old: str, new: str) -> None:
    bpmn = folder / "simple.bpmn"
    text = bpmn.read_text()
    assert old in text
    bpmn.write_text(text.replace(old, new))


def test_a_valid_folder_has_no_problems(simple):
    assert validate_paths([simple]) == []


def test_a_malicious_timer_expression_is_refused_with_its_element(simple):
    _edit(simple, "noon_next_day(allocated_at)", "__import__('os').system('id')")
    problems = validate_paths([simple])
    assert [(p.file, p.element) for p in problems] == [("simple.bpmn", "Timer_One")]
    assert "refused" in problems[0].reason


def test_a_lane_that_is_not_a_role_is_refused(simple):
    _edit(simple, 'name="Auditor"', 'name="Tea Lady"')
    problems = validate_paths([simple])
    assert [(p.element, "not a known role" in p.reason) for p in problems] == [
        ("Activity_One", True)]


def test_a_missing_form_file_is_refused(simple):
    (simple / "one.schema.json").unlink()
    problems = validate_paths([simple])
    assert problems[0].element == "Activity_One"
    assert "does not exist" in problems[0].reason


def test_malformed_xml_is_refused_with_the_line(simple):
    (simple / "simple.bpmn").write_text("<bpmn:definitions")
    problems = validate_paths([simple])
    assert problems[0].file == "simple.bpmn"
    assert "not well-formed" in problems[0].reason


@pytest.mark.parametrize("payload", [
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
    '<definitions>&lol2;</definitions>',
    '<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<definitions>&xxe;</definitions>',
])
def test_entities_and_dtds_are_refused(simple, payload):
    (simple / "simple.bpmn").write_text(payload)
    problems = validate_paths([simple])
    assert "DTDs" in problems[0].reason


def test_a_gateway_flow_without_condition_or_default_is_refused(tmp_path):
    folder = tmp_path / "gw"
    shutil.copytree(FIXTURE, folder)
    _edit(folder, '<bpmn:sequenceFlow id="F2" sourceRef="Activity_One" targetRef="Event_End" />',
          '<bpmn:sequenceFlow id="F2" sourceRef="Activity_One" targetRef="Gw" />'
          '<bpmn:exclusiveGateway id="Gw"><bpmn:incoming>F2</bpmn:incoming>'
          '<bpmn:outgoing>F5</bpmn:outgoing><bpmn:outgoing>F6</bpmn:outgoing></bpmn:exclusiveGateway>'
          '<bpmn:sequenceFlow id="F5" sourceRef="Gw" targetRef="Event_End" />'
          '<bpmn:sequenceFlow id="F6" sourceRef="Gw" targetRef="EndEsc2" />'
          '<bpmn:endEvent id="EndEsc2"><bpmn:incoming>F6</bpmn:incoming></bpmn:endEvent>')
    _edit(folder, "<bpmn:flowNodeRef>Event_End</bpmn:flowNodeRef>",
          "<bpmn:flowNodeRef>Event_End</bpmn:flowNodeRef><bpmn:flowNodeRef>Gw</bpmn:flowNodeRef>"
          "<bpmn:flowNodeRef>EndEsc2</bpmn:flowNodeRef>")
    problems = validate_paths([folder])
    assert sorted(p.element for p in problems) == ["F5", "F6"]


def test_deploying_an_invalid_folder_changes_nothing(engine, deploy, simple):
    deploy(FIXTURE)
    _edit(simple, "noon_next_day(allocated_at)", "open('/etc/passwd')")
    with pytest.raises(DefinitionInvalid):
        deploy(simple)
    assert [str(d) for d in deploy(FIXTURE)] == ["simple v1 (unchanged)"]


def test_identical_content_is_not_a_new_version_but_a_change_is(engine, deploy, simple):
    assert [str(d) for d in deploy(simple)] == ["simple v1"]
    assert [str(d) for d in deploy(simple)] == ["simple v1 (unchanged)"]
    _edit(simple, 'name="Do one"', 'name="Do the first thing"')
    assert [str(d) for d in deploy(simple)] == ["simple v2"]


def test_the_bundle_reads_only_definition_files(simple):
    (simple / "notes.txt").write_text("not a definition")
    assert sorted(Bundle.from_paths([simple]).files) == ["one.schema.json", "simple.bpmn"]
