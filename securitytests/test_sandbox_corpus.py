"""Known Python sandbox escapes: each is refused when a process is validated, or stopped within bounds."""

from __future__ import annotations

import time
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from engine import sandbox
from engine.definitions import validate_paths
from engine.errors import ExpressionRefused, ProcessFailed
from engine.sandbox import Effects, evaluate, execute

SIMPLE = Path(__file__).parents[1] / "tests" / "fixtures" / "simple"

# (name, mode, source): refused by the checker, so refused at deploy.
REFUSED_AT_VALIDATION = [
    ("class walk to subclasses", "eval", "().__class__.__bases__[0].__subclasses__()"),
    ("class walk through mro", "eval", "[].__class__.__mro__[1].__subclasses__()"),
    ("str.mro method", "eval", "str.mro()"),
    ("reduce protocol", "eval", "[].__reduce_ex__(2)"),
    ("format string attribute walk", "eval", "'{0.__class__.__mro__}'.format(grade)"),
    ("format without dunder in the text", "eval", "'{0.upper}'.format(grade)"),
    ("format_map attribute walk", "eval", "'{g.upper}'.format_map({'g': grade})"),
    ("f-string dunder with !r", "eval", "f'{grade.__class__!r}'"),
    ("f-string nested format spec", "eval", "f'{grade!r:>{width}}'"),
    ("f-string huge width", "eval", "f'{grade:>999999999}'"),
    ("f-string huge precision", "eval", "f'{1.5:.999999999f}'"),
    ("getattr", "eval", "getattr(grade, 'upper')"),
    ("getattr chain", "eval", "getattr(getattr(grade, 'up' + 'per'), 'x' + 'y')"),
    ("vars", "eval", "vars()"),
    ("dir", "eval", "dir(grade)"),
    ("globals", "eval", "globals()['grade']"),
    ("locals", "eval", "locals()"),
    ("generator frame", "eval", "(x for x in [1]).gi_frame.f_back.f_globals"),
    ("frame of a data value", "eval", "grade.gi_frame"),
    ("coroutine frame", "exec", "async def f():\n    pass\nframe = f().cr_frame"),
    ("traceback frame", "exec",
     "try:\n    1 / 0\nexcept Exception as e:\n    frame = e.__traceback__.tb_frame"),
    ("builtins by name", "eval", "__builtins__['eval']('1')"),
    ("import", "eval", "__import__('os')"),
    ("three-argument type", "eval", "type('X', (), {})"),
    ("lambda default", "eval", "(lambda x=grade: x)()"),
    ("walrus onto builtins", "eval", "[(__builtins__ := {}) for x in [1]]"),
    ("walrus binding eval", "eval", "(len := eval)"),
    ("unicode-normalised eval", "eval", "ｅｖａｌ('1+1')"),
    ("unicode-normalised getattr", "eval", "ｇｅｔａｔｔｒ(grade, 'upper')"),
    ("unicode-normalised dunder", "eval", "grade.__ｃｌａｓｓ__"),
    ("open a file", "eval", "open('/etc/passwd')"),
    ("compile", "eval", "compile('1', 'x', 'eval')"),
    ("breakpoint", "eval", "breakpoint()"),
    ("match class pattern reads attributes", "exec",
     "match grade:\n    case str(upper=u):\n        x = u"),
    ("method as a value", "eval", "sorted(items, key=items.count)"),
    ("calling a subscript", "eval", "[len][0](grade)"),
    ("bytes", "eval", "b'a' * 10"),
    ("huge exponent tower", "eval", "9 ** 9 ** 9"),
    ("non-constant exponent", "eval", "2 ** n"),
    ("bit shift", "eval", "1 << 100000"),
    ("while loop", "exec", "while True:\n    pass"),
    ("comprehension nested three deep", "eval",
     "[[[0 for a in items] for b in items] for c in items]"),
    ("comprehension with three loops", "eval", "[0 for a in items for b in items for c in items]"),
    ("deep recursion in the parser", "eval", "-" * 15_000 + "1"),
    ("deep recursion in the compiler", "eval", "+".join(["a"] * 5_000)),
    ("deep parentheses", "eval", "(" * 300 + "1" + ")" * 300),
    ("defining a function to recurse", "exec", "def f(n):\n    return f(n)\nf(1)"),
    ("doubling a list by slice assignment", "exec", "a = [0]\nfor i in [0] * 60:\n    a[0:0] = a"),
    ("copying by starred assignment", "exec", "first, *rest = items"),
]

