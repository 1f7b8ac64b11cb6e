"""JSON Schema forms: show only what applies to this child, and validate on the server."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from typing import Any

import fastjsonschema
import jsonschema

_FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER


def applies(prop: dict[str, Any], data: dict[str, Any]) -> bool:
    """Return True if a property's `x-when` condition matches the audit's data (or it has none)."""
    when = prop.get("x-when")
    if not when:
        return True
    for key, allowed in when.items():
        allowed = allowed if isinstance(allowed, list) else [allowed]
        if data.get(key) not in allowed:
            return False
    return True


def for_task(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Return the schema with the properties that do not apply to this child removed."""
    pruned = copy.deepcopy(schema)
    props = pruned.get("properties", {})
    dropped = [k for k, v in props.items() if isinstance(v, dict) and not applies(v, data)]
    for key in dropped:
        del props[key]
    if "required" in pruned:
        pruned["required"] = [k for k in pruned["required"] if k not in dropped]
    return pruned


def _field(error: jsonschema.ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path.append(missing)
    return ".".join(path) or "_form"


def _message(error: jsonschema.ValidationError, schema: dict[str, Any]) -> str:
    sub = schema
    for part in error.absolute_path:
        sub = sub.get("properties", {}).get(part) or sub.get("items", {}) if isinstance(sub, dict) else {}
    if error.validator == "required":
        name = error.message.split("'")[1] if "'" in error.message else "this"
        prop = schema_at(schema, [*error.absolute_path, name])
        title = prop.get("title", name) if prop else name
        return f"Enter {title[0].lower() + title[1:]}" if prop and prop.get("type") == "string" \
            and "enum" not in prop else f"Answer: {title}"
    title = sub.get("title", "This field") if isinstance(sub, dict) else "This field"
    if error.validator == "enum":
        return f"Choose one of the options for: {title}"
    if error.validator == "maxLength":
        return f"{title} must be {error.validator_value} characters or fewer"
    if error.validator == "minLength":
        return f"Enter {title[0].lower() + title[1:]}"
    if error.validator == "format" and error.validator_value == "date":
        return f"{title} must be a real date"
    if error.validator == "type":
        return f"{title}: {error.message}"
    return f"{title}: {error.message}"


def schema_at(schema: dict[str, Any], path: list[Any]) -> dict[str, Any] | None:
    node: Any = schema
    for part in path:
        if not isinstance(node, dict):
            return None
        if isinstance(part, int):
            node = node.get("items")
        else:
            node = node.get("properties", {}).get(part)
    return node if isinstance(node, dict) else None


# jsonschema decides every form: what is wrong and how to say it. It walks the schema afresh for
# each submission, though (about 90 microseconds for a short form, 230 for the audit tool), so an
# acceptable submission is first put to the same schema compiled by fastjsonschema (a tenth of
# that), and what it accepts is accepted; what it refuses, or cannot decide, goes to jsonschema.
# It is compiled only from the keywords on which the two agree (fastjsonschema knows the drafts up
# to 2019-09), with the formats checked by jsonschema's own checker and no defaults filled in, so
# it never accepts what jsonschema would refuse; a schema using any other keyword (a policy
# owner's revised form, say) is left to jsonschema alone.
_AGREED = frozenset({
    "$schema", "$comment", "title", "description", "default", "examples", "deprecated", "readOnly",
    "writeOnly", "type", "enum", "const", "properties", "required", "additionalProperties",
    "minProperties", "maxProperties", "items", "minItems", "maxItems", "uniqueItems",
    "minLength", "maxLength", "pattern", "format", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "allOf", "anyOf", "oneOf", "not", "if", "then", "else"})
_SUBSCHEMA = frozenset({"additionalProperties", "items", "not", "if", "then", "else"})
_SUBSCHEMAS = frozenset({"allOf", "anyOf", "oneOf"})


def _agreed(schema: Any, formats: set[str]) -> bool:
    """Whether every keyword of the schema and its subschemas is one the two agree on (a key
    starting "x-" is the form's own, ignored by both); collects the formats named on the way."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict):
        return False
    for key, value in schema.items():
        if key.startswith("x-"):
            continue
        if key not in _AGREED:
            return False
        if key == "properties":
            if not isinstance(value, dict) or not all(_agreed(v, formats) for v in value.values()):
                return False
        elif key in _SUBSCHEMAS:
            if not isinstance(value, list) or not all(_agreed(v, formats) for v in value):
                return False
        elif key in _SUBSCHEMA and not _agreed(value, formats):  # "items" as a list: refused
            return False
        elif key == "format":
            if not isinstance(value, str):
                return False
            formats.add(value)
    return True


def _fast(pruned: dict[str, Any]) -> Callable[[Any], Any] | None:
    """The schema compiled by fastjsonschema, or None if it uses a keyword outside `_AGREED`."""
    formats: set[str] = set()
    if not _agreed(pruned, formats):
        return None
    try:
        return fastjsonschema.compile(  # type: ignore[no-any-return]
            pruned, formats={name: partial(_conforms, name) for name in formats},
            use_default=False)
    except Exception:  # whatever it cannot compile, jsonschema validates alone
        return None


def _conforms(name: str, value: Any) -> bool:
    return _FORMATS.conforms(value, name)


class _Form:
    """One form as one child's task shows it, ready to validate submissions."""

    __slots__ = ("schema", "pruned", "names", "validator", "fast")

    def __init__(self, schema: dict[str, Any], data: dict[str, Any]):
        self.schema = schema
        self.pruned = for_task(schema, data)
        self.names = frozenset(self.pruned.get("properties", {}))
        self.validator = jsonschema.Draft202012Validator(self.pruned, format_checker=_FORMATS)
        self.fast = _fast(self.pruned)


_forms: dict[tuple[int, str], _Form] = {}
# The names each form's questions depend on (`x-when`), per schema.
_whens: dict[int, tuple[dict[str, Any], tuple[str, ...]]] = {}


def _form(schema: dict[str, Any], data: dict[str, Any]) -> _Form:
    # Schemas are cached per definition version, so identity plus the x-when answers is a key.
    known = _whens.get(id(schema))
    if known is None or known[0] is not schema:
        names = tuple(sorted({k for p in schema.get("properties", {}).values()
                              if isinstance(p, dict) for k in p.get("x-when", {})}))
        if len(_whens) > 1024:
            _whens.clear()
        known = _whens[id(schema)] = (schema, names)
    key = (id(schema), repr([data.get(k) for k in known[1]]))
    form = _forms.get(key)
    if form is None or form.schema is not schema:
        form = _Form(schema, data)
        if len(_forms) > 1024:
            _forms.clear()
        _forms[key] = form
    return form


def validate(schema: dict[str, Any], submitted: dict[str, Any], data: dict[str, Any]) -> dict[str, str]:
    """Return field -> message for every rule the submission breaks (empty when it is acceptable)."""
    form = _form(schema, data)
    if form.fast is not None and form.names.issuperset(submitted):
        try:
            form.fast(submitted)
            return {}
        except Exception:  # refused, or undecided: jsonschema says which
            pass
    return _errors(form, submitted)


def _errors(form: _Form, submitted: dict[str, Any]) -> dict[str, str]:
    """What jsonschema finds wrong with the submission, and any answer the form does not ask."""
    errors: dict[str, str] = {}
    for error in sorted(form.validator.iter_errors(submitted), key=lambda e: list(map(str, e.path))):
        errors.setdefault(_field(error), _message(error, form.pruned))
    for key in sorted(set(submitted) - form.names):
        errors.setdefault(key, "This field is not part of the form")
    return errors
