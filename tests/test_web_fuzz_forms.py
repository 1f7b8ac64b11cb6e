"""Hostile answers in every form of every process: never a 500, never stored markup shown raw.

Each real form in processes/ (and the fixture forms) is put behind a user task of a generated
process whose tasks are all open at once, so the web form of every schema can be posted to.
Hypothesis fills the fields with very long text, unicode, markup, template syntax, null bytes
and wrong types; the task page, the audit page and the task list are then checked for raw
markup. The engine is also called directly with nested junk of any JSON type.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from engine import ConcurrentUpdate, Engine, FormInvalid, NotAllowed, NotFound, ProcessFailed, forms
from engine.definitions import Bundle
from engine.demo import DEMO_PASSWORD
from engine.models import HumanTask
from tests.conftest import FIXTURES, PROCESSES
from webui import schemaform

SCHEMAS = {p.name: p for p in [*sorted(PROCESSES.glob("*.schema.json")),
                               *sorted((FIXTURES / "processes").glob("*.schema.json"))]}
# Real forms override the fixture forms of the same name.
SCHEMAS = {**{n: p for n, p in SCHEMAS.items() if p.parent != PROCESSES},
           **{n: p for n, p in SCHEMAS.items() if p.parent == PROCESSES}}
FORM_NAMES = sorted(SCHEMAS)

MARKUP = ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>',
          "<svg/onload=alert(1)>", "javascript:alert(1)", "</textarea><b>bold</b>"]
RAW = ("<script>alert", "<img src=x", "<svg/onload", "<b>bold</b>")
HOSTILE = [*MARKUP, "{{7*7}}", "${7*7}", "#{7*7}", "{% raw %}", "%s%s%n", "\x00", "a\x00b",
           "\u202e\u0627\u0644", "😀" * 50, "x" * 10_000, "Ｓｃｒｉｐｔ", "../../etc/passwd",
           "'; DROP TABLE person; --", " ", "", "-1", "1e309", "NaN", "2025-02-30",
           "99999999999999999999", "true", "null", "[]", "{}", "on"]

hostile_text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=200),
                         st.builds(lambda a, b: a + b, st.sampled_from(MARKUP),
                                   st.text(max_size=20)))
json_junk = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
              hostile_text),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(hostile_text, inner, max_size=4)),
    max_leaves=12)


def _bpmn(names: list[str]) -> bytes:
    tasks, flows = [], []
    for i, name in enumerate(names):
        tasks.append(f"""
    <bpmn:userTask id="Fuzz_{i}" name="Fuzz {name}">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="{name}" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>In_{i}</bpmn:incoming><bpmn:outgoing>Out_{i}</bpmn:outgoing>
    </bpmn:userTask>""")
        flows.append(f"""
    <bpmn:sequenceFlow id="In_{i}" sourceRef="Split" targetRef="Fuzz_{i}" />
    <bpmn:sequenceFlow id="Out_{i}" sourceRef="Fuzz_{i}" targetRef="Join" />""")
    refs = "".join(f"<bpmn:flowNodeRef>Fuzz_{i}</bpmn:flowNodeRef>" for i in range(len(names)))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="Definitions_Fuzz" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="fuzz_forms" name="Every form at once" isExecutable="true">
    <bpmn:laneSet id="LaneSet_1"><bpmn:lane id="Lane_Auditor" name="Auditor">
      <bpmn:flowNodeRef>Ev_Start</bpmn:flowNodeRef><bpmn:flowNodeRef>Split</bpmn:flowNodeRef>
      {refs}<bpmn:flowNodeRef>Join</bpmn:flowNodeRef><bpmn:flowNodeRef>Ev_End</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="Ev_Start"><bpmn:outgoing>F_start</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="F_start" sourceRef="Ev_Start" targetRef="Split" />
    <bpmn:parallelGateway id="Split"><bpmn:incoming>F_start</bpmn:incoming>
      {"".join(f"<bpmn:outgoing>In_{i}</bpmn:outgoing>" for i in range(len(names)))}
    </bpmn:parallelGateway>
    {"".join(tasks)}
    {"".join(flows)}
    <bpmn:parallelGateway id="Join">
      {"".join(f"<bpmn:incoming>Out_{i}</bpmn:incoming>" for i in range(len(names)))}
      <bpmn:outgoing>F_end</bpmn:outgoing>
    </bpmn:parallelGateway>
    <bpmn:sequenceFlow id="F_end" sourceRef="Join" targetRef="Ev_End" />
    <bpmn:endEvent id="Ev_End"><bpmn:incoming>F_end</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>""".encode()


