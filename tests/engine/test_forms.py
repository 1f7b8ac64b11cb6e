"""Form validation: jsonschema decides every form; fastjsonschema only confirms what it accepts.

A submission the compiled check accepts is accepted without asking jsonschema, so the check must
never accept what jsonschema would refuse. Each form of the framework is put to jsonschema alone
and to `forms.validate` with every answer changed in turn to values chosen to sit on the edges
where the two libraries could differ (booleans against numbers, impossible dates, blank and
overlong text, answers the form does not ask), and with answers left out, in every variant the
child's status shows; hypothesis then changes several answers at once.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema.exceptions import FormatError

from engine import forms
from features.driver import sample
from tests.conftest import PROCESSES

SCHEMAS = {p.name: json.loads(p.read_text()) for p in sorted(PROCESSES.glob("*.schema.json"))}
TODAY = "2025-11-04"
# Every child status a form's questions depend on (`x-when`), and none.
CONTEXTS = [{}, *({"child_status": status} for status in ("CIN", "CP", "CiC"))]
EDGES: list[Any] = [
    None, True, False, 0, 1, 1.0, 0.0, -1, 2.5, "", " ", "\n", "x", "a\nb", "x" * 3001,
    "2025-02-30", "2025-02-28", "2025-2-3", "20251104", "2025-11-04\n", "2025-11-04T10:00:00",
    "true", "false", "Good", "Inadequate", "Requires Improvement", "grade-stands", "unresolved",
    [], ["x"], [True], [1, 1], {}, {"a": 1}]


def _verdicts_agree(schema: dict[str, Any], submitted: dict[str, Any], data: dict[str, Any]) -> bool:
    """Whether the form accepts the submission (`validate`), checking it says what jsonschema
    alone says, message for message."""
    alone = forms._errors(forms._form(schema, data), submitted)
    assert forms.validate(schema, submitted, data) == alone, submitted
    return not alone


def _variants(schema: dict[str, Any], data: dict[str, Any]) -> list[dict[str, Any]]:
    valid = sample(forms.for_task(schema, data), TODAY)
    out = [valid]
    for name in valid:
        out.append({k: v for k, v in valid.items() if k != name})
        out.extend({**valid, name: edge} for edge in EDGES)
        for other in schema.get("properties", {}).get(name, {}).get("enum", []):
            out.append({**valid, name: other})
    out.append({**valid, "not_asked": "x"})
    return out


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_answer_changed_in_turn_gets_jsonschemas_verdict(name: str) -> None:
    schema = SCHEMAS[name]
    accepted = refused = 0
    for data in CONTEXTS:
        assert forms._form(schema, data).fast is not None, "the form is checked by jsonschema alone"
        for submitted in _variants(schema, data):
            if _verdicts_agree(schema, submitted, data):
                accepted += 1
            else:
                refused += 1
    assert accepted, "no answer was accepted"  # both ways through were taken
    assert refused, "no answer was refused"


answers = st.sampled_from(EDGES) | st.text(max_size=12) | st.integers() | st.booleans()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SCHEMAS)), data=st.sampled_from(CONTEXTS),
       changes=st.dictionaries(st.text(max_size=3), answers, max_size=4),
       picks=st.lists(st.integers(min_value=0), max_size=4), drop=st.booleans())
def test_several_answers_changed_at_once_get_jsonschemas_verdict(
        name: str, data: dict[str, Any], changes: dict[str, Any], picks: list[int],
        drop: bool) -> None:
    schema = SCHEMAS[name]
    submitted = sample(forms.for_task(schema, data), TODAY)
    names = sorted(submitted)
    for pick, value in zip(picks, changes.values(), strict=False):
        key = names[pick % len(names)]
        if drop:
            submitted.pop(key, None)
        else:
            submitted[key] = value
    _verdicts_agree(schema, submitted, data)


def test_an_acceptable_answer_is_not_walked_by_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    acceptable = [(schema, sample(schema, TODAY)) for schema in SCHEMAS.values()]
    acceptable = [(schema, answer) for schema, answer in acceptable
                  if not forms._errors(forms._form(schema, {}), answer)]
    assert len(acceptable) > len(SCHEMAS) // 2

    def walked(*_: Any) -> Any:
        raise AssertionError("jsonschema was asked")

    monkeypatch.setattr(forms, "_errors", walked)
    for schema, answer in acceptable:
        assert forms.validate(schema, answer, {}) == {}


TWO_QUESTIONS = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}


def test_a_keyword_the_two_read_differently_leaves_the_form_to_jsonschema() -> None:
    # dependentRequired is 2019-09's and later; fastjsonschema's earlier drafts would ignore it.
    schema = {**TWO_QUESTIONS, "dependentRequired": {"a": ["b"]}}
    assert forms._form(schema, {}).fast is None
    assert forms.validate(schema, {"a": "x"}, {})
    assert forms.validate(schema, {"a": "x", "b": "y"}, {}) == {}
    nested = {"type": "object", "properties": {"a": {"type": "array", "prefixItems": [
        {"type": "string"}]}}}
    assert forms._form(nested, {}).fast is None
    assert forms.validate(nested, {"a": [1]}, {})


def test_dates_are_checked_by_jsonschemas_own_format_checker() -> None:
    schema = {"type": "object", "properties": {"on": {"type": "string", "format": "date",
                                                      "title": "Date"}}}
    assert forms._form(schema, {}).fast is not None
    assert forms.validate(schema, {"on": "2025-02-30"}, {}) == {"on": "Date must be a real date"}
    assert forms.validate(schema, {"on": "2024-02-29"}, {}) == {}


def test_formats_are_asked_of_the_checker_jsonschema_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    # A checker stricter than fastjsonschema's own date pattern (as jsonschema's would be with
    # a rule of its own): the compiled check refuses what it refuses.
    checker = forms._FORMATS
    loose = checker.check

    def strict(instance: Any, format: str) -> None:
        if format == "date" and instance == TODAY:
            raise FormatError("not that day")
        loose(instance, format)

    monkeypatch.setattr(checker, "check", strict)
    schema = {"type": "object", "properties": {"on": {"type": "string", "format": "date",
                                                      "title": "Date"}}}
    assert forms._form(schema, {}).fast is not None
    assert forms.validate(schema, {"on": TODAY}, {}) == {"on": "Date must be a real date"}
    assert forms.validate(schema, {"on": "2025-11-05"}, {}) == {}


def test_no_default_is_filled_into_what_was_submitted() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "default": "filled"}}}
    submitted: dict[str, Any] = {}
    assert forms._form(schema, {}).fast is not None
    assert forms.validate(schema, submitted, {}) == {}
    assert submitted == {}
