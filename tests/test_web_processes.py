"""Processes pages: only policy owners, versions and their files, uploads checked, deploys, moves."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine import Engine, versions
from engine.definitions import Bundle
from engine.models import AuditEvent, Instance, ProcessVersion
from features.driver import AuditDriver
from tests.revision import MEDIATION_FORM, copy_processes, revise

OWNER = "policy.olivia"
OTHERS = ["cpp.chris", "spqa.head", "slt.director", "hos.cin", "sw.paul", "aud.aisha"]
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol9;</bpmn:definitions>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D" targetNamespace="x">
  <bpmn:process id="p" isExecutable="true"><bpmn:documentation>&xxe;</bpmn:documentation></bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def framework(web_engine: Engine, tmp_path: Path) -> dict[str, Path]:
    """The framework's processes deployed as version 1, and a revision of them on disk."""
    original = copy_processes(tmp_path / "original")
    web_engine.deploy(Bundle.from_paths([original]), OWNER, "The framework, October 2023")
    return {"original": original, "revised": revise(tmp_path / "revised")}


@pytest.fixture
def deployed(web_engine: Engine, framework: dict[str, Path]) -> int:
    """How many process versions there are once the framework is deployed."""
    return _versions(web_engine)


def _versions(engine: Engine) -> int:
    with engine.transaction() as s:
        return s.execute(select(func.count()).select_from(ProcessVersion)).scalar_one()


def _upload(client: FlaskClient, files: dict[str, bytes], url: str) -> Any:
    # Encoded here: the test client spools a large body to a temporary file it never closes.
    boundary = "qaflow-test-boundary"
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
        for name, data in files.items()) + f"--{boundary}--\r\n".encode()
    return client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def _carried(page: str) -> dict[str, Any]:
    names = re.findall(r'name="file_name" value="([^"]+)"', page)
    blobs = re.findall(r'name="file_b64" value="([^"]+)"', page)
    base = re.search(r'name="base" value="([^"]*)"', page)
    return {"file_name": names, "file_b64": blobs, "base": base.group(1) if base else ""}