# (name, mode, source, data): valid code that tries to exhaust memory or time when it runs.
STOPPED_AT_RUN_TIME = [
    ("huge string repetition", "eval", "'a' * 10 ** 9", {}),
    ("huge list repetition", "eval", "[0] * 10 ** 9", {}),
    ("repetition by a data value", "eval", "grade * n", {"n": 10 ** 8}),
    ("tuple repetition", "eval", "('ab',) * n", {"n": 10 ** 8}),
    ("chained powers", "eval", "((9 ** 64) ** 64) ** 64", {}),
    ("repeated squaring", "exec", "x = 9 ** 64\nfor i in [0] * 30:\n    x = x * x", {}),
    ("doubling a string", "exec", "s = 'a' * 1000\nfor i in [0] * 40:\n    s = s + s", {}),
    ("doubling a list in place", "exec", "a = [0]\nfor i in [0] * 60:\n    a.extend(a)", {}),
    ("doubling a list with +=", "exec", "a = [0]\nfor i in [0] * 60:\n    a += a", {}),
    ("percent-format width", "eval", "'%999999999d' % 1", {}),
    ("percent-format star width", "eval", "'%*d' % (10 ** 9, 1)", {}),
    ("ljust", "eval", "grade.ljust(10 ** 9)", {}),
    ("ljust called through the type", "eval", "str.ljust(grade, 10 ** 9)", {}),
    ("extend called through the type", "exec", "a = [0]\nfor i in [0] * 60:\n    list.extend(a, a)",
     {}),
    ("center", "eval", "grade.center(10 ** 9)", {}),
    ("zfill", "eval", "grade.zfill(10 ** 9)", {}),
    ("expandtabs", "eval", "('\\t' * 1000).expandtabs(10 ** 6)", {}),
    ("replace bomb", "exec", "s = 'a' * 1000\ns = s.replace('a', s)\ns = s.replace('a', s)", {}),
    ("join bomb", "eval", "('a' * 1000).join('b' * 10000)", {}),
    ("sum of lists", "eval", "sum([[0] * 100] * 100, [])", {}),
    ("star-args transpose", "eval", "list(zip(*[[0] * 100000] * 100000))", {}),
    ("nested loops", "exec", "for a in [0] * 100000:\n    for b in [0] * 100000:\n        x = a", {}),
    ("nested comprehension", "eval", "[[b for b in items] for a in items]",
     {"items": list(range(100_000))}),
    ("comparing shared structures", "exec",
     "a = [0]\nb = [0]\nfor i in [0] * 60:\n    a = [a, a]\n    b = [b, b]\nsame = a == b", {}),
    ("hashing a shared tuple", "exec", "t = (0,)\nfor i in [0] * 60:\n    t = (t, t)\ns = {t}", {}),
    ("printing a shared structure", "exec", "a = [0]\nfor i in [0] * 60:\n    a = [a, a]\ns = str(a)", {}),
    ("f-string of a shared structure", "exec",
     "a = [0]\nfor i in [0] * 60:\n    a = [a, a]\ns = f'{a}'", {}),
    ("comparing a wide shared structure", "exec",
     "row = [0] * 1000\ngrid = [row] * 1000\nsame = grid == [row] * 1000", {}),
    ("sorting shared structures", "exec",
     "a = [0]\nfor i in [0] * 60:\n    a = [a, a]\ns = sorted([a, a])", {}),
    ("a list that holds itself", "exec", "a = []\na.append(a)", {}),
    ("a list nested deeper than JSON allows", "exec", "a = []\nfor i in [0] * 100:\n    a = [a]", {}),
    ("a float too large", "eval", "(10.0 ** 60) ** 60", {}),
    ("printing many copies of a huge number", "eval", "str([big] * 100000)", {"big": 10 ** 4000}),
    ("an f-string of many large values", "eval", "f'{s}{s}{s}{s}{s}{s}{s}{s}{s}{s}'",
     {"s": "x" * 900_000}),
    ("memory budget", "exec",
     "keep = []\nfor i in [0] * 1000:\n    keep.append(text + '!')", {"text": "x" * 500_000}),
    ("time limit", "exec", "for i in [0] * 100000:\n    n = items.count(-1)",
     {"items": list(range(90_000))}),
    ("notification flood", "exec", "for i in [0] * 1000:\n    notify('CPP', 'x')", {}),
    ("notification template bomb", "exec", "notify('CPP', 'x', '$t' * 400000)", {"t": "y" * 1000}),
    ("calendar helper with a huge count", "eval", "working_days_after(now(), 10 ** 9)", {}),
    ("calendar helper called too often", "eval", "[noon_next_day(now()) for i in [0] * 100000]", {}),
]

