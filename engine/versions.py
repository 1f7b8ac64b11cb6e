"""Process versions: what is deployed, its files as deployed, and what changed between two versions."""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.definitions import BPMN_NS, NS, SPIFF_NS
from engine.errors import NotFound
from engine.models import DefinitionFile, Instance, Person, ProcessVersion, ProcessVersionFile

if TYPE_CHECKING:
    from engine.service import Engine

NO_SUCH_VERSION = "There is no such process version"


@dataclass(frozen=True)
class FileRow:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class VersionRow:
    """One deployed version of a process, with how many audits run on it."""

    process_id: str
    name: str
    version: int
    deployed_by: str
    deployed_by_name: str
    deployed_at: datetime
    note: str
    digest: str
    running: int
    total: int
    latest: bool
    files: tuple[FileRow, ...] = ()


@dataclass(frozen=True)
class ProcessRow:
    process_id: str
    name: str
    versions: tuple[VersionRow, ...]  # newest first

    @property
    def latest(self) -> VersionRow:
        return self.versions[0]


@dataclass(frozen=True)
class Change:
    """One readable difference between two versions, located in a process or a form."""

    where: str
    text: str
    element: str | None = None


# -- what is deployed ----------------------------------------------------------------------------


def _names(s: Session, usernames: set[str]) -> dict[str, str]:
    if not usernames:
        return {}
    return dict(s.execute(select(Person.username, Person.name)
                          .where(Person.username.in_(usernames))).all())


def _counts(s: Session) -> dict[int, tuple[int, int]]:
    rows = s.execute(select(Instance.process_version_id, Instance.status, func.count())
                     .group_by(Instance.process_version_id, Instance.status)).all()
    counts: dict[int, tuple[int, int]] = {}
    for pv_id, status, n in rows:
        running, total = counts.get(pv_id, (0, 0))
        counts[pv_id] = (running + (n if status == "running" else 0), total + n)
    return counts


def _file_rows(s: Session, pv_ids: list[int]) -> dict[int, list[FileRow]]:
    rows = s.execute(
        select(ProcessVersionFile.process_version_id, ProcessVersionFile.name,
               ProcessVersionFile.sha256, func.length(DefinitionFile.content))
        .join(DefinitionFile, DefinitionFile.sha256 == ProcessVersionFile.sha256)
        .where(ProcessVersionFile.process_version_id.in_(pv_ids))
        .order_by(ProcessVersionFile.name)).all()
    out: dict[int, list[FileRow]] = {}
    for pv_id, name, digest, size in rows:
        out.setdefault(pv_id, []).append(FileRow(name, digest, int(size or 0)))
    return out


def _rows(s: Session, versions: list[ProcessVersion], with_files: bool = False) -> list[VersionRow]:
    counts = _counts(s)
    names = _names(s, {pv.deployed_by for pv in versions})
    newest: dict[str, int] = {}
    for pid, number in s.execute(select(ProcessVersion.process_id, func.max(ProcessVersion.version))
                                 .group_by(ProcessVersion.process_id)).all():
        newest[pid] = number
    files = _file_rows(s, [pv.id for pv in versions]) if with_files else {}
    return [VersionRow(
        pv.process_id, pv.name, pv.version, pv.deployed_by, names.get(pv.deployed_by, pv.deployed_by),
        pv.deployed_at, pv.note, pv.digest, *counts.get(pv.id, (0, 0)),
        latest=newest.get(pv.process_id) == pv.version, files=tuple(files.get(pv.id, ())),
    ) for pv in versions]


def processes(engine: Engine) -> list[ProcessRow]:
    """Every deployed process with its versions, newest first, and the audits on each."""
    with engine.transaction() as s:
        versions = list(s.execute(select(ProcessVersion).order_by(
            ProcessVersion.process_id, ProcessVersion.version.desc())).scalars())
        rows = _rows(s, versions)
    grouped: dict[str, list[VersionRow]] = {}
    for row in rows:
        grouped.setdefault(row.process_id, []).append(row)
    return sorted((ProcessRow(pid, vs[0].name, tuple(vs)) for pid, vs in grouped.items()),
                  key=lambda p: p.name.lower())


