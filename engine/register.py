"""The children register: import children's file references from CSV, and CPP's settings.

An import adds new children and updates known ones. A row with a problem is rejected with its
row number and reasons while the good rows are imported; nothing already held is deleted.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine import audit, org
from engine.errors import NotAllowed
from engine.models import Person, ServiceArea, Team
from engine.register_models import ChildRecord, Setting
from engine.roles import CPP

if TYPE_CHECKING:
    from engine.service import Engine

COLUMNS = ("reference", "service area", "team", "allocated practitioner", "status", "start date")
OPTIONAL = ("last placement move",)
STATUSES = {"cin": "CIN", "child in need": "CIN", "cp": "CP", "child protection": "CP",
            "cic": "CiC", "child in care": "CiC", "looked after": "CiC"}
MAX_ROWS = 50_000
# Settings CPP may change, with their defaults and what they mean.
SETTINGS: dict[str, tuple[int, str]] = {
    "rest_months": (6, "Months after an audit before the same file can be chosen again"),
    "moderation_percent": (20, "Percentage of the audits not graded Inadequate moderated each month"),
}


@dataclass(frozen=True)
class RowError:
    row: int
    reference: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    rejected: list[RowError] = field(default_factory=list)
    not_in_file: int = 0

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged


def require_cpp(s: Session, actor: str) -> Person:
    me = org.person(s, actor)
    if not me.active or CPP not in me.role_names:
        raise NotAllowed("Only CPP run the children register, the audit schedule and moderation")
    return me


def _key(header: str) -> str:
    return " ".join(header.replace("_", " ").strip().lower().split())


def parse_date(text: str) -> date:
    """Read 2025-12-01 or 01/12/2025 (day first, as in England)."""
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(text)


class _Lookups:
    """Service areas, teams and practitioners by name, read once per import."""

    def __init__(self, s: Session):
        self.areas = {a.name.lower(): a for a in s.execute(select(ServiceArea)).scalars()}
        self.teams = {t.name.lower(): t for t in s.execute(select(Team)).scalars()}
        people = list(s.execute(select(Person).where(Person.active.is_(True))).scalars())
        self.by_username = {p.username.lower(): p for p in people}
        self.by_name: dict[str, list[Person]] = {}
        for p in people:
            self.by_name.setdefault(p.name.lower(), []).append(p)

    def practitioner(self, text: str) -> Person | str:
        key = text.strip().lower()
        if key in self.by_username:
            return self.by_username[key]
        named = self.by_name.get(key, [])
        if len(named) == 1:
            return named[0]
        if named:
            return f"more than one person is called '{text}': give their username"
        return f"no active member of staff '{text}'"


def _check_row(row: dict[str, str], look: _Lookups, today: date) -> tuple[dict[str, object], list[str]]:
    reasons: list[str] = []
    ref = row.get("reference", "").strip()
    if not ref:
        reasons.append("the reference is missing")
    elif len(ref) > 100:
        reasons.append("the reference is longer than 100 characters")
    area = look.areas.get(row.get("service area", "").strip().lower())
    if area is None:
        reasons.append(f"no service area '{row.get('service area', '').strip()}'")
    team = look.teams.get(row.get("team", "").strip().lower())
    if team is None:
        reasons.append(f"no team '{row.get('team', '').strip()}'")
    elif area is not None and team.service_area_id != area.id:
        reasons.append(f"the team '{team.name}' is not in the service area '{area.name}'")
    prac = look.practitioner(row.get("allocated practitioner", ""))
    if isinstance(prac, str):
        reasons.append(prac)
    elif team is not None and prac.team_id != team.id:
        reasons.append(f"{prac.name} is not in the team '{team.name}' in the organisation structure")
    status = STATUSES.get(row.get("status", "").strip().lower())
    if status is None:
        reasons.append(f"the status '{row.get('status', '').strip()}' is not CIN, CP or CiC")
    values: dict[str, object] = {}
    for column, target in (("start date", "start_date"), ("last placement move", "last_placement_move")):
        text = row.get(column, "").strip()
        if not text:
            if column == "start date":
                reasons.append("the start date is missing")
            values[target] = None
            continue
        try:
            values[target] = parse_date(text)
        except ValueError:
            reasons.append(f"the {column} '{text}' is not a date (use 2025-12-01 or 01/12/2025)")
            continue
        if values[target] > today:  # type: ignore[operator]
            reasons.append(f"the {column} is in the future")
    if not reasons and area is not None and team is not None and not isinstance(prac, str):
        values.update(reference=ref, service_area_id=area.id, team_id=team.id,
                      practitioner_id=prac.id, status=status)
    return values, reasons


def import_children(engine: Engine, actor: str, content: bytes | str) -> ImportResult:
    """Import the register from CSV in one transaction: good rows in, bad rows reported."""
    text = content.decode("utf-8-sig", errors="replace") if isinstance(content, bytes) else content
    reader = csv.reader(io.StringIO(text))
    header = [_key(h) for h in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ValueError("The file's first row must name the columns: "
                         f"{', '.join(COLUMNS)}. Missing: {', '.join(missing)}")
    with engine.transaction() as s:
        require_cpp(s, actor)
        now = engine.now()
        look = _Lookups(s)
        held = {c.reference: c for c in s.execute(select(ChildRecord)).scalars()}
        seen: set[str] = set()
        created = updated = unchanged = 0
        rejected: list[RowError] = []
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if number > MAX_ROWS + 1:
                rejected.append(RowError(number, "", (f"the file has more than {MAX_ROWS} rows",)))
                break
            row = {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header)}
            values, reasons = _check_row(row, look, now.date())
            ref = row.get("reference", "").strip()
            if not reasons and ref in seen:
                reasons = ["the reference appears on an earlier row of this file"]
            if reasons:
                rejected.append(RowError(number, ref[:100], tuple(reasons)))
                continue
            seen.add(ref)
            child = held.get(ref)
            if child is None:
                s.add(ChildRecord(imported_at=now, updated_at=now, in_latest_import=True,
                                  **values))  # type: ignore[arg-type]
                created += 1
                continue
            changed = [k for k, v in values.items() if getattr(child, k) != v]
            if changed or not child.in_latest_import:
                for k in changed:
                    setattr(child, k, values[k])
                child.updated_at, child.in_latest_import = now, True
                updated += 1
            else:
                unchanged += 1
            child.imported_at = now
        # Children not in this file are kept (an export can be partial), only marked.
        absent = set(held) - seen
        if absent and seen:
            for chunk in audit.chunks(sorted(absent)):
                s.execute(update(ChildRecord).where(ChildRecord.reference.in_(chunk))
                          .values(in_latest_import=False))
        result = ImportResult(created, updated, unchanged, rejected, len(absent) if seen else 0)
        audit.append(s, now, actor, "register_imported",
                     {"created": created, "updated": updated, "unchanged": unchanged,
                      "rejected_rows": [e.row for e in rejected], "not_in_file": result.not_in_file})
        return result


def register_size(engine: Engine) -> tuple[int, int]:
    """Return how many children the register holds, and how many were in the latest import."""
    with engine.transaction() as s:
        total = s.execute(select(func.count(ChildRecord.id))).scalar_one()
        latest = s.execute(select(func.count(ChildRecord.id)).where(
            ChildRecord.in_latest_import.is_(True))).scalar_one()
        return total, latest


def setting(s: Session, key: str) -> int:
    row = s.get(Setting, key)
    if row is None:
        return SETTINGS[key][0]
    return int(row.value)


def settings(engine: Engine) -> dict[str, int]:
    with engine.transaction() as s:
        return {k: setting(s, k) for k in SETTINGS}


def change_setting(engine: Engine, actor: str, key: str, value: int) -> None:
    """Change one of CPP's settings; the change goes into the audit trail."""
    if key not in SETTINGS:
        raise ValueError(f"No setting '{key}'")
    limits = {"rest_months": (0, 36), "moderation_percent": (0, 100)}[key]
    if not limits[0] <= value <= limits[1]:
        raise ValueError(f"{SETTINGS[key][1]} must be between {limits[0]} and {limits[1]}")
    with engine.transaction() as s:
        require_cpp(s, actor)
        row = s.get(Setting, key)
        old = row.value if row else str(SETTINGS[key][0])
        if row is None:
            row = Setting(key=key, value=str(value), updated_by=actor, updated_at=engine.now())
            s.add(row)
        row.value, row.updated_by, row.updated_at = str(value), actor, engine.now()
        audit.append(s, engine.now(), actor, "setting_changed",
                     {"key": key, "from": old, "to": str(value)})
