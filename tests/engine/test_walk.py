"""The engine walks SpiffWorkflow's task tree with its own loop (engine.spiff._walk) on the
workflows it runs. SpiffWorkflow's TaskIterator is the rule: every walk an audit makes must give
the same tasks in the same order as the stock walk would, at any depth limit, on the framework's
own processes (subprocesses, boundary timers, joins, the safety concern's event subprocess)."""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskIterator

from engine import spiff
from engine.timeline import all_tasks
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import pathway  # noqa: E402

# No limit (the stock 1000), and limits that cut the deep-dive's tree at several depths, inside
# and outside its subprocesses: the depth the walk keeps is the stock walk's, quirks and all.
LIMITS = (None, 1, 2, 4, 7, 12, 20, 33)


def _copy(it: Any, cls: type, max_depth: int | None) -> Any:
    """The iterator as it was made, unstarted, as `cls`, with another depth limit."""
    twin = object.__new__(cls)
    twin.__dict__.update(it.__dict__)
    twin.__dict__.pop("_walking", None)
    twin.task_list = list(it.task_list)
    twin.depth = 0
    if max_depth is not None:
        twin.max_depth = max_depth
    return twin


def _stock_walk(it: Any, max_depth: int | None) -> list[Any]:
    stock = BpmnTaskIterator if isinstance(it, BpmnTaskIterator) else TaskIterator
    twin = _copy(it, stock, max_depth)
    found = []
    while True:
        try:
            found.append(stock.__next__(twin))
        except StopIteration:
            return found


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Check every walk the engine starts against the stock walk, on the tree as it is then, and
    every list of tasks it answers without a walk against the stock method's."""
    seen = {"walks": 0, "cut": 0, "in_subprocesses": 0, "not_walked": 0, "answered_alone": 0,
            "placed": 0}
    real, any_wanted, sole, in_order = spiff._walk, spiff._any_wanted, spiff._sole, spiff._in_walk_order

    def compared(workflow: Any, state: int) -> list[Any] | None:
        found = sole(workflow, state)
        if found is not None:
            expected = spiff._stock_get_tasks(workflow, state=state)
            assert [id(t) for t in found] == [id(t) for t in expected], \
                f"{type(workflow).__name__} {workflow.spec.name}: the tasks in state {state}"
            seen["answered_alone"] += 1
        return found

    def counting(*args: Any) -> bool:
        found = any_wanted(*args)
        seen["not_walked"] += not found
        return found

    def placing(*args: Any) -> list[Any] | None:
        found = in_order(*args)
        seen["placed"] += found is not None
        return found

    def checking(it: Any) -> Iterator[Any]:
        first = it.task_list[0]
        whole: list[Any] = []
        for limit in LIMITS:
            expected = _stock_walk(it, limit)
            got = list(real(_copy(it, type(it), limit)))
            assert [id(t) for t in got] == [id(t) for t in expected], \
                f"walk from {first.task_spec.name}, limit {limit}"
            if limit is None:
                whole = expected
            elif len(expected) < len(whole):
                seen["cut"] += 1
        seen["walks"] += 1
        if any(t.workflow is not first.workflow for t in whole):
            seen["in_subprocesses"] += 1
        return real(it)

    monkeypatch.setattr(spiff, "_walk", checking)
    monkeypatch.setattr(spiff, "_any_wanted", counting)
    monkeypatch.setattr(spiff, "_sole", compared)
    monkeypatch.setattr(spiff, "_in_walk_order", placing)
    return seen


def test_the_mirrored_version_is_the_one_installed() -> None:
    """An upgrade of SpiffWorkflow must be a decision: the walk mirrors one version's."""
    assert spiff.SPIFF_VERSION == spiff.WALK_MIRRORS
    assert spiff.fast_walk_installed()


def test_only_the_engines_workflows_take_the_fast_walk() -> None:
    with pathway.bench() as b:
        pd = b.definition
        ours = spiff.make_workflow(pd.spec, pd.subprocess_specs)
        stock = spiff.BpmnWorkflow(pd.spec, pd.subprocess_specs, script_engine=spiff.SCRIPT_ENGINE)
        assert type(ours.get_tasks_iterator()) is spiff._FastBpmnTaskIterator
        assert type(TaskIterator(ours.task_tree)) is spiff._FastTaskIterator
        assert type(stock.get_tasks_iterator()) is BpmnTaskIterator
        assert type(TaskIterator(stock.task_tree)) is TaskIterator
        assert [t.id for t in ours.get_tasks()] != []  # a walk that finds something
        rebuilt = spiff.state_from_json(spiff.state_to_json(ours), pd.spec, pd.subprocess_specs)
        assert type(rebuilt.get_tasks_iterator()) is spiff._FastBpmnTaskIterator