def get_version(s: Session, process_id: str, number: int | None = None) -> ProcessVersion:
    """Return a stored version (the newest when `number` is None), or raise NotFound."""
    q = select(ProcessVersion).where(ProcessVersion.process_id == process_id)
    if number is None:
        q = q.order_by(ProcessVersion.version.desc()).limit(1)
    else:
        q = q.where(ProcessVersion.version == number)
    pv = s.execute(q).scalar_one_or_none()
    if pv is None:
        raise NotFound(NO_SUCH_VERSION)
    return pv


def version(engine: Engine, process_id: str, number: int) -> VersionRow:
    """One version with its files."""
    with engine.transaction() as s:
        return _rows(s, [get_version(s, process_id, number)], with_files=True)[0]


def latest(engine: Engine, process_id: str) -> VersionRow:
    """The newest version of a process, with its files."""
    with engine.transaction() as s:
        return _rows(s, [get_version(s, process_id)], with_files=True)[0]


def stored_files(s: Session, pv: ProcessVersion) -> dict[str, bytes]:
    """Return a version's files exactly as they were deployed."""
    shas = {f.name: f.sha256 for f in pv.files}
    content = dict(s.execute(select(DefinitionFile.sha256, DefinitionFile.content)
                             .where(DefinitionFile.sha256.in_(set(shas.values())))).all())
    return {name: bytes(content[sha]) for name, sha in sorted(shas.items())}


def files(engine: Engine, process_id: str, number: int) -> dict[str, bytes]:
    """Return a version's files (name -> bytes) exactly as they were deployed."""
    with engine.transaction() as s:
        return stored_files(s, get_version(s, process_id, number))


