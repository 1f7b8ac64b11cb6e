"""A policy owner's draft: a deployed version's files with some replaced, checked, compared, deployed.

A draft is never stored: the browser holds the edited files and sends them with each step. The
bundle checked and deployed is the base version's files, overlaid with the edits, plus the newest
files of every process that shares an edited file (the processes that call it), so changing
`dispute-resolution.bpmn` also gives `deep_dive_audit` a new version.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.definitions import Bundle, parse_bundle
from engine.errors import ConcurrentUpdate, DefinitionInvalid, FormInvalid, Problem
from engine.models import ProcessVersion
from engine.versions import Change, compare, get_version, stored_files

if TYPE_CHECKING:
    from engine.service import Deployed, Engine

FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}\.(bpmn|json)$")
MAX_FILES = 50


@dataclass(frozen=True)
class Planned:
    """A process that deploying the draft gives a new version."""

    process_id: str
    name: str
    from_version: int | None
    to_version: int


@dataclass(frozen=True)
class Review:
    problems: list[Problem]
    planned: list[Planned]
    changes: list[Change]
    base: str

    @property
    def ok(self) -> bool:
        return not self.problems


def check_names(changed: dict[str, bytes]) -> list[Problem]:
    """Refuse file names that are not plain `name.bpmn` or `name.json`, and too many files."""
    problems = [Problem(name, "-", "file names may use letters, digits, '.', '-' and '_' and must "
                        "end in .bpmn or .json") for name in changed if not FILE_NAME.match(name)]
    if len(changed) > MAX_FILES:
        problems.append(Problem("-", "-", f"at most {MAX_FILES} files at once"))
    return problems


def _latest(s: Session) -> dict[str, ProcessVersion]:
    latest: dict[str, ProcessVersion] = {}
    for pv in s.execute(select(ProcessVersion).order_by(ProcessVersion.version)).scalars():
        latest[pv.process_id] = pv
    return latest


def _token(latest: dict[str, ProcessVersion]) -> str:
    ids = ",".join(str(pv.id) for _, pv in sorted(latest.items()))
    return hashlib.sha256(ids.encode()).hexdigest()[:16]


def _bundle(s: Session, process_id: str | None, number: int | None,
            changed: dict[str, bytes]) -> tuple[dict[str, bytes], dict[str, ProcessVersion]]:
    latest = _latest(s)
    base: dict[str, bytes] = {}
    touched = set(changed)
    shas: dict[str, set[str]] | None = None  # None: a new process, callers are matched by name
    if process_id is not None:
        pv = get_version(s, process_id, number)
        base = stored_files(s, pv)
        own = {f.name: f.sha256 for f in pv.files}
        newest = {f.name: f.sha256 for f in latest[process_id].files}
        # Editing an older version also changes the files that differ from the newest.
        touched |= {n for n in set(own) | set(newest) if own.get(n) != newest.get(n)}
        shas = {n: {h for h in (own.get(n), newest.get(n)) if h} for n in touched}
    bundle: dict[str, bytes] = {}
    callers = sorted((pv for pid, pv in latest.items() if pid != process_id and any(
        f.name in touched and (shas is None or f.sha256 in shas[f.name]) for f in pv.files)),
        key=lambda pv: pv.deployed_at)
    for caller in callers:  # older first, so the newest deployment wins a shared file
        bundle.update(stored_files(s, caller))
    bundle.update(base)
    bundle.update(changed)
    return bundle, latest


def check(engine: Engine, process_id: str | None, number: int | None,
          changed: dict[str, bytes]) -> list[Problem]:
    """Run the same checks as `qaflow validate` on the draft; return every problem found."""
    problems = check_names(changed)
    if problems:
        return problems
    with engine.transaction() as s:
        bundle, _ = _bundle(s, process_id, number, changed)
    try:
        parse_bundle(Bundle(bundle))
    except DefinitionInvalid as exc:
        return exc.problems
    return []


def review(engine: Engine, process_id: str | None, number: int | None,
           changed: dict[str, bytes]) -> Review:
    """Check the draft and say which processes would get a new version and what would change."""
    problems = check_names(changed)
    if problems:
        return Review(problems, [], [], "")
    with engine.transaction() as s:
        bundle, latest = _bundle(s, process_id, number, changed)
        token = _token(latest)
        try:
            parsed = parse_bundle(Bundle(bundle))
        except DefinitionInvalid as exc:
            return Review(exc.problems, [], [], token)
        planned: list[Planned] = []
        before: dict[str, bytes] = {}
        after: dict[str, bytes] = {}
        for pid, pd in sorted(parsed.items(), key=lambda kv: kv[1].name.lower()):
            current = latest.get(pid)
            if current is not None and current.digest == pd.digest:
                continue
            planned.append(Planned(pid, pd.name, current.version if current else None,
                                   current.version + 1 if current else 1))
            if current is not None:
                before.update(stored_files(s, current))
            after.update(pd.files)
    return Review([], planned, compare(before, after), token)


def deploy(engine: Engine, process_id: str | None, number: int | None, changed: dict[str, bytes],
           actor: str, note: str, base: str | None = None) -> list[Deployed]:
    """Deploy the draft with a note; refuse if another deployment happened since it was reviewed."""
    if not note.strip():
        raise FormInvalid({"note": "Say what changed and why, for the version history"})
    problems = check_names(changed)
    if problems:
        raise DefinitionInvalid(problems)
    with engine.transaction() as s:
        bundle, latest = _bundle(s, process_id, number, changed)
        if base is not None and base != _token(latest):
            raise ConcurrentUpdate("Someone deployed a new version while you were checking yours. "
                                   "Nothing was deployed: check your changes again.")
    return engine.deploy(Bundle(bundle), actor, note.strip())
