"""Revise a process: edit a diagram in the modeler or upload files, check, review, deploy."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from engine import ConcurrentUpdate, DefinitionInvalid, FormInvalid, NotFound, drafts, versions
from engine.definitions import MAX_FILE_BYTES
from engine.errors import Problem
from webui.current import engine, me
from webui.processes import bp, policy_owner_required

MAX_NOTE = 2000
# A draft travels as base64 in the form (browsers rewrite line breaks in plain text fields).
MAX_REQUEST = 12 * 1024 * 1024
MAX_FORM_FIELDS = 4 * 1024 * 1024
TOO_LARGE = "The files are too large: each file must be 2 MB or smaller"


@bp.before_request
def _limits() -> None:
    request.max_content_length = MAX_REQUEST
    request.max_form_memory_size = MAX_FORM_FIELDS


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> tuple[str, int]:
    return render_template("processes/upload.html", process=None, number=None,
                           errors={"files": TOO_LARGE}), 413


def _problem_dicts(problems: list[Problem]) -> list[dict[str, str]]:
    return [{"file": p.file, "element": p.element, "reason": p.reason} for p in problems]


def _version(process_id: str, number: int) -> versions.VersionRow:
    try:
        return versions.version(engine(), process_id, number)
    except NotFound:
        abort(404)


@bp.route("/<process_id>/v<int:number>/edit/<name>")
@policy_owner_required
def modeler(process_id: str, number: int, name: str) -> str:
    """Open one BPMN file of a version in the bpmn-js modeler."""
    v = _version(process_id, number)
    if name not in {f.name for f in v.files} or not name.endswith(".bpmn"):
        abort(404)
    forms = sorted(f.name for f in v.files if f.name.endswith(".json"))
    return render_template("processes/modeler.html", v=v, name=name, forms=forms)


@bp.route("/<process_id>/v<int:number>/check", methods=["POST"])
@policy_owner_required
def check(process_id: str, number: int) -> Response:
    """Check an edited file with the rest of the version, as `qaflow validate` would."""
    _version(process_id, number)
    body = request.get_json(silent=True) or {}
    name, xml = body.get("file"), body.get("xml")
    if not isinstance(name, str) or not isinstance(xml, str):
        abort(400)
    data = xml.encode("utf-8")
    if len(data) > MAX_FILE_BYTES:
        return jsonify({"problems": [{"file": name, "element": "-", "reason": TOO_LARGE}]})
    problems = drafts.check(engine(), process_id, number, {name: data})
    return jsonify({"problems": _problem_dicts(problems)})


def _uploaded() -> tuple[dict[str, bytes], str | None]:
    changed: dict[str, bytes] = {}
    for upload in request.files.getlist("files"):
        if upload is None or not upload.filename:
            continue
        name = upload.filename.replace("\\", "/").rsplit("/", 1)[-1]
        if not name.lower().endswith((".bpmn", ".json")):
            return {}, f"{name} is not a BPMN (.bpmn) or form (.json) file"
        data = upload.stream.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            return {}, f"{name}: {TOO_LARGE[:1].lower()}{TOO_LARGE[1:]}"
        changed[name] = data
    if not changed:
        return {}, "Select one or more .bpmn or .json files"
    return changed, None


def _carried() -> dict[str, bytes]:
    names, blobs = request.form.getlist("file_name"), request.form.getlist("file_b64")
    if not names or len(names) != len(blobs):
        abort(400)
    try:
        changed = {n: base64.b64decode(b, validate=True) for n, b in zip(names, blobs, strict=True)}
    except (binascii.Error, ValueError):
        abort(400)
    if any(len(d) > MAX_FILE_BYTES for d in changed.values()):
        abort(413)
    return changed


def _review_page(process_id: str | None, number: int | None, changed: dict[str, bytes],
                 note: str = "", errors: dict[str, str] | None = None,
                 review: drafts.Review | None = None) -> str:
    review = review or drafts.review(engine(), process_id, number, changed)
    carried = [(n, base64.b64encode(d).decode("ascii")) for n, d in sorted(changed.items())]
    diagrams: list[dict[str, Any]] = []
    if not review.ok:
        for n, d in sorted(changed.items()):
            marked = sorted({p.element for p in review.problems if p.file == n})
            if n.endswith(".bpmn") and marked:
                diagrams.append({"file": n, "xml": d.decode("utf-8", "replace"), "marked": marked})
    return render_template(
        "processes/review.html", process_id=process_id, number=number, review=review,
        carried=carried, note=note, errors=errors or {}, diagrams=diagrams,
        problems=_problem_dicts(review.problems))


@bp.route("/<process_id>/v<int:number>/review", methods=["POST"])
@policy_owner_required
def review(process_id: str, number: int) -> str:
    """Check the modeler's file again and show what deploying it would change."""
    _version(process_id, number)
    return _review_page(process_id, number, _carried())


def _upload(process_id: str | None, number: int | None) -> str:
    if request.method == "POST":
        changed, error = _uploaded()
        if error:
            return render_template("processes/upload.html", process=process_id, number=number,
                                   errors={"files": error})
        return _review_page(process_id, number, changed)
    return render_template("processes/upload.html", process=process_id, number=number, errors={})


@bp.route("/<process_id>/v<int:number>/upload", methods=["GET", "POST"])
@policy_owner_required
def upload(process_id: str, number: int) -> str:
    """Upload changed .bpmn or form files (from any BPMN modeler) over a version's files."""
    _version(process_id, number)
    return _upload(process_id, number)


@bp.route("/new", methods=["GET", "POST"])
@policy_owner_required
def upload_new() -> str:
    """Upload the files of a process that has never been deployed."""
    return _upload(None, None)


def _deploy(process_id: str | None, number: int | None) -> Response | str:
    changed = _carried()
    note = request.form.get("note", "").strip()
    if len(note) > MAX_NOTE:
        return _review_page(process_id, number, changed, note,
                            {"note": f"The note must be {MAX_NOTE} characters or fewer"})
    try:
        deployed = drafts.deploy(engine(), process_id, number, changed, me().username, note,
                                 request.form.get("base"))
    except FormInvalid as exc:
        return _review_page(process_id, number, changed, note, exc.errors)
    except DefinitionInvalid as exc:
        return _review_page(process_id, number, changed, note,
                            review=drafts.Review(exc.problems, [], [], ""))
    except ConcurrentUpdate as exc:
        return _review_page(process_id, number, changed, note, {"note": str(exc)})
    made = [d for d in deployed if d.created]
    if made:
        names = {p.process_id: p.name for p in versions.processes(engine())}
        flash("Deployed " + "; ".join(f"{names.get(d.process_id, d.process_id)}, version {d.version}"
                                      for d in made)
              + ". Running audits stay on their version; new audits start on the newest.",
              "success")
    else:
        flash("Nothing was deployed: the files are the same as the newest versions.", "important")
    return redirect(url_for("processes.index"))


@bp.route("/<process_id>/v<int:number>/deploy", methods=["POST"])
@policy_owner_required
def deploy(process_id: str, number: int) -> Response | str:
    """Deploy the reviewed draft with a note."""
    _version(process_id, number)
    return _deploy(process_id, number)


@bp.route("/new/deploy", methods=["POST"])
@policy_owner_required
def deploy_new() -> Response | str:
    """Deploy a reviewed new process with a note."""
    return _deploy(None, None)