def zip_of(files: dict[str, bytes]) -> bytes:
    """Pack files into a zip, flat, so any BPMN modeler can open them and they upload back."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return out.getvalue()


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False)


def _root(data: bytes) -> etree._Element | None:
    try:
        return etree.fromstring(data, _parser())
    except etree.XMLSyntaxError:
        return None


def file_of_process(files: dict[str, bytes], process_id: str) -> str | None:
    """Return the name of the BPMN file that defines `process_id`."""
    for name, data in sorted(files.items()):
        if name.endswith(".bpmn"):
            root = _root(data)
            if root is not None and root.find(f"bpmn:process[@id='{process_id}']", NS) is not None:
                return name
    return None


# -- what changed ------------------------------------------------------------------------------

STEPS = ("userTask", "scriptTask", "serviceTask", "manualTask", "task", "sendTask", "receiveTask",
         "businessRuleTask", "callActivity", "subProcess")
GATEWAYS = ("exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
            "complexGateway")
EVENTS = ("startEvent", "endEvent", "boundaryEvent", "intermediateCatchEvent",
          "intermediateThrowEvent")
KIND = {**{t: "Task" for t in STEPS}, **{g: "Gateway" for g in GATEWAYS},
        **{e: "Event" for e in EVENTS}, "subProcess": "Sub-process", "callActivity": "Call"}
DURATION = re.compile(r"""["'](P(?:\d+[YMWD])+(?:T(?:\d+[HMS])+)?)["']""")
UNITS = {"Y": "year", "M": "month", "W": "week", "D": "day", "H": "hour", "S": "second"}


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    return (el.text or "").strip()


@dataclass
class _Element:
    id: str
    tag: str
    name: str
    lane: str | None = None
    form: str | None = None
    assignee: str | None = None
    script: str | None = None
    called: str | None = None
    doc: str | None = None
    timer: str | None = None
    attached_to: str | None = None
    source: str | None = None
    target: str | None = None
    condition: str | None = None
    default: str | None = None


def _props(el: etree._Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in el.iterfind(
        "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)}


def _timer(el: etree._Element) -> str | None:
    timer = el.find("bpmn:timerEventDefinition", NS)
    if timer is None:
        return None
    for kind in ("timeDate", "timeDuration", "timeCycle"):
        found = timer.find(f"bpmn:{kind}", NS)
        if found is not None:
            return _text(found)
    return ""


def _process_elements(process: etree._Element) -> dict[str, _Element]:
    lane_of: dict[str, str] = {}
    found: dict[str, _Element] = {}
    for lane in process.iterfind(".//bpmn:lane", NS):
        found[lane.get("id", "")] = _Element(lane.get("id", ""), "lane", lane.get("name") or "")
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            lane_of[_text(ref) or ""] = lane.get("name") or lane.get("id", "")
    for el in process.iter(f"{{{BPMN_NS}}}*"):
        tag = _local(el)
        eid = el.get("id")
        if not eid or tag not in (*STEPS, *GATEWAYS, *EVENTS, "sequenceFlow"):
            continue
        props = _props(el)
        script = el.find("bpmn:script", NS)
        item = _Element(
            eid, tag, (el.get("name") or "").strip(), lane=lane_of.get(eid),
            form=props.get("formJsonSchemaFilename"), assignee=props.get("assignee"),
            script=_text(script), called=el.get("calledElement"),
            doc=_text(el.find("bpmn:documentation", NS)), timer=_timer(el),
            attached_to=el.get("attachedToRef"), source=el.get("sourceRef"),
            target=el.get("targetRef"),
            condition=_text(el.find("bpmn:conditionExpression", NS)), default=el.get("default"),
        )
        for tag_name in ("preScript", "postScript"):
            extra = el.find(f"bpmn:extensionElements/{{{SPIFF_NS}}}{tag_name}", NS)
            if extra is not None:
                item.script = (item.script or "") + f"\n[{tag_name}] {_text(extra)}"
        found[eid] = item
    return found


def _processes(files: dict[str, bytes]) -> dict[str, tuple[str, dict[str, _Element], str]]:
    """Return each process in the files: id -> (name, elements by id, file name)."""
    out: dict[str, tuple[str, dict[str, _Element], str]] = {}
    for name, data in sorted(files.items()):
        if not name.endswith(".bpmn"):
            continue
        root = _root(data)
        if root is None:
            continue
        for process in root.iterfind("bpmn:process", NS):
            pid = process.get("id", "")
            out[pid] = (process.get("name") or pid, _process_elements(process), name)
    return out


def _label(el: _Element, elements: dict[str, _Element]) -> str:
    if el.name:
        return el.name
    if el.tag == "sequenceFlow":
        return f"{_name_of(el.source, elements)} to {_name_of(el.target, elements)}"
    return el.id


def _name_of(eid: str | None, elements: dict[str, _Element]) -> str:
    return _label(elements[eid], elements) if eid in elements else str(eid)


def _q(text: str) -> str:
    return f"“{text}”"


def _words(duration: str) -> str:
    parts = re.findall(r"(\d+)([YMWDHS])", duration.replace("T", ""))
    return ", ".join(f"{n} {UNITS[u]}{'' if n == '1' else 's'}" for n, u in parts) or duration


def _from_to(old: str | None, new: str | None) -> str:
    if not old:
        return f"set to {new}"
    if not new:
        return f"removed (was {old})"
    text = f"changed from {old} to {new}"
    a, b = DURATION.findall(old), DURATION.findall(new)
    if len(a) == 1 and len(b) == 1 and DURATION.sub("", old) == DURATION.sub("", new):
        text += f" ({_words(a[0])} to {_words(b[0])})"
    return text


def _what(el: _Element) -> str:
    if el.tag == "lane":
        return "Lane"
    if el.tag == "sequenceFlow":
        return "Flow"
    if el.tag == "boundaryEvent" and el.timer is not None:
        return "Deadline"
    return KIND.get(el.tag, "Element")


def _added(el: _Element, els: dict[str, _Element]) -> str:
    what = _what(el)
    if el.tag == "sequenceFlow":
        route = f"{_q(_name_of(el.source, els))} to {_q(_name_of(el.target, els))}"
        return f"{what} added: from {route}" + (f" ({_q(el.name)})" if el.name else "")
    details = [f"lane {_q(el.lane)}"] if el.lane else []
    if el.form:
        details.append(f"form {el.form}")
    if el.timer:
        details.append(f"timer {el.timer}")
    return f"{what} added: {_q(_label(el, els))}" + (f" ({', '.join(details)})" if details else "")


def _compare_element(a: _Element, b: _Element, old: dict[str, _Element],
                     new: dict[str, _Element]) -> list[str]:
    label = _q(_label(b, new))
    out: list[str] = []
    if a.tag != b.tag:
        out.append(f"{label} is now a {KIND.get(b.tag, b.tag)} "
                   f"({b.tag}, was {a.tag})")
    if a.name != b.name and (a.name or b.name):
        out.append(f"{_what(b)} renamed from {_q(_label(a, old))} to {label}")
    if a.lane != b.lane and b.tag != "lane":
        out.append(f"{label} moved from lane {_q(a.lane or 'none')} to lane {_q(b.lane or 'none')}")
    if a.form != b.form:
        out.append(f"{label}: form {_from_to(a.form, b.form)}")
    if a.assignee != b.assignee:
        out.append(f"{label}: assignee {_from_to(a.assignee, b.assignee)}")
    if a.called != b.called:
        out.append(f"{label}: calls {_from_to(a.called, b.called)}")
    if a.script != b.script:
        out.append(f"{label}: script changed")
    if a.doc != b.doc:
        out.append(f"{label}: description changed")
    if a.timer != b.timer:
        owner = new.get(b.attached_to or "")
        if b.tag == "boundaryEvent" and owner is not None:
            out.append(f"{_q(_label(owner, new))}: deadline {_from_to(a.timer, b.timer)}")
        else:
            out.append(f"{label}: timer {_from_to(a.timer, b.timer)}")
    if a.attached_to != b.attached_to:
        out.append(f"{label} is now attached to {_q(b.attached_to or 'nothing')}")
    if b.tag == "sequenceFlow":
        if (a.source, a.target) != (b.source, b.target):
            out.append(f"Flow {label} now runs from {_q(_name_of(b.source, new))} "
                       f"to {_q(_name_of(b.target, new))}")
        if a.condition != b.condition:
            out.append(f"Condition on flow {label}: {_from_to(a.condition, b.condition)}")
    if a.default != b.default:
        def _flow(fid: str | None, els: dict[str, _Element]) -> str | None:
            return _label(els[fid], els) if fid and fid in els else fid
        out.append(f"{label}: default path {_from_to(_flow(a.default, old), _flow(b.default, new))}")
    return out


def _order(el: _Element) -> int:
    return {"lane": 0, "sequenceFlow": 3}.get(el.tag, 2 if el.tag in GATEWAYS else 1)


def _compare_process(where: str, old: dict[str, _Element], new: dict[str, _Element]) -> list[Change]:
    changes: list[Change] = []
    for eid in sorted(set(old) | set(new), key=lambda i: (_order(new.get(i) or old[i]), i)):
        a, b = old.get(eid), new.get(eid)
        if a is None and b is not None:
            changes.append(Change(where, _added(b, new), eid))
        elif b is None and a is not None:
            changes.append(Change(where, f"{_what(a)} removed: {_q(_label(a, old))}", None))
        elif a is not None and b is not None:
            changes.extend(Change(where, text, eid) for text in _compare_element(a, b, old, new))
    return changes


def _questions(schema: Any, prefix: str = "") -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    if not isinstance(schema, dict):
        return found
    for key, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        options = prop.get("enum") or (prop.get("items") or {}).get("enum")
        found[prefix + key] = {"title": prop.get("title") or key, "options": options,
                               "type": prop.get("type")}
        if prop.get("type") == "object":
            found.update(_questions(prop, f"{prefix}{key}."))
    return found


def _compare_form(name: str, old: bytes, new: bytes) -> list[Change]:
    try:
        a, b = json.loads(old), json.loads(new)
    except ValueError:
        return [Change(f"Form {name}", "The form changed")]
    where = f"Form {name}"
    if not isinstance(a, dict) or not isinstance(b, dict):
        return [Change(where, "The form changed")]
    out: list[str] = []
    if a.get("title") != b.get("title"):
        out.append(f"Title {_from_to(_q(str(a.get('title'))), _q(str(b.get('title'))))}")
    qa, qb = _questions(a), _questions(b)
    for key in sorted(set(qa) | set(qb)):
        if key not in qa:
            out.append(f"Question added: {_q(qb[key]['title'])}")
        elif key not in qb:
            out.append(f"Question removed: {_q(qa[key]['title'])}")
        else:
            if qa[key]["title"] != qb[key]["title"]:
                out.append(f"Question reworded from {_q(qa[key]['title'])} to {_q(qb[key]['title'])}")
            if qa[key]["options"] != qb[key]["options"]:
                out.append(f"{_q(qb[key]['title'])}: answers changed from "
                           f"{', '.join(map(str, qa[key]['options'] or ['free text']))} to "
                           f"{', '.join(map(str, qb[key]['options'] or ['free text']))}")
            if qa[key]["type"] != qb[key]["type"]:
                out.append(f"{_q(qb[key]['title'])}: kind of answer changed from "
                           f"{qa[key]['type']} to {qb[key]['type']}")
    ra, rb = set(a.get("required") or ()), set(b.get("required") or ())
    for key in sorted(rb - ra):
        if key in qa:  # a new question's being required is part of its being added
            out.append(f"{_q(qb.get(key, {'title': key})['title'])} is now required")
    for key in sorted(ra - rb):
        if key in qb:
            out.append(f"{_q(qb[key]['title'])} is no longer required")
    if not out:
        out.append("The form's rules or wording changed (no question was added, removed or renamed)")
    return [Change(where, text) for text in out]


LAYOUT_ONLY = "Only the diagram's layout or the file's formatting changed; the process runs as before"
OTHER_DETAILS = ("Details this summary does not describe changed (for example signals, messages or "
                 "event settings): compare the two files in a BPMN modeler")
DIAGRAM_NS = "http://www.omg.org/spec/BPMN/20100524/DI"


def _signature(el: etree._Element) -> tuple[Any, ...]:
    attrs = tuple(sorted((str(k), str(v)) for k, v in el.attrib.items()))
    children = sorted(_signature(c) for c in el if isinstance(c.tag, str))
    return (str(el.tag), attrs, (el.text or "").strip(), tuple(children))


def _semantics(data: bytes) -> tuple[Any, ...] | None:
    """What a file says about how its processes run: everything but the diagram and formatting."""
    root = _root(data)
    if root is None:
        return None
    return tuple(sorted(_signature(el) for el in root if isinstance(el.tag, str)
                        and etree.QName(el).namespace != DIAGRAM_NS))


def _form_title(data: bytes) -> str:
    try:
        title = json.loads(data).get("title")
    except (ValueError, AttributeError):
        return ""
    return f": {_q(title)}" if isinstance(title, str) and title else ""


def compare(old: dict[str, bytes], new: dict[str, bytes]) -> list[Change]:
    """Say in sentences what changed from one set of files to another: processes, then forms."""
    changes: list[Change] = []
    before, after = _processes(old), _processes(new)
    touched: set[str] = set()
    for pid in sorted(set(before) | set(after)):
        if pid not in before:
            changes.append(Change(after[pid][0], "Process added"))
            touched.add(after[pid][2])
            continue
        if pid not in after:
            changes.append(Change(before[pid][0], "Process removed"))
            touched.add(before[pid][2])
            continue
        where = after[pid][0]
        found = _compare_process(where, before[pid][1], after[pid][1])
        if before[pid][0] != where:
            found.insert(0, Change(where, f"Process renamed from {_q(before[pid][0])} to {_q(where)}"))
        if found:
            touched.update((before[pid][2], after[pid][2]))
        changes.extend(found)
    for name in sorted(n for n in set(old) & set(new) if n.endswith(".bpmn")):
        if old[name] != new[name] and name not in touched:
            changes.append(Change(name, LAYOUT_ONLY if _semantics(old[name]) == _semantics(new[name])
                                  else OTHER_DETAILS))
    for name in sorted(n for n in set(old) | set(new) if n.endswith(".json")):
        if name not in old:
            changes.append(Change(f"Form {name}", "Form added" + _form_title(new[name])))
        elif name not in new:
            changes.append(Change(f"Form {name}", "Form removed"))
        elif old[name] != new[name]:
            changes.extend(_compare_form(name, old[name], new[name]))
    return changes


def compare_versions(engine: Engine, process_id: str, a: int, b: int) -> list[Change]:
    """What changed from version `a` of a process to version `b` (any two, either order)."""
    with engine.transaction() as s:
        old = stored_files(s, get_version(s, process_id, a))
        new = stored_files(s, get_version(s, process_id, b))
    return compare(old, new)
