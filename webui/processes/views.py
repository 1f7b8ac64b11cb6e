"""Every process and its versions, one version's diagram and files, and what changed between two."""

from __future__ import annotations

import io

from flask import Response, abort, jsonify, render_template, request, send_file

from engine import NotFound, versions
from webui.current import engine
from webui.processes import bp, policy_owner_required

CONTENT_TYPES = {".bpmn": "application/xml", ".json": "application/json"}


def _process(process_id: str) -> versions.ProcessRow:
    for process in versions.processes(engine()):
        if process.process_id == process_id:
            return process
    abort(404)


@bp.route("")
@policy_owner_required
def index() -> str:
    """Every deployed process, its newest version and the audits running on it."""
    return render_template("processes/index.html", processes=versions.processes(engine()))


@bp.route("/<process_id>")
@policy_owner_required
def show(process_id: str) -> str:
    """A process's versions: who deployed each, when, why, its digest and its audits."""
    process = _process(process_id)
    older_running = sum(v.running for v in process.versions[1:])
    return render_template("processes/show.html", process=process, older_running=older_running)


@bp.route("/<process_id>/v<int:number>")
@policy_owner_required
def version(process_id: str, number: int) -> str:
    """One version: its diagram, its files with their sha256, and where to go from here."""
    try:
        row = versions.version(engine(), process_id, number)
        files = versions.files(engine(), process_id, number)
    except NotFound:
        abort(404)
    own = versions.file_of_process(files, process_id)
    others = [v.version for v in _process(process_id).versions if v.version != number]
    return render_template("processes/version.html", v=row, own_file=own, others=others)


@bp.route("/<process_id>/v<int:number>/diagram.json")
@policy_owner_required
def diagram(process_id: str, number: int) -> Response:
    """The version's BPMN files, its own first, for the diagram viewer."""
    try:
        files = versions.files(engine(), process_id, number)
    except NotFound:
        abort(404)
    own = versions.file_of_process(files, process_id)
    names = sorted((n for n in files if n.endswith(".bpmn")), key=lambda n: (n != own, n))
    only = request.args.get("file")
    return jsonify([{"file": n, "xml": files[n].decode("utf-8")} for n in names
                    if only is None or n == only])


@bp.route("/<process_id>/v<int:number>/files/<name>")
@policy_owner_required
def download(process_id: str, number: int, name: str) -> Response:
    """One file exactly as it was deployed."""
    try:
        files = versions.files(engine(), process_id, number)
    except NotFound:
        abort(404)
    if name not in files:
        abort(404)
    suffix = name[name.rfind("."):]
    return send_file(io.BytesIO(files[name]), as_attachment=True, download_name=name,
                     mimetype=CONTENT_TYPES.get(suffix, "application/octet-stream"), etag=False)


@bp.route("/<process_id>/v<int:number>/files.zip")
@policy_owner_required
def export(process_id: str, number: int) -> Response:
    """Every file of the version, as deployed, in one zip to open in any BPMN modeler."""
    try:
        files = versions.files(engine(), process_id, number)
    except NotFound:
        abort(404)
    return send_file(io.BytesIO(versions.zip_of(files)), as_attachment=True, etag=False,
                     download_name=f"{process_id}-v{number}.zip", mimetype="application/zip")


@bp.route("/<process_id>/compare")
@policy_owner_required
def compare(process_id: str) -> str:
    """What changed between two versions of a process, in sentences."""
    process = _process(process_id)
    numbers = [v.version for v in process.versions]
    newest = numbers[0]
    b = request.args.get("to", newest, type=int)
    a = request.args.get("from", max(b - 1, 1), type=int)
    if a not in numbers or b not in numbers:
        abort(404)
    changes = versions.compare_versions(engine(), process_id, a, b)
    return render_template("processes/compare.html", process=process, a=a, b=b,
                           changes=changes, numbers=numbers)
