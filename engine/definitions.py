"""Process definitions: read safely, validate, parse once, and describe their user tasks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from lxml import etree

from engine import sandbox
from engine.errors import DefinitionInvalid, ExpressionRefused, Problem
from engine.roles import ROLES
from engine.spiff import VALIDATOR, QaParser

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
MAX_FILE_BYTES = 2 * 1024 * 1024
XINCLUDE_NS = ("{http://www.w3.org/2001/XInclude}", "{http://www.w3.org/2003/XInclude}")
FORM_SUFFIXES = (".json",)


def _safe_parser() -> etree.XMLParser:
    # No DTDs, no entities, no network: refuses billion-laughs and XXE before parsing starts.
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=False,
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Bundle:
    """A set of definition files as deployed together: name -> content."""

    files: dict[str, bytes]

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path]) -> Bundle:
        files: dict[str, bytes] = {}
        for raw in paths:
            path = Path(raw)
            members = sorted(path.iterdir()) if path.is_dir() else [path]
            for member in members:
                if member.suffix in (".bpmn", *FORM_SUFFIXES) and member.is_file():
                    files[member.name] = member.read_bytes()
        return cls(files)

    def bpmn_names(self) -> list[str]:
        return sorted(n for n in self.files if n.endswith(".bpmn"))


@dataclass
class UserTaskInfo:
    spec_name: str
    name: str
    lane: str | None
    form_file: str | None
    ui_file: str | None
    assignee_expr: str | None
    process_id: str


@dataclass
class ParsedDefinition:
    """A process ready to run: its specs, forms, and what each user task needs."""

    process_id: str
    name: str
    digest: str
    spec: Any
    subprocess_specs: dict[str, Any]
    files: dict[str, bytes]
    user_tasks: dict[str, UserTaskInfo] = field(default_factory=dict)
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)

    def form(self, name: str | None) -> dict[str, Any] | None:
        return self.forms.get(name) if name else None


def _element_at(tree: etree._ElementTree, line: int | None) -> str:
    if line:
        for el in tree.iter():
            if el.sourceline == line and el.get("id"):
                return str(el.get("id"))
        return f"line {line}"
    return "-"


def _load_xml(name: str, data: bytes, problems: list[Problem]) -> etree._ElementTree | None:
    if len(data) > MAX_FILE_BYTES:
        problems.append(Problem(name, "-", f"file is larger than {MAX_FILE_BYTES} bytes"))
        return None
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        problems.append(Problem(name, "-", "DTDs and entities are not allowed in BPMN files"))
        return None
    try:
        tree = etree.ElementTree(etree.fromstring(data, _safe_parser()))
    except etree.XMLSyntaxError as exc:
        problems.append(Problem(name, f"line {exc.lineno}", f"not well-formed XML: {exc.msg}"))
        return None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        problems.append(Problem(name, "-", "DTDs are not allowed in BPMN files"))
        return None
    for el in tree.iter():
        if isinstance(el, etree._Entity):
            problems.append(Problem(name, f"line {el.sourceline}", "entities are not allowed"))
            return None
        if isinstance(el.tag, str) and el.tag.startswith(XINCLUDE_NS):
            problems.append(Problem(
                name, f"line {el.sourceline}", "XInclude is not allowed in BPMN files"))
            return None
    root = tree.getroot()
    if root.tag != f"{{{BPMN_NS}}}definitions":
        problems.append(Problem(name, "-", "not a BPMN 2.0 file (root is not bpmn:definitions)"))
        return None
    try:
        VALIDATOR.preprocess(tree)
        VALIDATOR.validator.assertValid(tree)
    except etree.DocumentInvalid:
        for err in VALIDATOR.validator.error_log:
            problems.append(Problem(name, _element_at(tree, err.line), f"XSD: {err.message}"))
        return None
    return tree


def _check_expression(
    problems: list[Problem], name: str, element: str, source: str | None, mode: str, what: str
) -> None:
    if source is None or not source.strip():
        problems.append(Problem(name, element, f"{what} is empty"))
        return
    try:
        sandbox.compile_restricted(source.strip() if mode == "eval" else source, mode)
    except ExpressionRefused as exc:
        problems.append(Problem(name, element, f"{what} refused: {exc}"))


def _properties(el: etree._Element) -> dict[str, str]:
    return {
        p.get("name"): p.get("value", "")
        for p in el.iterfind("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)
    }


def _semantic_checks(
    name: str, tree: etree._ElementTree, files: dict[str, bytes], problems: list[Problem],
    known_processes: set[str],
) -> None:
    root = tree.getroot()
    for process in root.iterfind("bpmn:process", NS):
        lane_of: dict[str, str] = {}
        for lane in process.iterfind(".//bpmn:lane", NS):
            for ref in lane.iterfind("bpmn:flowNodeRef", NS):
                lane_of[(ref.text or "").strip()] = lane.get("name", "")
        for task in process.iterfind(".//bpmn:userTask", NS):
            tid = task.get("id", "?")
            lane = lane_of.get(tid)
            if lane is None:
                problems.append(Problem(name, tid, "user task is not in a lane"))
            elif lane not in ROLES:
                problems.append(Problem(
                    name, tid, f"lane '{lane}' is not a known role ({', '.join(ROLES)})"))
            props = _properties(task)
            form = props.get("formJsonSchemaFilename")
            if not form:
                problems.append(Problem(name, tid, "user task names no form (formJsonSchemaFilename)"))
            for key in ("formJsonSchemaFilename", "formUiSchemaFilename"):
                fname = props.get(key)
                if not fname:
                    continue
                if fname not in files:
                    problems.append(Problem(name, tid, f"form file '{fname}' does not exist"))
                    continue
                try:
                    schema = json.loads(files[fname])
                    if key == "formJsonSchemaFilename":
                        jsonschema.Draft202012Validator.check_schema(schema)
                        if schema.get("type") != "object":
                            raise jsonschema.SchemaError("a form schema must be of type 'object'")
                except (ValueError, RecursionError, jsonschema.SchemaError) as exc:
                    msg = getattr(exc, "message", str(exc))
                    problems.append(Problem(name, tid, f"form file '{fname}' is not valid: {msg}"))
            if "assignee" in props:
                _check_expression(problems, name, tid, props["assignee"], "eval", "assignee expression")
        for flow in process.iterfind(".//bpmn:sequenceFlow", NS):
            cond = flow.find("bpmn:conditionExpression", NS)
            if cond is not None:
                _check_expression(problems, name, flow.get("id", "?"), cond.text, "eval", "condition")
        for script_task in process.iterfind(".//bpmn:scriptTask", NS):
            script = script_task.find("bpmn:script", NS)
            _check_expression(
                problems, name, script_task.get("id", "?"),
                script.text if script is not None else None, "exec", "script")
        for tag in ("preScript", "postScript"):
            for el in process.iterfind(f".//spiffworkflow:{tag}", NS):
                owner = el.getparent().getparent()
                _check_expression(problems, name, owner.get("id", "?"), el.text, "exec", tag)
        for timer in process.iterfind(".//bpmn:timerEventDefinition", NS):
            event_id = timer.getparent().get("id", "?")
            date = timer.find("bpmn:timeDate", NS)
            duration = timer.find("bpmn:timeDuration", NS)
            if timer.find("bpmn:timeCycle", NS) is not None:
                problems.append(Problem(name, event_id, "cycle timers are not supported"))
            elif date is not None:
                _check_expression(problems, name, event_id, date.text, "eval", "timer expression")
            elif duration is not None:
                _check_expression(problems, name, event_id, duration.text, "eval", "timer expression")
            else:
                problems.append(Problem(name, event_id, "timer has no timeDate or timeDuration"))
        for gw_tag in ("exclusiveGateway", "inclusiveGateway"):
            for gw in process.iterfind(f".//bpmn:{gw_tag}", NS):
                gid = gw.get("id", "?")
                outgoing = [(o.text or "").strip() for o in gw.iterfind("bpmn:outgoing", NS)]
                if len(outgoing) < 2:
                    continue
                default = gw.get("default")
                for fid in outgoing:
                    flow = process.find(f".//bpmn:sequenceFlow[@id='{fid}']", NS)
                    if flow is None or fid == default:
                        continue
                    if flow.find("bpmn:conditionExpression", NS) is None:
                        problems.append(Problem(
                            name, fid, f"flow out of gateway {gid} has no condition and is not "
                            "the gateway's default"))
        for call in process.iterfind(".//bpmn:callActivity", NS):
            called = call.get("calledElement")
            if called not in known_processes:
                problems.append(Problem(
                    name, call.get("id", "?"), f"calls process '{called}' which is not deployed with it"))


def _executable_ids(tree: etree._ElementTree) -> list[tuple[str, str]]:
    return [
        (p.get("id"), p.get("name") or p.get("id"))
        for p in tree.getroot().iterfind("bpmn:process", NS)
        if p.get("isExecutable", "true") == "true"
    ]


def parse_bundle(bundle: Bundle) -> dict[str, ParsedDefinition]:
    """Validate every file and build every executable process; raise DefinitionInvalid on any problem."""
    problems: list[Problem] = []
    trees: dict[str, etree._ElementTree] = {}
    if not bundle.bpmn_names():
        raise DefinitionInvalid([Problem("-", "-", "no .bpmn files given")])
    for name in bundle.bpmn_names():
        tree = _load_xml(name, bundle.files[name], problems)
        if tree is not None:
            trees[name] = tree
    known = {pid for tree in trees.values() for pid, _ in _executable_ids(tree)}
    for name, tree in trees.items():
        _semantic_checks(name, tree, bundle.files, problems, known)
    for fname, data in bundle.files.items():
        if fname.endswith(".json"):
            try:
                json.loads(data)
            except (ValueError, RecursionError) as exc:
                problems.append(Problem(fname, "-", f"not valid JSON: {exc}"))
    if problems:
        raise DefinitionInvalid(problems)

    parser = QaParser()
    file_of: dict[str, str] = {}
    for name, tree in trees.items():
        try:
            parser.add_bpmn_xml(tree, filename=name)
        except Exception as exc:  # SpiffWorkflow's ValidationException and friends
            problems.append(Problem(name, getattr(exc, "id", None) or "-", str(exc)))
        for pid, _ in _executable_ids(tree):
            file_of[pid] = name
    if problems:
        raise DefinitionInvalid(problems)

    parsed: dict[str, ParsedDefinition] = {}
    for name, tree in trees.items():
        for pid, pname in _executable_ids(tree):
            try:
                spec = parser.get_spec(pid)
                subs = parser.get_subprocess_specs(pid)
            except Exception as exc:
                problems.append(Problem(name, getattr(exc, "id", None) or pid, str(exc)))
                continue
            parsed[pid] = _describe(pid, pname, spec, subs, bundle, file_of)
    if problems:
        raise DefinitionInvalid(problems)
    return parsed


def _describe(
    pid: str, pname: str, spec: Any, subs: dict[str, Any], bundle: Bundle, file_of: dict[str, str]
) -> ParsedDefinition:
    user_tasks: dict[str, UserTaskInfo] = {}
    used_files = {file_of[pid], *(file_of[s] for s in subs if s in file_of)}
    for owner, process_spec in [(pid, spec), *subs.items()]:
        for ts in process_spec.task_specs.values():
            props = (getattr(ts, "extensions", None) or {}).get("properties", {})
            if type(ts).__name__ != "UserTask":
                continue
            form, ui = props.get("formJsonSchemaFilename"), props.get("formUiSchemaFilename")
            used_files.update(f for f in (form, ui) if f)
            user_tasks[ts.name] = UserTaskInfo(
                spec_name=ts.name, name=ts.bpmn_name or ts.name, lane=ts.lane, form_file=form,
                ui_file=ui, assignee_expr=props.get("assignee"), process_id=owner,
            )
    files = {f: bundle.files[f] for f in sorted(used_files)}
    forms = {f: json.loads(data) for f, data in files.items() if f.endswith(".json")}
    digest = sha256(
        "\n".join(f"{f} {sha256(data)}" for f, data in files.items()).encode()
    )
    return ParsedDefinition(pid, pname, digest, spec, subs, files, user_tasks, forms)


def validate_paths(paths: Iterable[str | Path]) -> list[Problem]:
    """Return every problem with the definitions under `paths` (empty when all is well)."""
    try:
        parse_bundle(Bundle.from_paths(paths))
    except DefinitionInvalid as exc:
        return exc.problems
    return []