def _endpoints(app: Flask) -> list[tuple[str, str]]:
    values = {"process_id": "deep_dive_audit", "number": 1, "name": "deep-dive-audit.bpmn"}
    found = []
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            if rule.endpoint.startswith("processes."):
                url = url_for(rule.endpoint, **{k: values[k] for k in rule.arguments})
                found.extend((m, url) for m in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return found


# -- who may reach it -------------------------------------------------------------------------


@pytest.mark.parametrize("username", OTHERS)
def test_nobody_but_a_policy_owner_can_reach_any_processes_page(
        app: Flask, client: FlaskClient, auth, framework, deployed: int, username: str) -> None:
    auth.login(username)
    endpoints = _endpoints(app)
    assert len(endpoints) >= 15
    for method, url in endpoints:
        response = client.open(url, method=method, data={})
        assert response.status_code == 404, (method, url, response.status_code)
    assert "/processes" not in client.get("/tasks").text
    assert _versions(app.extensions["qaflow"]) == deployed


def test_someone_signed_out_is_sent_to_sign_in(app: Flask, client: FlaskClient, framework) -> None:
    for method, url in _endpoints(app):
        response = client.open(url, method=method)
        assert response.status_code == 302, (method, url)
        assert "/sign-in" in response.headers["Location"]


def test_the_policy_owner_finds_processes_in_the_navigation(client, auth, framework) -> None:
    auth.login(OWNER)
    assert 'href="/processes"' in client.get("/tasks").text


# -- versions -------------------------------------------------------------------------------------


def test_processes_list_each_process_with_its_newest_version(client, auth, framework,
                                                              start_audit) -> None:
    start_audit()
    auth.login(OWNER)
    page = client.get("/processes").text
    assert "Deep Dive Audit Process and Feedback Loop" in page
    assert "Dispute resolution: the practitioner disagrees with the findings" in page
    assert "Fixture audit" in page or "fixture_audit" in page


def test_a_process_page_lists_versions_with_who_when_note_digest_and_audits(
        client, auth, framework, web_engine: Engine) -> None:
    web_engine.start("deep_dive_audit", "cpp.chris", {
        "child_ref": "CH-1", "child_status": "CIN", "audit_type": "monthly",
        "supplementary_reading": ""}, practitioner="sw.paul", auditor="aud.aisha")
    auth.login(OWNER)
    page = client.get("/processes/deep_dive_audit").text
    digest = versions.version(web_engine, "deep_dive_audit", 1).digest
    assert "Olivia Hart" in page
    assert "The framework, October 2023" in page
    assert digest[:12] in page
    assert "1 / 1" in page
    assert "09:00 on Monday 15 December 2025" in page


def test_a_version_page_shows_each_file_with_its_sha256_and_the_diagram(
        client, auth, framework) -> None:
    auth.login(OWNER)
    page = client.get("/processes/dispute_resolution/v1").text
    data = (framework["original"] / "dispute-resolution.bpmn").read_bytes()
    assert hashlib.sha256(data).hexdigest()[:12] in page
    assert 'href="/processes/dispute_resolution/v1/edit/dispute-resolution.bpmn"' in page
    diagrams = client.get("/processes/dispute_resolution/v1/diagram.json").get_json()
    assert [d["file"] for d in diagrams] == ["dispute-resolution.bpmn"]
    assert diagrams[0]["xml"].encode() == data
    deep = client.get("/processes/deep_dive_audit/v1/diagram.json").get_json()
    assert deep[0]["file"] == "deep-dive-audit.bpmn", "its own diagram first"


def test_files_download_exactly_as_deployed_singly_and_as_a_zip(client, auth, framework) -> None:
    auth.login(OWNER)
    single = client.get("/processes/grading_follow_up/v1/files/follow-up.bpmn")
    assert single.data == (framework["original"] / "follow-up.bpmn").read_bytes()
    assert single.headers["Content-Disposition"].startswith("attachment")
    archive = client.get("/processes/deep_dive_audit/v1/files.zip")
    assert archive.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.data)) as z:
        names = set(z.namelist())
        assert {"deep-dive-audit.bpmn", "dispute-resolution.bpmn", "follow-up.bpmn",
                "audit-tool.schema.json"} <= names
        for name in names:
            assert z.read(name) == (framework["original"] / name).read_bytes()
    assert client.get("/processes/deep_dive_audit/v9/files.zip").status_code == 404
    assert client.get("/processes/deep_dive_audit/v1/files/nope.bpmn").status_code == 404


def test_exported_files_uploaded_back_unchanged_deploy_nothing(
        client, auth, framework, deployed: int, web_engine: Engine) -> None:
    auth.login(OWNER)
    archive = client.get("/processes/deep_dive_audit/v1/files.zip")
    with zipfile.ZipFile(io.BytesIO(archive.data)) as z:
        files = {n: z.read(n) for n in z.namelist()}
    page = _upload(client, files, "/processes/deep_dive_audit/v1/upload").text
    assert "There is nothing to deploy" in page
    assert _versions(web_engine) == deployed


# -- revising -----------------------------------------------------------------------------------


