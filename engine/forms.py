"""JSON Schema forms: show only what applies to this child, and validate on the server."""

from __future__ import annotations

import copy
from typing import Any

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


_validators: dict[tuple[int, str], tuple[dict[str, Any], Any]] = {}


def _validator(schema: dict[str, Any], data: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    # Schemas are cached per definition version, so identity plus the x-when answers is a key.
    whens = sorted({k for p in schema.get("properties", {}).values() if isinstance(p, dict)
                    for k in p.get("x-when", {})})
    key = (id(schema), repr([data.get(k) for k in whens]))
    found = _validators.get(key)
    if found is None or found[0] is not schema:
        pruned = for_task(schema, data)
        found = (schema, (pruned, jsonschema.Draft202012Validator(pruned, format_checker=_FORMATS)))
        if len(_validators) > 1024:
            _validators.clear()
        _validators[key] = found
    return found[1]


def validate(schema: dict[str, Any], submitted: dict[str, Any], data: dict[str, Any]) -> dict[str, str]:
    """Return field -> message for every rule the submission breaks (empty when it is acceptable)."""
    pruned, validator = _validator(schema, data)
    errors: dict[str, str] = {}
    for error in sorted(validator.iter_errors(submitted), key=lambda e: list(map(str, e.path))):
        errors.setdefault(_field(error), _message(error, pruned))
    unknown = set(submitted) - set(pruned.get("properties", {}))
    for key in sorted(unknown):
        errors.setdefault(key, "This field is not part of the form")
    return errors