def test_every_walk_of_the_deep_dive_pathway_is_the_stock_walk(checked: dict[str, int]) -> None:
    """Allocation to re-audit through the engine: an RI grade, a dispute to stage 3, the follow-up
    with two deadlines passing, the re-audit (bench/pathway.py's recorded walk, replayed)."""
    with pathway.bench() as b:
        script = pathway.record(b)
        pathway.walk_persisted(b, script)
    # (Counts from the walk as recorded today, with room: they say the check saw the walks.)
    assert checked["walks"] > 300
    assert checked["cut"] > 500  # walks a depth limit shortened
    assert checked["in_subprocesses"] > 20  # walks that went into a subprocess's tree
    # Walks the scan of the task maps answered (nothing there could match), held to the stock
    # walk all the same.
    assert checked["not_walked"] > 100
    # Lists of ready or waiting tasks the task maps answered (one task, the workflow's own, or
    # none), each held to the stock method's list.
    assert checked["answered_alone"] > 50
    # Walks taken whole (a list of tasks, the first one, a join's look for its thread's other
    # arrivals) whose tasks the task maps gave, put in the walk's order: each held to the stock
    # walk above, at every depth limit.
    assert checked["placed"] > 100


def test_only_walks_taken_whole_are_answered_from_the_task_maps() -> None:
    """A walk SpiffWorkflow takes a task at a time, changing the tree in between (its update of
    the waiting tasks), is walked: the tasks it meets later may not be what the maps held when it
    began. A list of tasks, the first task found and a join's look for its thread's other
    arrivals take every task before anything changes."""
    with pathway.bench() as b:
        pd = b.definition
        wf = spiff.make_workflow(pd.spec, pd.subprocess_specs)
        made: list[Any] = []
        real_init = spiff._WalkFast.__init__

        def noting(self: Any, *args: Any, **kwargs: Any) -> None:
            real_init(self, *args, **kwargs)
            made.append(self)

        spiff._WalkFast.__init__ = noting  # type: ignore[method-assign]
        try:
            wf.get_tasks(state=spiff.TaskState.MAYBE)
            wf.get_next_task(spec_name="Start")
            TaskIterator(wf.task_tree, state=spiff.TaskState.WAITING)
        finally:
            spiff._WalkFast.__init__ = real_init  # type: ignore[method-assign]
        assert [it.whole for it in made] == [True, True, False]
        assert not spiff._WHOLE.get()


def test_a_walk_with_many_matches_or_a_tree_out_of_shape_is_walked() -> None:
    """The maps answer only a few tasks (each is placed by a climb), and only a tree as
    SpiffWorkflow keeps it: a task its parent does not list is left to the walk."""
    with pathway.bench() as b:
        script = pathway.prepare(b)
        wf = pathway.walk_in_memory(b, script, runtime=True)
        every = spiff.TaskState.ANY_MASK
        assert len(wf.tasks) > spiff._FEW
        it = wf.get_tasks_iterator(state=every)
        assert spiff._in_walk_order(it.task_list[0], wf.subprocesses, True, it) is None
        task = next(t for t in wf.tasks.values() if t.parent is not None)
        parent = task.parent
        it = wf.get_tasks_iterator(spec_name=task.task_spec.name)
        assert spiff._in_walk_order(wf.task_tree, wf.subprocesses, True, it) is not None
        at = parent._children.index(task.id)
        del parent._children[at]
        try:
            assert spiff._in_walk_order(wf.task_tree, wf.subprocesses, True, it) is None
        finally:
            parent._children.insert(at, task.id)


def _by_position(wf: spiff.BpmnWorkflow, n: int, state: int) -> Any:
    """The n-th task from the end of the audit's maps in that state (the same in a twin)."""
    found = [t for t in all_tasks(wf) if t._state & state]
    return found[-n] if len(found) >= n else None


