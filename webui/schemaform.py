"""Turn a task's JSON Schema into GOV.UK form fields, and submitted fields back into data."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

ROWS = 5  # repeatable rows shown for an array of objects (the audit tool's actions)
TEXTAREA_OVER = 200
MISSING: Any = object()


@dataclass(frozen=True)
class Option:
    value: str
    text: str
    raw: Any


@dataclass
class Field:
    name: str  # the engine's dotted path, e.g. "actions.2.action"
    id: str  # the HTML id and name, e.g. "actions-2-action"
    kind: str  # radios, yesno, checkboxes, date, number, textarea, input, lines, rows
    label: str
    hint: str = ""
    required: bool = False
    options: list[Option] = field(default_factory=list)
    max_length: int | None = None
    integer: bool = False
    width: str = ""
    rows: list[list[Field]] = field(default_factory=list)
    item_label: str = "Item"
    # Questions revealed under one answer of this one (JSON Schema if/then), by HTML value.
    conditional: dict[str, list[Field]] = field(default_factory=dict)

    @property
    def choices(self) -> list[tuple[str, str]]:
        """The (value, text) pairs of radios or checkboxes."""
        if self.kind == "yesno":
            return [("yes", "Yes"), ("no", "No")]
        return [(o.value, o.text) for o in self.options]

    @property
    def anchor(self) -> str:
        """The id the error summary links to: the first input of the question."""
        if self.kind == "date":
            return f"{self.id}-day"
        if self.kind == "rows" and self.rows and self.rows[0]:
            return self.rows[0][0].anchor
        return self.id


def html_value(value: Any) -> str:
    """Return how a data value is written in an HTML form (booleans are yes/no radios)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _options(prop: dict[str, Any]) -> list[Option]:
    if "enum" in prop:
        names = prop.get("x-enumNames") or prop.get("enumNames") or []
        return [Option(str(v), str(names[i]) if i < len(names) else str(v), v)
                for i, v in enumerate(prop["enum"])]
    for key in ("oneOf", "anyOf"):
        alts = prop.get(key)
        if isinstance(alts, list) and alts and all(isinstance(a, dict) and "const" in a
                                                   for a in alts):
            return [Option(str(a["const"]), str(a.get("title", a["const"])), a["const"])
                    for a in alts]
    return []


def _kind(prop: dict[str, Any]) -> str:
    kind = prop.get("type")
    if kind == "boolean":
        return "confirm" if prop.get("const") is True else "yesno"
    if kind in ("integer", "number"):
        return "number"
    if kind == "array":
        items = prop.get("items") or {}
        if items.get("type") == "object":
            return "rows"
        return "checkboxes" if _options(items) else "lines"
    if _options(prop):
        return "radios"
    if prop.get("format") == "date":
        return "date"
    if prop.get("format") == "textarea" or prop.get("x-widget") == "textarea" \
            or (prop.get("maxLength") or 0) > TEXTAREA_OVER:
        return "textarea"
    return "input"


def _field(name: str, prop: dict[str, Any], required: bool) -> Field:
    kind = _kind(prop)
    leaf = name.rsplit(".", 1)[-1]
    f = Field(
        name=name, id=name.replace(".", "-"), kind=kind,
        label=str(prop.get("title") or leaf.replace("_", " ").capitalize()),
        hint=str(prop.get("description") or ""), required=required,
        options=_options(prop.get("items") or {} if kind == "checkboxes" else prop),
        max_length=prop.get("maxLength"), integer=prop.get("type") == "integer",
    )
    if kind == "input" and f.max_length and f.max_length <= 10:
        f.width = "govuk-input--width-5"  # short answers (a time, a code) get a short box
    if kind == "rows":
        items = prop.get("items") or {}
        count = min(int(prop.get("maxItems") or ROWS), ROWS)
        f.rows = [build(items, prefix=f"{name}.{i}.") for i in range(count)]
        f.item_label = str(items.get("title") or "Item")
    return f