def test_an_uploaded_revision_is_checked_shown_and_deployed_with_a_note(
        client, auth, framework, deployed: int, web_engine: Engine) -> None:
    auth.login(OWNER)
    revised = framework["revised"]
    files = {n: (revised / n).read_bytes() for n in ("follow-up.bpmn", "dispute-resolution.bpmn",
                                                       MEDIATION_FORM)}
    review = _upload(client, files, "/processes/deep_dive_audit/v1/upload")
    assert review.status_code == 200
    page = review.text
    assert "Check your changes before deploying" in page
    assert "Deep Dive Audit Process and Feedback Loop: from version 1 to version 2" in page
    assert ("deadline changed from after(audit_submitted_at, &#34;P3M&#34;) to "
            "after(audit_submitted_at, &#34;P6W&#34;) (3 months to 6 weeks)") in page
    assert "Task added: “Help the practitioner and auditor resolve the disagreement”" in page
    form = _carried(page)
    assert sorted(form["file_name"]) == sorted(files)
    assert _versions(web_engine) == deployed, "nothing is deployed before the policy owner confirms"

    no_note = client.post("/processes/deep_dive_audit/v1/deploy", data={**form, "note": " "})
    assert no_note.status_code == 200
    assert "Say what changed and why" in no_note.text
    assert _versions(web_engine) == deployed

    done = client.post("/processes/deep_dive_audit/v1/deploy",
                       data={**form, "note": "Re-audit within six weeks"}, follow_redirects=True)
    assert "Deployed Deep Dive Audit Process and Feedback Loop, version 2" in done.text
    assert _versions(web_engine) == deployed + 3
    v2 = versions.version(web_engine, "grading_follow_up", 2)
    assert (v2.note, v2.deployed_by) == ("Re-audit within six weeks", OWNER)
    assert versions.files(web_engine, "deep_dive_audit", 2)["follow-up.bpmn"] == files["follow-up.bpmn"]


def test_a_deploy_after_someone_else_deployed_is_refused(client, auth, framework, deployed: int,
                                                          web_engine: Engine) -> None:
    auth.login(OWNER)
    files = {"follow-up.bpmn": (framework["revised"] / "follow-up.bpmn").read_bytes()}
    form = _carried(_upload(client, files, "/processes/grading_follow_up/v1/upload").text)
    web_engine.deploy(Bundle.from_paths([framework["revised"]]), "someone", "meanwhile")
    before = _versions(web_engine)
    page = client.post("/processes/grading_follow_up/v1/deploy", data={**form, "note": "6 weeks"})
    assert "Someone deployed a new version while you were checking yours" in page.text
    assert _versions(web_engine) == before


def test_what_changed_between_two_versions(client, auth, framework, web_engine: Engine) -> None:
    web_engine.deploy(Bundle.from_paths([framework["revised"]]), OWNER, "six weeks")
    auth.login(OWNER)
    page = client.get("/processes/deep_dive_audit/compare?from=1&to=2").text
    assert "What changed from version 1 to version 2" in page
    assert "Lane added: “Team Manager”" in page
    assert "Form dispute-mediation.schema.json" in page
    assert "(3 months to 6 weeks)" in page
    assert client.get("/processes/deep_dive_audit/compare?from=1&to=7").status_code == 404


def _escape_attempt(framework: dict[str, Path]) -> bytes:
    data = (framework["original"] / "follow-up.bpmn").read_bytes()
    bad = data.replace(b'grade == "Inadequate"</bpmn:conditionExpression>',
                       b"().__class__.__bases__[0].__subclasses__()</bpmn:conditionExpression>", 1)
    assert bad != data
    return bad


@pytest.mark.parametrize(("name", "content", "message"), [
    ("follow-up.bpmn", b"<bpmn:definitions xmlns:bpmn='x'><unclosed>", "not well-formed XML"),
    ("follow-up.bpmn", BILLION_LAUGHS, "DTDs and entities are not allowed"),
    ("follow-up.bpmn", EXTERNAL_ENTITY, "DTDs and entities are not allowed"),
    ("follow-up.bpmn", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "not a BPMN 2.0 file"),
    ("follow-up.bpmn", "escape", "condition refused"),
    ("reaudit.schema.json", b'{"type": "object", ', "not valid JSON"),
    ("../../etc/passwd.bpmn", b"<x/>", "passwd.bpmn: not a BPMN 2.0 file"),
    ("follow up.bpmn", b"<x/>", "file names may use letters"),
])
def test_bad_files_are_refused_with_a_clear_message_and_nothing_changes(
        client, auth, framework, deployed: int, web_engine: Engine, name: str, content: Any,
        message: str) -> None:
    auth.login(OWNER)
    data = _escape_attempt(framework) if content == "escape" else content
    response = _upload(client, {name: data}, "/processes/grading_follow_up/v1/upload")
    assert response.status_code == 200
    assert "There is a problem" in response.text
    assert "The files cannot be deployed" in response.text
    assert message in response.text
    assert "Nothing has been deployed" in response.text
    assert 'name="note"' not in response.text
    assert _versions(web_engine) == deployed


