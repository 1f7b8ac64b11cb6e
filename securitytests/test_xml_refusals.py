"""Hostile XML is refused before anything reads it: DTDs, entities, XInclude, non-BPMN, malformed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import DefinitionInvalid
from engine.definitions import Bundle, validate_paths
from engine.models import AuditEvent, ProcessVersion

ROOT = Path(__file__).parents[1]
SIMPLE = ROOT / "tests" / "fixtures" / "simple"
SECRET = "S3CRET-CHILD-RECORD"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A local port that records whether anything tried to fetch from it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    sock.setblocking(False)
    yield sock
    sock.close()


def _bpmn(prolog: str = "", name: str = "Do one", extra: str = "") -> str:
    head, rest = (SIMPLE / "simple.bpmn").read_text().split("\n", 1)
    rest = rest.replace('name="Do one"', f'name="{name}"')
    rest = rest.replace('<bpmn:startEvent id="Event_Start">',
                        f'<bpmn:startEvent id="Event_Start">{extra}')
    return f"{head}\n{prolog}{rest}"


def _folder(tmp_path: Path, content: str | bytes) -> Path:
    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "one.schema.json").write_bytes((SIMPLE / "one.schema.json").read_bytes())
    data = content.encode() if isinstance(content, str) else content
    (folder / "simple.bpmn").write_bytes(data)
    return folder


def _cases(port: int, secret_file: Path) -> dict[str, tuple[str | bytes, str]]:
    laughs = ('<!DOCTYPE d [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
              '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;">]>\n')
    return {
        "billion laughs": (_bpmn(laughs, "&d;"), "DTDs and entities are not allowed"),
        "external entity (file)": (
            _bpmn(f'<!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret_file}">]>\n', "&x;"),
            "DTDs and entities are not allowed"),
        "external entity (http)": (
            _bpmn(f'<!DOCTYPE d [<!ENTITY x SYSTEM "http://127.0.0.1:{port}/x">]>\n', "&x;"),
            "DTDs and entities are not allowed"),
        "parameter entity": (
            _bpmn(f'<!DOCTYPE d [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p.dtd"> %p;]>\n'),
            "DTDs and entities are not allowed"),
        "external DTD": (
            _bpmn(f'<!DOCTYPE bpmn:definitions SYSTEM "http://127.0.0.1:{port}/b.dtd">\n'),
            "DTDs and entities are not allowed"),
        "DTD in UTF-16, past a byte scan": (
            _bpmn(laughs, "&d;").replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
            "DTDs are not allowed"),
        "XInclude of a local file": (
            _bpmn(extra='<bpmn:documentation><xi:include xmlns:xi="http://www.w3.org/2001/XInclude"'
                        f' href="{secret_file}" parse="text"/></bpmn:documentation>'),
            "XInclude is not allowed"),
        "XInclude over http": (
            _bpmn(extra='<bpmn:extensionElements><xi:include xmlns:xi="http://www.w3.org/2001/'
                        f'XInclude" href="http://127.0.0.1:{port}/x"/></bpmn:extensionElements>'),
            "XInclude is not allowed"),
        "not BPMN": ('<?xml version="1.0"?><html><body>hello</body></html>',
                     "not a BPMN 2.0 file"),
        "malformed": (_bpmn()[:600], "not well-formed XML"),
        "nested too deep": (_bpmn(extra="<a>" * 3000 + "</a>" * 3000), "not well-formed XML"),
        "too large": (_bpmn(extra="<!--" + "x" * (3 * 1024 * 1024) + "-->"), "larger than"),
    }


CASE_NAMES = list(_cases(0, Path("/x")))


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


@pytest.mark.parametrize("case", CASE_NAMES)
def test_hostile_xml_is_refused_with_a_clear_message_and_fetches_nothing(
        tmp_path, listener, secret_file, case):
    content, message = _cases(listener.getsockname()[1], secret_file)[case]
    problems = validate_paths([_folder(tmp_path, content)])
    assert problems, "accepted"
    assert any(message in p.reason for p in problems), [str(p) for p in problems]
    assert not any(SECRET in str(p) for p in problems)
    with pytest.raises(BlockingIOError):
        listener.accept()


@pytest.mark.parametrize("case", ["billion laughs", "XInclude of a local file", "not BPMN"])
def test_qaflow_validate_refuses_hostile_xml_and_exits_non_zero(tmp_path, listener, secret_file,
                                                               case):
    content, message = _cases(listener.getsockname()[1], secret_file)[case]
    folder = _folder(tmp_path, content)
    done = subprocess.run([sys.executable, "-m", "engine.cli", "validate", str(folder)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite"})
    assert done.returncode == 1
    assert message in done.stdout
    assert SECRET not in done.stdout + done.stderr


def test_a_form_nested_too_deep_to_read_is_a_problem_not_a_crash(tmp_path):
    folder = _folder(tmp_path, _bpmn())
    (folder / "one.schema.json").write_text("[" * 100_000 + "]" * 100_000)
    problems = validate_paths([folder])
    assert any("one.schema.json" in str(p) for p in problems)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_deploying_hostile_xml_deploys_nothing(engine, tmp_path, listener, secret_file, case):
    content, _ = _cases(listener.getsockname()[1], secret_file)[case]
    bundle = Bundle.from_paths([_folder(tmp_path, content)])
    with pytest.raises(DefinitionInvalid):
        engine.deploy(bundle, "policy")
    with engine.transaction() as s:
        assert s.execute(select(func.count()).select_from(ProcessVersion)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == 0


def test_the_cases_cover_the_brief():
    wanted = {"billion laughs", "external entity (file)", "external entity (http)",
              "parameter entity", "XInclude of a local file", "not BPMN", "malformed"}
    assert wanted <= set(CASE_NAMES)
