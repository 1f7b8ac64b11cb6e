"""A policy owner's revision of the real framework, made with lxml on a copy of processes/.

It shortens the re-audit deadline from three months to six weeks, and adds a stage to dispute
resolution: when the practitioner and auditor cannot agree, the Team Manager first tries to
help them resolve it (a new user task, in a new lane, with its own form and diagram shapes),
before CPP are alerted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
PROCESSES = ROOT / "processes"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN, "bpmndi": BPMNDI, "dc": DC, "di": DI, "spiffworkflow": SPIFF}
MEDIATION_TASK = "Activity_TeamManagerMediates"
MEDIATION_NAME = "Help the practitioner and auditor resolve the disagreement"
MEDIATION_FORM = "dispute-mediation.schema.json"


def copy_processes(dest: Path) -> Path:
    """Copy the framework's processes and forms into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in [*PROCESSES.glob("*.bpmn"), *PROCESSES.glob("*.json")]:
        shutil.copyfile(path, dest / path.name)
    return dest


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    prefix, local = tag.split(":")
    el = etree.SubElement(parent, f"{{{NS[prefix]}}}{local}", attrs)
    if text is not None:
        el.text = text
    return el


def _write(tree: etree._ElementTree, path: Path) -> None:
    tree.write(str(path), xml_declaration=True, encoding="UTF-8")


def shorten_reaudit(folder: Path, period: str = "P6W", words: str = "Six weeks") -> None:
    """Change the re-audit deadline's period (three months in the framework)."""
    path = folder / "follow-up.bpmn"
    tree = etree.parse(str(path))
    event = tree.find(".//bpmn:boundaryEvent[@id='Event_ReauditOverdue']", NS)
    event.set("name", f"{words} after the initial audit")
    date = event.find("bpmn:timerEventDefinition/bpmn:timeDate", NS)
    date.text = date.text.replace('"P3M"', f'"{period}"')
    _write(tree, path)


def add_mediation_stage(folder: Path) -> None:
    """Add the Team Manager's mediation between the auditor's discussion and alerting CPP."""
    path = folder / "dispute-resolution.bpmn"
    tree = etree.parse(str(path))
    process = tree.find("bpmn:process", NS)
    lane = _el(process.find("bpmn:laneSet", NS), "bpmn:lane", id="Lane_TeamManager",
               name="Team Manager")
    _el(lane, "bpmn:flowNodeRef", MEDIATION_TASK)
    task = etree.Element(f"{{{BPMN}}}userTask", id=MEDIATION_TASK, name=MEDIATION_NAME)
    process.find("bpmn:userTask[@id='Activity_DiscussFindings']", NS).addnext(task)
    _el(task, "bpmn:documentation", "Added by the revision: the Team Manager tries first.")
    props = _el(_el(task, "bpmn:extensionElements"), "spiffworkflow:properties")
    _el(props, "spiffworkflow:property", name="formJsonSchemaFilename", value=MEDIATION_FORM)
    _el(task, "bpmn:incoming", "Flow_UnresolvedWithAuditor")
    _el(task, "bpmn:outgoing", "Flow_MediationDone")
    unresolved = process.find("bpmn:sequenceFlow[@id='Flow_UnresolvedWithAuditor']", NS)
    unresolved.set("targetRef", MEDIATION_TASK)
    flow = etree.Element(f"{{{BPMN}}}sequenceFlow", id="Flow_MediationDone",
                         sourceRef=MEDIATION_TASK, targetRef="Activity_AlertCpp")
    unresolved.addnext(flow)
    gateway = process.find("bpmn:exclusiveGateway[@id='Gateway_ResolvedWithAuditor']", NS)
    alert = process.find("bpmn:scriptTask[@id='Activity_AlertCpp']", NS)
    alert.find("bpmn:incoming", NS).text = "Flow_MediationDone"
    assert gateway is not None

    plane = tree.find(".//bpmndi:BPMNPlane", NS)
    pool = plane.find("bpmndi:BPMNShape[@bpmnElement='Participant_DisputeResolution']/dc:Bounds", NS)
    pool.set("height", str(int(pool.get("height")) + 150))
    lane_shape = _el(plane, "bpmndi:BPMNShape", id="Lane_TeamManager_di",
                     bpmnElement="Lane_TeamManager", isHorizontal="true")
    _el(lane_shape, "dc:Bounds", x="190", y="770", width="1960", height="150")
    task_shape = _el(plane, "bpmndi:BPMNShape", id=f"{MEDIATION_TASK}_di", bpmnElement=MEDIATION_TASK)
    _el(task_shape, "dc:Bounds", x="560", y="805", width="120", height="80")
    edge = plane.find("bpmndi:BPMNEdge[@bpmnElement='Flow_UnresolvedWithAuditor']", NS)
    for waypoint in edge.findall("di:waypoint", NS):
        edge.remove(waypoint)
    label = edge.find("bpmndi:BPMNLabel", NS)
    for x, y in (("620", "175"), ("620", "805")):
        (label.addprevious if label is not None else edge.append)(
            etree.Element(f"{{{DI}}}waypoint", x=x, y=y))
    done = _el(plane, "bpmndi:BPMNEdge", id="Flow_MediationDone_di", bpmnElement="Flow_MediationDone")
    for x, y in (("680", "845"), ("710", "845"), ("710", "280"), ("740", "280")):
        _el(done, "di:waypoint", x=x, y=y)
    _write(tree, path)
    (folder / MEDIATION_FORM).write_text(json.dumps({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": MEDIATION_NAME,
        "type": "object",
        "properties": {
            "mediation_held_on": {"type": "string", "format": "date",
                                  "title": "Date the Team Manager met the practitioner and auditor"},
            "mediation_notes": {"type": "string", "title": "What was discussed", "minLength": 1,
                                "maxLength": 3000},
        },
        "required": ["mediation_held_on", "mediation_notes"],
    }, indent=2), encoding="utf-8")


def revise(dest: Path) -> Path:
    """Copy the framework into `dest` and apply the whole revision; return the folder."""
    copy_processes(dest)
    shorten_reaudit(dest)
    add_mediation_stage(dest)
    return dest
