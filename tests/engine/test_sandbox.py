import pytest

from engine.errors import ExpressionRefused
from engine.sandbox import Effects, evaluate, execute

ESCAPES = [
    "__import__('os').system('id')",
    "().__class__.__bases__[0].__subclasses__()",
    "'{0.__class__.__mro__}'.format(1)",
    "getattr(grade, 'upper')",
    "open('/etc/passwd').read()",
    "9 ** 9 ** 9",
    "[x for x in (1).__class__.__subclasses__()]",
    "(lambda: 1)()",
    "eval('1')",
    "(x for x in [1]).gi_frame",
    "globals()",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_escape_attempts_are_refused(source):
    with pytest.raises(ExpressionRefused):
        evaluate(source, {"grade": "Good"})


def test_a_condition_reads_the_audit_data():
    assert evaluate("grade in ['Requires Improvement', 'Inadequate']", {"grade": "Inadequate"})


def test_a_script_writes_plain_values_back_and_leaves_no_helpers_behind():
    data = {"grade": "Good"}
    execute("initial_grade = grade\nsubmitted = now()", data)
    assert data["initial_grade"] == "Good"
    assert "now" not in data
    assert "submitted" in data


def test_notify_fills_placeholders_without_walking_attributes():
    effects = Effects()
    execute("notify(['Head of Service'], 'Audit of $child_ref', 'Graded $grade')",
            {"child_ref": "C-1", "grade": "Inadequate"}, effects)
    assert effects.notifications == [(["Head of Service"], "Audit of C-1", "Graded Inadequate")]


def test_importing_in_a_script_is_refused():
    with pytest.raises(ExpressionRefused, match="imports"):
        execute("import os", {})