# What stops each attack: a fragment of the refusal, so each bound is shown to be the one at work.
STOPPED_BY = {
    'huge string repetition': 'repetition',
    'huge list repetition': 'repetition',
    'repetition by a data value': 'repetition',
    'tuple repetition': 'repetition',
    'chained powers': 'bits',
    'repeated squaring': 'bits',
    'doubling a string': 'joining',
    'doubling a list in place': 'limited to 100,000 items',
    'doubling a list with +=': 'joining',
    'percent-format width': 'format widths',
    'percent-format star width': 'format widths',
    'ljust': 'characters',
    'ljust called through the type': 'characters',
    'extend called through the type': 'limited to 100,000 items',
    'center': 'characters',
    'zfill': 'characters',
    'expandtabs': 'characters',
    'replace bomb': 'characters',
    'join bomb': 'characters',
    'sum of lists': 'numbers only',
    'star-args transpose': 'arguments',
    'nested loops': 'looped more',
    'nested comprehension': 'looped more',
    'comparing shared structures': 'nested more than',
    'hashing a shared tuple': 'nested more than',
    'printing a shared structure': 'nested more than',
    'f-string of a shared structure': 'nested more than',
    'sorting shared structures': 'nested more than',
    'comparing a wide shared structure': 'too large',
    'a list that holds itself': 'nested more than',
    'a list nested deeper than JSON allows': 'nested more than',
    'a float too large': 'ran out of room',
    'printing many copies of a huge number': 'too large',
    'an f-string of many large values': 'made more than',
    'memory budget': 'made more than',
    'time limit': 'took longer',
    'notification flood': 'notifications',
    'notification template bomb': 'a notification is limited',
    'calendar helper with a huge count': 'working days',
    'calendar helper called too often': 'helpers',
}

BASE = {"grade": "Good", "items": [1, 2, 3], "width": 10, "n": 3}


def _run(mode: str, source: str, data: dict) -> None:
    scope = {**BASE, **data}
    if mode == "eval":
        evaluate(source, scope, Effects())
    else:
        execute(source, scope, Effects())


def test_the_corpus_has_at_least_25_escapes_of_each_kind():
    assert len(REFUSED_AT_VALIDATION) >= 25
    assert len(STOPPED_AT_RUN_TIME) >= 25


@pytest.mark.parametrize(("mode", "source"), [(m, s) for _, m, s in REFUSED_AT_VALIDATION],
                         ids=[n for n, _, _ in REFUSED_AT_VALIDATION])
def test_an_escape_is_refused_by_the_checker(mode, source):
    with pytest.raises(ExpressionRefused):
        sandbox.compile_restricted(source, mode)