def test_a_refused_process_is_shown_with_its_problem_elements_marked(
        client, auth, framework) -> None:
    auth.login(OWNER)
    page = _upload(client, {"follow-up.bpmn": _escape_attempt(framework)},
                   "/processes/grading_follow_up/v1/upload").text
    assert "Flow_Inadequate" in page
    assert "data-marked='[\"Flow_Inadequate\"]'" in page


@pytest.mark.parametrize(("name", "message"), [
    ("notes.txt", "notes.txt is not a BPMN (.bpmn) or form (.json) file"),
    ("huge.bpmn", "each file must be 2 MB or smaller"),
])
def test_uploads_must_be_small_bpmn_or_json_files(client, auth, framework, deployed: int, web_engine: Engine,
                                                  name: str, message: str) -> None:
    auth.login(OWNER)
    data = b"<x/>" + b" " * (2 * 1024 * 1024) if name == "huge.bpmn" else b"hello"
    response = _upload(client, {name: data}, "/processes/grading_follow_up/v1/upload")
    assert response.status_code == 200
    assert message in response.text
    assert _versions(web_engine) == deployed


def test_an_upload_with_no_files_asks_for_them(client, auth, framework) -> None:
    auth.login(OWNER)
    response = client.post("/processes/grading_follow_up/v1/upload", data={},
                           content_type="multipart/form-data")
    assert "Select one or more .bpmn or .json files" in response.text


def test_a_request_larger_than_the_limit_is_refused(client, auth, framework, deployed: int,
                                                    web_engine: Engine) -> None:
    auth.login(OWNER)
    files = {f"f{i}.bpmn": b" " * (2 * 1024 * 1024) for i in range(7)}
    response = _upload(client, files, "/processes/grading_follow_up/v1/upload")
    assert response.status_code == 413
    assert "The files are too large" in response.text
    assert _versions(web_engine) == deployed


def test_the_modeler_check_returns_each_problem_against_its_element(client, auth,
                                                                   framework) -> None:
    auth.login(OWNER)
    page = client.get("/processes/grading_follow_up/v1/edit/follow-up.bpmn")
    assert page.status_code == 200
    assert "bpmn-modeler.production.min.js" in page.text
    xml = _escape_attempt(framework).decode()
    found = client.post("/processes/grading_follow_up/v1/check",
                        json={"file": "follow-up.bpmn", "xml": xml}).get_json()
    [problem] = found["problems"]
    assert (problem["file"], problem["element"]) == ("follow-up.bpmn", "Flow_Inadequate")
    assert "condition refused" in problem["reason"]
    good = (framework["original"] / "follow-up.bpmn").read_text()
    assert client.post("/processes/grading_follow_up/v1/check",
                       json={"file": "follow-up.bpmn", "xml": good}).get_json() == {"problems": []}
    assert client.post("/processes/grading_follow_up/v1/check", json={"file": 1}).status_code == 400
    assert client.get("/processes/grading_follow_up/v1/edit/reaudit.schema.json").status_code == 404


def test_the_modeler_review_carries_the_edited_file_to_deploy(client, auth, framework,
                                                             web_engine: Engine) -> None:
    auth.login(OWNER)
    data = (framework["revised"] / "follow-up.bpmn").read_bytes()
    page = client.post("/processes/grading_follow_up/v1/review", data={
        "file_name": "follow-up.bpmn", "file_b64": base64.b64encode(data).decode()}).text
    assert "(3 months to 6 weeks)" in page
    form = _carried(page)
    client.post("/processes/grading_follow_up/v1/deploy", data={**form, "note": "six weeks"})
    assert versions.files(web_engine, "grading_follow_up", 2)["follow-up.bpmn"] == data
    assert client.post("/processes/grading_follow_up/v1/review", data={
        "file_name": "follow-up.bpmn", "file_b64": "not base64!"}).status_code == 400