class Fuzzer:
    """Audits of the generated process, and the open task of each form for aud.aisha."""

    def __init__(self, engine: Engine, client: FlaskClient):
        self.engine, self.client = engine, client
        files = {n: p.read_bytes() for n, p in SCHEMAS.items()}
        files["fuzz-forms.bpmn"] = _bpmn(FORM_NAMES)
        engine.deploy(Bundle(files), "test", "every form at once")
        self.tasks: dict[str, tuple[int, int]] = {}
        self.schemas = {n: json.loads(p.read_text()) for n, p in SCHEMAS.items()}
        client.post("/sign-in", data={"username": "aud.aisha", "password": DEMO_PASSWORD})

    def task(self, name: str) -> tuple[int, int]:
        """(audit id, task id) of an open task with this form, starting an audit if needed."""
        found = self.tasks.get(name)
        if found:
            with self.engine.transaction() as s:
                if s.get(HumanTask, found[1]).status == "open":  # type: ignore[union-attr]
                    return found
        audit_id = self.engine.start("fuzz_forms", "cpp.chris", {
            "child_ref": "CH-FUZZ", "child_status": "CP", "audit_type": "monthly"},
            practitioner="sw.paul", auditor="aud.aisha")
        with self.engine.transaction() as s:
            for tid, form in s.execute(select(HumanTask.id, HumanTask.form_file).where(
                    HumanTask.instance_id == audit_id, HumanTask.status == "open")).all():
                self.tasks[form] = (audit_id, tid)
        return self.tasks[name]

    def check_all_pages(self) -> None:
        """Every audit of the generated process, its open tasks, and the task lists."""
        with self.engine.transaction() as s:
            rows = s.execute(select(HumanTask.instance_id, HumanTask.id, HumanTask.status)
                             .where(HumanTask.form_file.is_not(None))).all()
        self.started = len({r[0] for r in rows})
        self.completed = sum(1 for r in rows if r[2] == "completed")
        self.check_pages("/tasks", "/notifications", *{f"/audits/{r[0]}" for r in rows},
                         *(f"/tasks/{r[1]}" for r in rows if r[2] == "open"))

    def check_pages(self, *paths: str) -> None:
        for path in paths:
            resp = self.client.get(path)
            assert resp.status_code in (200, 302, 404), (path, resp.status_code)
            for raw in RAW:
                assert raw not in resp.text, f"{raw!r} shown unescaped on {path}"


@pytest.fixture
def fuzzer(web_engine: Engine, client: FlaskClient) -> Fuzzer:
    return Fuzzer(web_engine, client)


def _form_data(fields: list[schemaform.Field]) -> st.SearchStrategy[MultiDict[str, str]]:
    names: list[str] = []
    for f in schemaform._all(fields):
        names += [f.name, f"{f.name}-day", f"{f.name}-month", f"{f.name}-year",
                  f"{f.name}-0-action", f"{f.name}-1-by_when"]
    names += ["__proto__", "action", "csrf_token", "x" * 300]
    return st.lists(st.tuples(st.sampled_from(names), hostile_text), max_size=25).map(MultiDict)


@pytest.mark.parametrize("form_name", FORM_NAMES)
def test_hostile_answers_never_break_a_page_nor_show_raw(form_name: str, fuzzer: Fuzzer) -> None:
    schema = fuzzer.schemas[form_name]
    fields = schemaform.build(forms.for_task(schema, {"child_status": "CP"}))
    quick = settings(max_examples=25, deadline=None, suppress_health_check=[
        HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

    # A draft with markup in every field is stored and shown again in the form.
    audit_id, task_id = fuzzer.task(form_name)
    everything = MultiDict([(f.name, MARKUP[i % len(MARKUP)])
                            for i, f in enumerate(schemaform._all(fields))])
    everything.add("action", "draft")
    assert fuzzer.client.post(f"/tasks/{task_id}", data=everything).status_code == 302
    fuzzer.check_pages(f"/tasks/{task_id}")
    if any(f.kind in ("input", "textarea") for f in schemaform._all(fields)):
        assert "&lt;" in fuzzer.client.get(f"/tasks/{task_id}").text  # shown, escaped

    @quick
    @given(data=_form_data(fields), draft=st.booleans())
    def through_the_web_form(data: MultiDict[str, str], draft: bool) -> None:
        audit_id, task_id = fuzzer.task(form_name)
        data = MultiDict([(k, v) for k, v in data.items(multi=True) if k != "action"])
        if draft:
            data.add("action", "draft")
        resp = fuzzer.client.post(f"/tasks/{task_id}", data=data)
        assert resp.status_code in (200, 302), resp.status_code
        for raw in RAW:
            assert raw not in resp.text
        if draft:  # the draft is shown again in the form
            fuzzer.check_pages(f"/tasks/{task_id}")

    keys = list(schema.get("properties", {})) + ["junk", "__class__", "child_ref"]

    @quick
    @given(submitted=st.dictionaries(st.sampled_from(keys), json_junk, max_size=8))
    def straight_to_the_engine(submitted: dict[str, Any]) -> None:
        errors = forms.validate(schema, submitted, {"child_status": "CP"})
        assert isinstance(errors, dict)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in errors.items())
        _, task_id = fuzzer.task(form_name)
        try:
            fuzzer.engine.complete_task(task_id, "aud.aisha", submitted)
        except (FormInvalid, ProcessFailed, NotAllowed, NotFound, ConcurrentUpdate):
            pass

    through_the_web_form()
    straight_to_the_engine()
    fuzzer.check_all_pages()