# What a caller may do between the tasks of a walk it takes one at a time: nothing; take a task
# the walk would meet later out of the state it asks for; put one into it; take the met task's
# children out of the tree (a walk may still meet those it had put on its stack).
def _nothing(wf: spiff.BpmnWorkflow, met: Any, state: int) -> None:
    pass


def _unwant_one(wf: spiff.BpmnWorkflow, met: Any, state: int) -> None:
    other = _by_position(wf, 1, state)
    if other is not None and other is not met:
        other._state = spiff.TaskState.CANCELLED if state != spiff.TaskState.CANCELLED \
            else spiff.TaskState.COMPLETED


def _want_one(wf: spiff.BpmnWorkflow, met: Any, state: int) -> None:
    other = _by_position(wf, 1, ~state & spiff.TaskState.ANY_MASK)
    if other is not None:
        other._state = state


def _drop_below(wf: spiff.BpmnWorkflow, met: Any, state: int) -> None:
    met._drop_children(force=True)


def test_a_walk_taken_a_task_at_a_time_meets_what_the_stock_walk_meets(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's walk, taken a task at a time (as SpiffWorkflow updates the waiting tasks),
    meets what the stock walk meets whatever its caller changes in between: at every other step
    of the pathway, on twin workflows restored from the same state (one walked by the engine,
    one by SpiffWorkflow), for walks by state."""
    counts = {"walks": 0, "met": 0, "steps": 0}
    settle = pathway._settle
    pd: list[Any] = []

    def twins(wf: spiff.BpmnWorkflow) -> tuple[spiff.BpmnWorkflow, spiff.BpmnWorkflow]:
        state = spiff.state_to_json(wf)
        ours = spiff.state_from_json(state, pd[0].spec, pd[0].subprocess_specs)
        stock = spiff.state_from_json(state, pd[0].spec, pd[0].subprocess_specs)
        stock.__dict__.pop(spiff._FAST_WALK)
        return ours, stock

    def checked_settle(wf: spiff.BpmnWorkflow) -> None:
        settle(wf)
        counts["steps"] += 1
        if counts["steps"] % 2:
            return
        for bit in (0, 2, 3, 4, 8):
            state = 1 << bit
            for change in (_nothing, _unwant_one, _want_one, _drop_below):
                for cls in (TaskIterator, BpmnTaskIterator):
                    met = {}
                    for side in twins(wf):
                        it = cls(side.task_tree, state=state)
                        assert (type(it) is not cls) == (side.__dict__.get(spiff._FAST_WALK) is True)
                        got = []
                        for task in it:
                            got.append(str(task.id))
                            change(side, task, state)
                        met[type(it) is cls] = got
                    assert met[False] == met[True], f"{cls.__name__} state {state} {change.__name__}"
                    counts["walks"] += 1
                    counts["met"] += len(met[True])

    monkeypatch.setattr(pathway, "_settle", checked_settle)
    with pathway.bench() as b:
        pd.append(b.definition)
        script = pathway.prepare(b)
        pathway.walk_in_memory(b, script, runtime=True)
    assert counts["walks"] > 500
    assert counts["met"] > 500


def test_a_walk_for_finished_tasks_does_not_go_below_unfinished_ones() -> None:
    """A walk for finished tasks goes below finished tasks only (TaskIterator's minimum state):
    a cancelled task under a ready one is not in its list, from the maps as from the walk."""
    with pathway.bench() as b:
        pd = b.definition
        wf = spiff.make_workflow(pd.spec, pd.subprocess_specs)
        wf.do_engine_steps()
        ready = next(t for t in all_tasks(wf) if t.state == spiff.TaskState.READY and t.children)
        below = ready.children[0]
        was = below._state
        below._state = spiff.TaskState.CANCELLED
        try:
            cancelled = spiff.TaskState.CANCELLED
            assert wf.get_tasks(state=cancelled) == \
                _stock_walk(BpmnTaskIterator(wf.task_tree, state=cancelled), None) == []
            assert wf.get_tasks(ready, state=cancelled) == []
            # A walk for unfinished tasks too goes below the ready one, and finds it.
            either = cancelled | spiff.TaskState.READY
            assert below in wf.get_tasks(state=either) == \
                _stock_walk(BpmnTaskIterator(wf.task_tree, state=either), None)
        finally:
            below._state = was


def test_tasks_in_a_subprocess_and_after_it_come_in_the_walks_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk goes into a subprocess's tree before the tasks after the task that runs it. At
    every step of the pathway, the tasks in each state, from the top and from each task running a
    subprocess, listed from the task maps, are the stock walk's list."""
    spans = {"both": 0, "lists": 0}
    settle = pathway._settle

    def checked_settle(wf: spiff.BpmnWorkflow) -> None:
        settle(wf)
        starts = [wf.task_tree] + [t for t in (wf.get_task_from_id(k) for k in wf.subprocesses)
                                   if t is not None]
        # Walks that end at a spec: each task running a subprocess, and each ready task's parent.
        ends = [None, *{t.task_spec.name for t in starts[1:]},
                *{t.parent.task_spec.name for t in all_tasks(wf)
                  if t.state == spiff.TaskState.READY and t.parent is not None}]
        for first in starts:
            for bit in range(9):
                for skip in (False, True):
                    for end in ends:
                        ask = {"state": 1 << bit, "skip_subprocesses": skip, "end_at_spec": end}
                        got = wf.get_tasks(first, **ask)
                        expected = _stock_walk(BpmnTaskIterator(first, **ask), None)
                        assert [id(t) for t in got] == [id(t) for t in expected], \
                            f"from {first.task_spec.name}, {ask}"
                        spans["lists"] += 1
                        if not skip and len({id(t.workflow) for t in got}) > 1 \
                                and first is not wf.task_tree:
                            spans["both"] += 1

    monkeypatch.setattr(pathway, "_settle", checked_settle)
    with pathway.bench() as b:
        script = pathway.prepare(b)
        pathway.walk_in_memory(b, script, runtime=True)
    assert spans["lists"] > 5000
    assert spans["both"] > 5  # lists with tasks in a subprocess and after the task running it


def _states(wf: spiff.BpmnWorkflow) -> list[tuple[str, int, int]]:
    """Every task of the tree, as the stock walk orders them: its spec, its state, and where its
    change of state falls among the others' (the order of last_state_change)."""
    tasks = list(_stock_walk(wf.get_tasks_iterator(), None))
    order = {id(t): n for n, t in enumerate(sorted(tasks, key=lambda t: t.last_state_change))}
    return [(t.task_spec.name, t._state, order[id(t)]) for t in tasks]


def test_a_change_of_state_sets_what_the_stock_method_sets(monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """On the engine's workflows a change of state skips building a log record nobody will see;
    the whole pathway in memory ends with every task in the stock state, changed in the stock
    order. With the spiff.task logger at INFO the stock method runs, records and all."""
    assert spiff.Task._set_state is spiff._set_state
    stock_calls = {"n": 0}
    real = spiff._stock_set_state

    def counted(task: Any, value: int) -> None:
        stock_calls["n"] += 1
        real(task, value)

    monkeypatch.setattr(spiff, "_stock_set_state", counted)
    with pathway.bench() as b:
        script = pathway.record(b)
        stock_calls["n"] = 0
        ours = pathway.walk_in_memory(b, script, runtime=True)
        # The quiet path, every time but while SpiffWorkflow makes the workflow (before the
        # engine has marked it as its own: the start task's one change of state).
        assert stock_calls["n"] == 1
        stock = pathway.walk_in_memory(b, script)
        assert stock_calls["n"] > 200  # SpiffWorkflow's own workflow: the stock method
        assert _states(ours) == _states(stock)
        caplog.set_level("INFO", logger="spiff.task")
        stock_calls["n"] = 0
        logged = pathway.walk_in_memory(b, script, runtime=True)
        assert stock_calls["n"] > 200
        assert sum(r.getMessage().startswith("State changed to") for r in caplog.records) > 200
        assert _states(logged) == _states(stock)


def test_a_tree_the_depth_limit_could_cut_is_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-task answer stands only where the stock walk's depth limit cannot cut the tree:
    with the limit below the audit's size, every list comes from the walk."""
    with pathway.bench() as b:
        pd = b.definition
        wf = spiff.make_workflow(pd.spec, pd.subprocess_specs)
        ready = spiff.TaskState.READY
        assert spiff._sole(wf, ready) is not None  # a new audit: its start task, alone
        monkeypatch.setattr(spiff, "_DEPTH_LIMIT", len(wf.tasks) - 1)
        assert spiff._sole(wf, ready) is None
        assert [t.task_spec.name for t in wf.get_tasks(state=ready)] == \
            [t.task_spec.name for t in spiff._stock_get_tasks(wf, state=ready)]


def test_every_walk_of_a_sequence_with_deadlines_is_the_stock_walk(
        checked: dict[str, int]) -> None:
    """bench/engine_overhead.py's process (user tasks in a row, each with a non-interrupting
    deadline), completed in memory on the engine's runtime: the walks and the lists answered
    from the task maps are the stock ones."""
    import engine_overhead

    with pathway.bench() as b:
        parser = spiff.QaParser()
        parser.add_bpmn_str(engine_overhead.sequential_bpmn(6).encode())
        spec, subs = parser.get_spec("seq6"), parser.get_subprocess_specs("seq6")
        parsed = cast(Any, SimpleNamespace(spec=spec, subprocess_specs=subs))
        engine_overhead.in_runtime(parsed, b.clock)
    assert checked["walks"] > 20
    assert checked["not_walked"] > 20
    assert checked["answered_alone"] > 5


def test_a_tasks_ancestry_is_the_stock_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the engine's workflows, whether a task is below another is found by a loop up the tree,
    not SpiffWorkflow's recursion: every question the pathway asks (its parallel gateways and
    joins) has the stock answer, and so has every pair of tasks of the finished audit, across
    its subprocesses too; SpiffWorkflow's own workflows keep the stock method."""
    assert spiff.Task.is_descendant_of is spiff._is_descendant_of
    stock = spiff._stock_is_descendant_of
    asked = {"n": 0}

    def checked(task: Any, other: Any) -> bool:
        got = spiff._is_descendant_of(task, other)
        assert got is stock(task, other), f"{task.task_spec.name} below {other.task_spec.name}"
        asked["n"] += 1
        return got

    with pathway.bench() as b:
        script = pathway.prepare(b)
        monkeypatch.setattr(spiff.Task, "is_descendant_of", checked)
        wf = pathway.walk_in_memory(b, script, runtime=True)
        monkeypatch.undo()
        assert asked["n"] > 100  # (all "no" on this pathway: each branch's arrivals, apart)
        tasks = list(all_tasks(wf))
        assert len({t.workflow for t in tasks}) > 1
        pairs = [(a, c) for a in tasks for c in tasks]
        assert [spiff._is_descendant_of(a, c) for a, c in pairs] == [stock(a, c) for a, c in pairs]
        assert sum(stock(a, c) for a, c in pairs) > len(tasks)
        theirs = pathway.walk_in_memory(b, script)
        task = next(t for t in all_tasks(theirs) if t.parent is not None)
        calls = {"n": 0}

        def counted(*args: Any) -> bool:
            calls["n"] += 1
            return stock(*args)

        monkeypatch.setattr(spiff, "_stock_is_descendant_of", counted)
        assert task.is_descendant_of(theirs.task_tree)
        assert calls["n"] == 1


def _data_and_sharing(wf: spiff.BpmnWorkflow) -> list[tuple[str, list[tuple[str, Any, Any]]]]:
    """Every task's data in the stock walk's order: each value, and where the very object was
    first met (the task's position and the name it held there), so that which tasks share a
    value and which hold copies of it is compared as well as the values."""
    tasks = list(_stock_walk(wf.get_tasks_iterator(), None))
    first: dict[int, tuple[int, str]] = {}
    found = []
    for n, task in enumerate(tasks):
        held = []
        for name, value in task.data.items():
            owner = first.setdefault(id(value), (n, name))
            held.append((name, value, owner if isinstance(value, spiff._MUTABLE) else None))
        found.append((task.task_spec.name, held))
    return found


def _count_both(monkeypatch: pytest.MonkeyPatch, owner: Any, method: str, stock: str,
                ours: Any) -> dict[str, int]:
    """Count the calls of the engine's override of `owner.method` ("ours") and of the stock
    method it falls back on (spiff's `stock`), both installed for the test."""
    calls = {"ours": 0, "stock": 0}
    real = getattr(spiff, stock)

    def counted(*args: Any) -> Any:
        calls["stock"] += 1
        return real(*args)

    def watched(*args: Any) -> Any:
        calls["ours"] += 1
        return ours(*args)

    monkeypatch.setattr(spiff, stock, counted)
    monkeypatch.setattr(owner, method, watched)
    return calls


def test_the_data_a_task_inherits_is_the_stock_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole pathway in memory: every task ends with the data the stock merge gives it, each
    mutable value shared or copied as the stock merge shares or copies it."""
    assert spiff.Task._inherit_data is spiff._inherit_data
    real = spiff._stock_inherit_data
    taken = _count_both(monkeypatch, spiff.Task, "_inherit_data", "_stock_inherit_data",
                        spiff._inherit_data)
    with pathway.bench() as b:
        script = pathway.record(b)
        taken.update(ours=0, stock=0)
        ours = pathway.walk_in_memory(b, script, runtime=True)
        assert taken["ours"] > 100
        assert 0 < taken["stock"] < 10  # most tasks are filled, or already equal
        monkeypatch.setattr(spiff.Task, "_inherit_data", real)
        theirs = pathway.walk_in_memory(b, script, runtime=True)
        assert _data_and_sharing(ours) == _data_and_sharing(theirs)


def _pair(data: dict[str, Any], parent: dict[str, Any]) -> tuple[Any, Any]:
    """The same task twice, on a workflow the engine marked: one for each method."""
    workflow = SimpleNamespace(**{spiff._FAST_WALK: True})
    return tuple(SimpleNamespace(workflow=workflow, data=dict(data), parent=SimpleNamespace(data=parent))
                 for _ in range(2))


def _alike(ours: dict[str, Any], theirs: dict[str, Any], parent: dict[str, Any]) -> None:
    assert list(ours) == list(theirs)
    for name in ours:
        a, b = ours[name], theirs[name]
        assert a == b or (a != a and b != b), name  # (NaN is not equal to itself)
        assert type(a) is type(b)
        assert (a is parent.get(name)) is (b is parent.get(name)), name


def test_inherited_data_takes_copies_and_equal_data_is_left_alone() -> None:
    nan = float("nan")
    parent = {"grade": "Good", "actions": [{"due": "2025-11-04"}], "answers": {"q1": True},
              "ordered": OrderedDict(a=1), "tags": {"x"}, "score": nan, "count": 3,
              "when": datetime(2025, 11, 4, tzinfo=UTC), "none": None}
    cases = [
        {},  # a task reached for the first time: filled from its parent
        dict(parent),  # already equal (the same objects): nothing to do
        {**parent, "actions": [{"due": "2025-11-04"}]},  # equal, an equal copy of a value
        {**parent, "score": float("nan")},  # another NaN: not equal, merged as stock
        {**parent, "extra": 1},  # more than its parent: merged as stock
        {**parent, "answers": {"q1": False, "q2": 1}},  # a value differs: merged deep, as stock
        {"count": 4},  # some of it: merged as stock
    ]
    for data in cases:
        ours, theirs = _pair(data, parent)
        held = ours.data
        spiff._inherit_data(ours)
        spiff._stock_inherit_data(theirs)
        assert ours.data is held  # the task's own dictionary, filled in place as stock
        _alike(ours.data, theirs.data, parent)
    ours, _ = _pair({}, parent)
    spiff._inherit_data(ours)
    assert ours.data["actions"] is not parent["actions"]  # a copy: the child's own list
    assert ours.data["actions"][0] is parent["actions"][0]  # shallow, as stock
    assert type(ours.data["ordered"]) is OrderedDict
    assert ours.data["ordered"] is not parent["ordered"]
    assert ours.data["when"] is parent["when"]
    assert ours.data["score"] is nan


def test_a_join_cancels_and_waits_as_the_stock_method_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole pathway in memory: with the engine's join update every task ends in the stock
    state, in the stock order, with the stock data; SpiffWorkflow's own workflows take the stock
    method."""
    assert spiff.UnstructuredJoin._update_hook is spiff._join_update_hook
    real = spiff._stock_join_update_hook
    calls = _count_both(monkeypatch, spiff.UnstructuredJoin, "_update_hook",
                        "_stock_join_update_hook", spiff._join_update_hook)
    with pathway.bench() as b:
        script = pathway.record(b)
        calls.update(ours=0, stock=0)
        ours = pathway.walk_in_memory(b, script, runtime=True)
        assert calls["ours"] > 40
        assert calls["stock"] == 0
        stock = pathway.walk_in_memory(b, script)
        assert calls["stock"] > 40  # SpiffWorkflow's own workflow
        monkeypatch.setattr(spiff.UnstructuredJoin, "_update_hook", real)
        theirs = pathway.walk_in_memory(b, script, runtime=True)
    assert _states(ours) == _states(theirs) == _states(stock)
    assert _data_and_sharing(ours) == _data_and_sharing(theirs)


@pytest.mark.parametrize(("owner", "ours", "stock", "name"), [
    (spiff.ParallelGateway, spiff._parallel_threshold, "_stock_parallel_threshold",
     "Gateway_ReadyForReaudit"),
    (spiff._EndJoin, spiff._end_join_threshold, "_stock_end_join_threshold",
     "grading_follow_up.EndJoin"),
])
def test_a_join_asks_whether_its_branches_have_arrived_as_the_stock_method_does(
        monkeypatch: pytest.MonkeyPatch, owner: Any, ours: Any, stock: str, name: str) -> None:
    """The whole pathway in memory: each time a parallel gateway or the end of a workflow asks
    whether it may go on, the engine's answer is the stock method's, asked at the same moment
    (the re-audit's gateway waits through the dispute and the follow-up, then goes on; the
    follow-up's end waits for its actions); SpiffWorkflow's own workflows take the stock method."""
    assert owner._check_threshold_unstructured is ours
    real = getattr(spiff, stock)
    answers: list[tuple[str, bool]] = []

    def both(spec: Any, task: Any) -> bool:
        got = ours(spec, task)
        assert got == real(spec, task), f"{spec.name}: {len(answers)} answers before"
        answers.append((spec.name, got))
        return cast(bool, got)

    calls = _count_both(monkeypatch, owner, "_check_threshold_unstructured", stock, both)
    with pathway.bench() as b:
        script = pathway.record(b)
        answers.clear()
        calls.update(ours=0, stock=0)
        walked = pathway.walk_in_memory(b, script, runtime=True)
        asked, fell_back = calls["ours"], calls["stock"]
        answered = len(answers)
        mine = [may_fire for spec, may_fire in answers if spec == name]
        pathway.walk_in_memory(b, script)
    assert walked.completed
    assert asked == answered
    assert fell_back < asked / 2  # most answers without the stock method
    assert calls["stock"] - fell_back == calls["ours"] - asked > 10  # SpiffWorkflow's own
    assert mine.count(False) > 10
    assert mine.count(True) == 1


def test_a_gateways_kept_answer_is_asked_again_once_a_branch_has_arrived(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The re-audit's gateway first waits with one branch in (moderation done) and two to come.
    Its answer is kept; once the other two branches' last steps are done (set here directly, on
    the same waiting instance), it is asked afresh and is the stock one: it may go on."""
    first: list[tuple[Any, Any]] = []

    def noting(spec: Any, task: Any) -> bool:
        if spec.name == "Gateway_ReadyForReaudit" and not first:
            first.append((spec, task))
        return cast(bool, spiff._parallel_threshold(spec, task))

    monkeypatch.setattr(spiff.ParallelGateway, "_check_threshold_unstructured", noting)
    with pathway.bench() as b:
        script = pathway.record(b)
        first.clear()
        steps = script.steps
        for upto in range(1, len(steps) + 1):  # the shortest walk that asks it
            script.steps = steps[:upto]
            wf = pathway.walk_in_memory(b, script, runtime=True)
            if first:
                break
    gateway, waiting = first[0]
    assert spiff._parallel_threshold(gateway, waiting) is False
    arrivals = [t for t in all_tasks(wf) if t.task_spec is gateway and t is not waiting]
    assert sorted(t.parent.task_spec.name for t in arrivals) == [
        "Activity_AcknowledgeGrading", "Gateway_RemedialActionsDone"]
    for task in arrivals:
        task.parent._set_state(spiff.TaskState.COMPLETED)
    assert spiff._stock_parallel_threshold(gateway, waiting) is True
    assert spiff._parallel_threshold(gateway, waiting) is True
