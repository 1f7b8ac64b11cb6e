"""JSON Schema -> GOV.UK fields, and submitted fields -> the data the engine validates."""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict

from webui import schemaform

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "grade": {"type": "string", "enum": ["Good", "Inadequate"]},
        "agreed": {"type": "boolean", "title": "Agreed?"},
        "notes": {"type": "string", "maxLength": 1000},
        "name": {"type": "string"},
        "count": {"type": "integer"},
        "score": {"type": "number"},
        "when": {"type": "string", "format": "date"},
        "areas": {"type": "array", "items": {"type": "string", "enum": ["A", "B"]}},
        "actions": {"type": "array", "maxItems": 3, "items": {
            "type": "object", "properties": {"what": {"type": "string"},
                                             "by": {"type": "string", "format": "date"}}}},
    },
    "required": ["grade"],
}


def test_each_type_becomes_its_gov_uk_component() -> None:
    kinds = {f.name: f.kind for f in schemaform.build(SCHEMA)}
    assert kinds == {"grade": "radios", "agreed": "yesno", "notes": "textarea", "name": "input",
                     "count": "number", "score": "number", "when": "date",
                     "areas": "checkboxes", "actions": "rows"}


def test_rows_are_limited_by_max_items_and_anchor_to_their_first_input() -> None:
    actions = schemaform.build(SCHEMA)[-1]
    assert len(actions.rows) == 3
    assert [f.id for f in actions.rows[1]] == ["actions-1-what", "actions-1-by"]
    assert actions.anchor == "actions-0-what"
    assert actions.rows[0][1].anchor == "actions-0-by-day"


def test_submitted_fields_become_typed_data_and_blanks_are_left_out() -> None:
    form = MultiDict([("grade", "Good"), ("agreed", "no"), ("notes", "  "), ("count", "7"),
                      ("score", "2.5"), ("when-day", "3"), ("when-month", "11"),
                      ("when-year", "2025"), ("areas", "A"), ("areas", "B"),
                      ("actions-2-what", "Visit"), ("actions-0-by-day", "")])
    data, moved = schemaform.parse(schemaform.build(SCHEMA), form)
    assert data == {"grade": "Good", "agreed": False, "count": 7, "score": 2.5,
                    "when": "2025-11-03", "areas": ["A", "B"], "actions": [{"what": "Visit"}]}
    assert moved == {"actions.0": "actions.2"}


def test_answers_that_are_not_valid_are_passed_on_for_the_engine_to_refuse() -> None:
    form = MultiDict([("count", "seven"), ("when-day", "31"), ("when-month", "2"),
                      ("when-year", "2026"), ("grade", "Excellent")])
    data, _ = schemaform.parse(schemaform.build(SCHEMA), form)
    assert data == {"count": "seven", "when": "2026-02-31", "grade": "Excellent"}


def test_errors_in_kept_rows_point_back_to_the_row_typed_in() -> None:
    fields = schemaform.build(SCHEMA)
    placed = schemaform.place_errors({"actions.0.by": "Bad date", "grade": "Enter grade"},
                                     {"actions.0": "actions.2"}, fields)
    assert placed == {"actions.2.by": "Bad date", "grade": "Select grade"}
    assert schemaform.summary(fields, placed) == [
        {"text": "Select grade", "href": "#grade"},
        {"text": "Bad date", "href": "#actions-2-by-day"}]


def test_a_draft_keeps_exactly_what_was_typed() -> None:
    form = MultiDict([("csrf_token", "x"), ("action", "draft"), ("areas", "A"), ("areas", "B"),
                      ("when-day", "3x")])
    kept = schemaform.keep(form)
    assert kept == {"areas": ["A", "B"], "when-day": ["3x"]}
    restored = schemaform.restore({"form": kept})
    assert restored.getlist("areas") == ["A", "B"]
    assert restored.get("when-day") == "3x"


CONDITIONAL: dict[str, Any] = {
    "type": "object",
    "properties": {
        "agrees": {"type": "boolean", "title": "Do you agree?"},
        "reasons": {"type": "string", "title": "Why not?"},
        "outcome": {"type": "string", "enum": ["stands", "changed"],
                    "x-enumNames": ["The grade stands", "The grade is changed"]},
        "new_grade": {"type": "string", "enum": ["Good", "Inadequate"]},
        "confirmed": {"type": "boolean", "const": True, "title": "I have checked"},
    },
    "required": ["agrees", "outcome", "confirmed"],
    "allOf": [
        {"if": {"properties": {"agrees": {"const": False}}, "required": ["agrees"]},
         "then": {"required": ["reasons"]}},
        {"if": {"properties": {"outcome": {"const": "changed"}}, "required": ["outcome"]},
         "then": {"required": ["new_grade"]}},
    ],
}


def test_questions_required_by_an_answer_are_revealed_under_it() -> None:
    fields = schemaform.build(CONDITIONAL)
    assert [f.name for f in fields] == ["agrees", "outcome", "confirmed"]
    agrees, outcome, confirmed = fields
    assert [f.name for f in agrees.conditional["no"]] == ["reasons"]
    assert agrees.conditional["no"][0].required
    assert [f.name for f in outcome.conditional["changed"]] == ["new_grade"]
    assert outcome.choices == [("stands", "The grade stands"), ("changed", "The grade is changed")]
    assert confirmed.kind == "confirm"


def test_revealed_answers_count_only_under_the_chosen_answer() -> None:
    fields = schemaform.build(CONDITIONAL)
    form = MultiDict([("agrees", "yes"), ("reasons", "typed before changing my mind"),
                      ("outcome", "changed"), ("new_grade", "Good"), ("confirmed", "yes")])
    data, _ = schemaform.parse(fields, form)
    assert data == {"agrees": True, "outcome": "changed", "new_grade": "Good", "confirmed": True}
    placed = schemaform.place_errors({"reasons": "Enter why not?", "confirmed": "Answer: x"},
                                     {}, fields)
    assert placed["confirmed"] == "Tick the box to confirm: I have checked"
    assert [e["href"] for e in schemaform.summary(fields, placed)] == ["#reasons", "#confirmed"]