@pytest.mark.parametrize(("mode", "source"), [(m, s) for _, m, s in REFUSED_AT_VALIDATION],
                         ids=[n for n, _, _ in REFUSED_AT_VALIDATION])
def test_an_escape_in_a_script_task_is_a_validation_problem(tmp_path, mode, source):
    bpmn = (SIMPLE / "simple.bpmn").read_text().replace(
        'escalate("Activity_One")', escape(source))
    (tmp_path / "simple.bpmn").write_text(bpmn, encoding="utf-8")
    (tmp_path / "one.schema.json").write_bytes((SIMPLE / "one.schema.json").read_bytes())
    problems = validate_paths([tmp_path])
    assert problems
    assert all("script refused" in p.reason for p in problems), problems


@pytest.mark.parametrize(("name", "mode", "source", "data"), STOPPED_AT_RUN_TIME,
                         ids=[n for n, _, _, _ in STOPPED_AT_RUN_TIME])
def test_a_resource_attack_passes_the_checker_but_is_stopped_within_a_second(
        name, mode, source, data):
    sandbox.compile_restricted(source, mode)
    started = time.perf_counter()
    with pytest.raises(ExpressionRefused, match=STOPPED_BY[name]):
        _run(mode, source, data)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(("mode", "source", "expected"), [
    ("eval", 'grade in ("Requires Improvement", "Inadequate")', False),
    ("eval", "f'{grade:>10}|{n:03d}'", "      Good|003"),
    ("eval", "'%s has %d items' % (grade, len(items))", "Good has 3 items"),
    ("eval", "sorted(items, key=str, reverse=True)[0] * 2", 6),
    ("eval", "', '.join([str(i) for i in items])", "1, 2, 3"),
    ("eval", "{k: v for k, v in zip(['a', 'b'], items)}", {"a": 1, "b": 2}),
    ("eval", "[i for i, x in enumerate(items) if x > 1] + list(reversed(items))", [1, 2, 3, 2, 1]),
    ("eval", "(2 ** 10).bit_length() + (1.5).real", 12.5),
    ("eval", "grade.upper().ljust(6, '.') + grade[1:3]", "GOOD..oo"),
    ("eval", "sum(items) + max(items, default=0)", 9),
])
def test_ordinary_expressions_still_work(mode, source, expected):
    assert evaluate(source, dict(BASE)) == expected


def test_a_script_with_loops_writes_back_its_results():
    data = {"scores": [3, 1, 2]}
    execute("total = 0\nfor s in scores:\n    total += s\nranked = sorted(scores)\n"
            "labels = {}\nlabels['top'] = ranked[-1]", data)
    assert data["total"] == 6
    assert data["ranked"] == [1, 2, 3]
    assert data["labels"] == {"top": 3}


def test_a_script_may_not_store_values_that_cannot_be_saved():
    with pytest.raises(ExpressionRefused, match="set"):
        execute("tags = {'a', 'b'}", {})


BOMB = Path(__file__).parent / "fixtures" / "bomb"


def test_a_script_that_blows_up_at_run_time_saves_nothing_and_the_engine_carries_on(
        engine, people, deploy):
    from sqlalchemy import func, select

    from engine import audit
    from engine.models import AuditEvent, Instance

    deploy(BOMB)
    with engine.transaction() as s:
        events_before = s.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    started = time.perf_counter()
    with pytest.raises(ProcessFailed) as caught:
        engine.start("bomb", "cpp1", {"child_ref": "C-1", "size": 10 ** 9},
                     participants={"Auditor": "auditor"})
    assert time.perf_counter() - started < 1.0
    assert isinstance(caught.value.__cause__.__context__, ExpressionRefused)
    with engine.transaction() as s:
        assert s.execute(select(func.count()).select_from(Instance)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == events_before
        assert audit.verify(s).ok
    assert engine.start("bomb", "cpp1", {"child_ref": "C-1", "size": 10},
                        participants={"Auditor": "auditor"})