def _reveals(schema: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """Read `if X is V then Y is required` rules as (X, V as written in HTML, [Y...])."""
    found: list[tuple[str, str, list[str]]] = []
    for rule in [schema, *(schema.get("allOf") or [])]:
        test = (rule.get("if") or {}).get("properties") or {}
        needed = (rule.get("then") or {}).get("required") or []
        if len(test) != 1 or not needed:
            continue
        [(key, cond)] = test.items()
        values = [cond["const"]] if "const" in cond else cond.get("enum") or []
        found.extend((key, html_value(v), list(needed)) for v in values)
    return found


def build(schema: dict[str, Any], prefix: str = "") -> list[Field]:
    """Return the fields of an object schema, in the schema's order, conditional ones nested."""
    required = set(schema.get("required") or [])
    fields = [_field(prefix + key, prop, key in required)
              for key, prop in (schema.get("properties") or {}).items() if isinstance(prop, dict)]
    by_key = {f.name[len(prefix):]: f for f in fields}
    moved: set[str] = set()
    for key, value, needed in _reveals(schema):
        parent = by_key.get(key)
        if parent is None or parent.kind not in ("radios", "yesno") or key in moved:
            continue
        for name in needed:
            child = by_key.get(name)
            if child is not None and name != key and name not in moved:
                child.required = True  # required whenever it is shown
                parent.conditional.setdefault(value, []).append(child)
                moved.add(name)
    return [f for f in fields if f.name[len(prefix):] not in moved]


def _pick(f: Field, value: str) -> Any:
    for option in f.options:
        if option.value == value:
            return option.raw
    return value  # not an option: the engine's validation says so


def _date(form: MultiDict[str, str], f: Field) -> Any:
    day, month, year = (form.get(f"{f.id}-{p}", "").strip() for p in ("day", "month", "year"))
    if not (day or month or year):
        return MISSING
    if day.isdigit() and month.isdigit() and year.isdigit():
        return f"{int(year):04d}-{int(month):02d}-{int(day):02d}"
    return f"{year}-{month}-{day}"  # not a real date: the engine's validation says so


def _number(text: str, integer: bool) -> Any:
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if not integer and re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    return text


def value(f: Field, form: MultiDict[str, str]) -> Any:
    """Read one question's answer from the submitted form; MISSING when left blank."""
    if f.kind == "date":
        return _date(form, f)
    if f.kind == "checkboxes":
        picked = [_pick(f, v) for v in form.getlist(f.id)]
        return picked or MISSING
    if f.kind == "rows":
        return MISSING  # handled by parse, which keeps track of dropped rows
    text = form.get(f.id, "").strip()
    if not text:
        return MISSING
    if f.kind in ("yesno", "confirm"):
        return {"yes": True, "no": False}.get(text, text)
    if f.kind == "radios":
        return _pick(f, text)
    if f.kind == "number":
        return _number(text, f.integer)
    if f.kind == "lines":
        return [line.strip() for line in text.splitlines() if line.strip()]
    return text


def parse(fields: list[Field], form: MultiDict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the data to submit and, for rows kept after dropping empty ones, new -> old path."""
    data: dict[str, Any] = {}
    moved: dict[str, str] = {}
    for f in fields:
        if f.kind != "rows":
            answer = value(f, form)
            if answer is not MISSING:
                data[f.name] = answer
            # Only the questions under the chosen answer count; others may hold stale typing.
            chosen = f.conditional.get(form.get(f.id, ""), [])
            if chosen:
                sub_data, sub_moved = parse(chosen, form)
                data.update(sub_data)
                moved.update(sub_moved)
            continue
        kept: list[dict[str, Any]] = []
        for i, row in enumerate(f.rows):
            item = {sub.name.rsplit(".", 1)[-1]: v for sub in row
                    if (v := value(sub, form)) is not MISSING}
            if item:
                moved[f"{f.name}.{len(kept)}"] = f"{f.name}.{i}"
                kept.append(item)
        if kept:
            data[f.name] = kept
    return data, moved


def _lower_first(text: str) -> str:
    if text.startswith(("I ", "I'")) or text[1:2].isupper():
        return text  # "I have...", acronyms such as "CPP"
    return text[:1].lower() + text[1:]


def _wording(f: Field | None, message: str) -> str:
    """Say it the GOV.UK way where the engine's generic message does not suit the component."""
    if f is None:
        return message
    if f.kind in ("radios", "checkboxes") and message.startswith(("Enter ", "Answer")):
        return f"Select {_lower_first(f.label)}"
    if f.kind == "yesno" and message.startswith(("Enter ", "Answer")):
        return f"Select yes or no: {_lower_first(f.label)}"
    if f.kind == "confirm" and not message.startswith("Tick"):
        return f"Tick the box to confirm: {_lower_first(f.label)}"
    if f.kind == "rows" and message.startswith(("Answer", "Enter")):
        return f"Enter at least one {_lower_first(f.item_label)}"
    if f.kind in ("input", "textarea") and f.label.endswith("?") and message.startswith("Enter "):
        return f"Answer the question ‘{f.label}’"
    if f.kind in ("input", "textarea") and "does not match" in message:
        return f"Enter {_lower_first(f.label)} in the format shown" if f.hint else \
            f"Enter {_lower_first(f.label)}"
    if f.kind == "number" and "is not of type" in message:
        return f"{f.label} must be a {'whole ' if f.integer else ''}number"
    return message


def place_errors(errors: dict[str, str], moved: dict[str, str],
                 fields: list[Field] | None = None) -> dict[str, str]:
    """Map the engine's error paths back onto the rows the person typed them in."""
    by_name = {f.name: f for f in _all(fields or [])}
    placed: dict[str, str] = {}
    for key, message in errors.items():
        parts = key.split(".")
        if len(parts) > 1 and parts[1].isdigit():
            row = moved.get(".".join(parts[:2]), ".".join(parts[:2]))
            key = ".".join([row, *parts[2:]])
        placed.setdefault(key, _wording(by_name.get(key), message))
    return placed


def _all(fields: list[Field]) -> list[Field]:
    out = []
    for f in fields:
        out.append(f)
        for row in f.rows:
            out.extend(_all(row))
        for revealed in f.conditional.values():
            out.extend(_all(revealed))
    return out


def summary(fields: list[Field], errors: dict[str, str]) -> list[dict[str, str]]:
    """Return the GOV.UK error summary list, in the order of the questions on the page."""
    by_name = {f.name: f for f in _all(fields)}
    ordered = [f.name for f in _all(fields) if f.name in errors]
    ordered += [k for k in errors if k not in by_name]
    first = _all(fields)[0].anchor if fields else "main-content"
    return [{"text": errors[k], "href": "#" + (by_name[k].anchor if k in by_name else first)}
            for k in ordered]


def keep(form: MultiDict[str, str]) -> dict[str, list[str]]:
    """Return what was typed, exactly, for a draft (buttons and the CSRF token left out)."""
    return {k: form.getlist(k) for k in form if k not in ("csrf_token", "action")}


def restore(draft: dict[str, Any] | None) -> MultiDict[str, str]:
    """Return a draft's typed values in the shape of a submitted form."""
    typed = (draft or {}).get("form") or {}
    return MultiDict([(k, str(v)) for k, vs in typed.items()
                      for v in (vs if isinstance(vs, list) else [vs])])


def error_items(errors: dict[str, str],
                anchors: dict[str, str] | None = None) -> list[dict[str, str]]:
    """Return a GOV.UK error summary list for a hand-written form (field name = input id)."""
    return [{"text": m, "href": "#" + (anchors or {}).get(k, k)} for k, m in errors.items()]