def test_a_new_process_can_be_uploaded(client, auth, web_engine: Engine) -> None:
    simple = Path(__file__).parent / "fixtures" / "simple"
    auth.login(OWNER)
    files = {p.name: p.read_bytes() for p in simple.iterdir()}
    page = _upload(client, files, "/processes/new").text
    assert "a new process, version 1" in page
    client.post("/processes/new/deploy", data={**_carried(page), "note": "A simple process"})
    assert any(p.name for p in versions.processes(web_engine) if p.latest.note == "A simple process")


# -- moving running audits ----------------------------------------------------------------------


def _start(engine: Engine, child: str) -> int:
    return engine.start("deep_dive_audit", "cpp.chris", {
        "child_ref": child, "child_status": "CIN", "audit_type": "monthly",
        "supplementary_reading": ""}, practitioner="sw.paul", auditor="aud.aisha")


def test_running_audits_are_previewed_then_moved_one_by_one_or_together(
        client, auth, framework, web_engine: Engine) -> None:
    ids = [_start(web_engine, f"CH-{n}") for n in range(3)]
    web_engine.deploy(Bundle.from_paths([framework["revised"]]), OWNER, "six weeks")
    auth.login(OWNER)
    page = client.get("/processes/deep_dive_audit/migrate").text
    assert "Can move (3)" in page
    assert "Contact the practitioner and Team Manager and arrange a time to meet" in page
    assert "CH-0" not in page, "the policy owner needs no child's reference to move an audit"

    one = client.post("/processes/deep_dive_audit/migrate", data={"audit": ids[0], "to": 2},
                      follow_redirects=True)
    assert f"Moved 1 audit to version 2: audit {ids[0]}." in one.text
    assert "Can move (2)" in one.text
    rest = client.post("/processes/deep_dive_audit/migrate", data={"audit": ids[1:], "to": 2},
                       follow_redirects=True)
    assert "Moved 2 audits to version 2" in rest.text
    assert "No running audit is on an older version" in rest.text
    with web_engine.transaction() as s:
        assert {s.get(Instance, i).process_version.version for i in ids} == {2}
        moved = s.execute(select(AuditEvent.instance_id, AuditEvent.actor)
                          .where(AuditEvent.kind == "migrated")).all()
    assert sorted(moved) == [(i, OWNER) for i in ids]


def test_an_audit_that_cannot_move_says_why(client, auth, framework, web_engine: Engine,
                                            web_clock) -> None:
    audit_id = _start(web_engine, "CH-9")
    driver = AuditDriver(web_engine, web_clock)
    driver.instance_id = audit_id
    driver.complete("Activity_ArrangeMeeting")
    driver.complete("Activity_UpdateChildFile")
    edited = (framework["original"] / "deep-dive-audit.bpmn").read_bytes().replace(
        b'name="Make sure the child\'s electronic file is up to date"',
        b'name="Bring the child\'s electronic file up to date"')
    assert b"Bring the child" in edited
    copy = framework["original"].parent / "edited"
    copy_processes(copy)
    (copy / "deep-dive-audit.bpmn").write_bytes(edited)
    web_engine.deploy(Bundle.from_paths([copy]), OWNER, "renamed a step")
    auth.login(OWNER)
    page = client.get("/processes/deep_dive_audit/migrate").text
    assert "Cannot move (1)" in page
    assert ("‘Make sure the child&#39;s electronic file is up to date’ has been done in this audit "
            "and the new version changes its name") in page
    response = client.post("/processes/deep_dive_audit/migrate", data={"audit": audit_id, "to": 2},
                           follow_redirects=True)
    assert f"Audit {audit_id} was not moved" in response.text
