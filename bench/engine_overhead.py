"""Persisted task completion against SpiffWorkflow in memory, on 20- and 60-task processes.

Each task is a user task with a non-interrupting deadline timer. (a) completes every task of a
workflow held in memory; (b) completes every task through the engine (form validation, task
projection, audit trail, optimistic locking, state saved to SQLite) as a user would; (c) completes
them on the engine's runtime in memory, with no database (persisted against it is what storing
costs alone; the engine walks SpiffWorkflow's task tree with its own loop). Prints a
table and, last, `persisted/in-memory ratio: N20=X.XX N60=Y.YY pathway=Z.ZZ` (targets: at most
2.0 on the synthetic processes, issue 2; at most 1.5, issue 7), where `pathway` is the real
deep-dive audit walked end to end by bench/pathway.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pathway  # noqa: E402  (bench/pathway.py, beside this file)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine  # noqa: E402
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from sqlalchemy import bindparam, select  # noqa: E402

from engine import Engine, FrozenClock, clock, org, serving, spiff  # noqa: E402
from engine.db import reading  # noqa: E402
from engine.definitions import Bundle, ParsedDefinition  # noqa: E402
from engine.models import HumanTask  # noqa: E402
from engine.roles import CPP  # noqa: E402

FORM = '{"type":"object","properties":{"note":{"type":"string","maxLength":100}},"required":["note"]}'


def sequential_bpmn(n: int) -> str:
    """Return a process of n sequential user tasks, each with a non-interrupting timer."""
    refs, nodes, flows = [], [], []
    prev = "Event_Start"
    nodes.append('<bpmn:startEvent id="Event_Start"><bpmn:outgoing>Flow_0</bpmn:outgoing></bpmn:startEvent>')
    for i in range(1, n + 1):
        tid = f"Activity_{i}"
        refs += [tid, f"Timer_{i}", f"Late_{i}"]
        nodes.append(
            f'<bpmn:userTask id="{tid}" name="Step {i}"><bpmn:extensionElements>'
            '<spiffworkflow:properties><spiffworkflow:property name="formJsonSchemaFilename" '
            'value="step.schema.json" /></spiffworkflow:properties></bpmn:extensionElements>'
            f'<bpmn:incoming>Flow_{i - 1}</bpmn:incoming><bpmn:outgoing>Flow_{i}</bpmn:outgoing>'
            '</bpmn:userTask>'
            f'<bpmn:boundaryEvent id="Timer_{i}" attachedToRef="{tid}" cancelActivity="false">'
            f'<bpmn:outgoing>Late_Flow_{i}</bpmn:outgoing><bpmn:timerEventDefinition>'
            '<bpmn:timeDate>"2099-01-01T12:00:00+00:00"</bpmn:timeDate>'
            '</bpmn:timerEventDefinition></bpmn:boundaryEvent>'
            f'<bpmn:endEvent id="Late_{i}"><bpmn:incoming>Late_Flow_{i}</bpmn:incoming></bpmn:endEvent>'
        )
        flows.append(f'<bpmn:sequenceFlow id="Flow_{i - 1}" sourceRef="{prev}" targetRef="{tid}" />')
        flows.append(f'<bpmn:sequenceFlow id="Late_Flow_{i}" sourceRef="Timer_{i}" targetRef="Late_{i}" />')
        prev = tid
    nodes.append(f'<bpmn:endEvent id="Event_End"><bpmn:incoming>Flow_{n}</bpmn:incoming></bpmn:endEvent>')
    flows.append(f'<bpmn:sequenceFlow id="Flow_{n}" sourceRef="{prev}" targetRef="Event_End" />')
    refs += ["Event_Start", "Event_End"]
    lane = "".join(f"<bpmn:flowNodeRef>{r}</bpmn:flowNodeRef>" for r in refs)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Defs" '
        'targetNamespace="http://bpmn.io/schema/bpmn">'
        f'<bpmn:process id="seq{n}" name="Sequence of {n}" isExecutable="true">'
        f'<bpmn:laneSet id="LaneSet"><bpmn:lane id="Lane_Auditor" name="Auditor">{lane}'
        '</bpmn:lane></bpmn:laneSet>' + "".join(nodes) + "".join(flows) +
        '</bpmn:process></bpmn:definitions>'
    )


def _complete_every_task(wf: BpmnWorkflow) -> None:
    wf.do_engine_steps()
    while not wf.completed:
        task = wf.get_next_task(state=TaskState.READY, manual=True)
        task.set_data(note="done")
        task.run()
        wf.do_engine_steps()


def in_memory(folder: Path, n: int) -> float:
    parser = SpiffBpmnParser()
    parser.add_bpmn_files([str(folder / f"seq{n}.bpmn")])
    spec, subs = parser.get_spec(f"seq{n}"), parser.get_subprocess_specs(f"seq{n}")
    start = time.perf_counter()
    _complete_every_task(BpmnWorkflow(spec, subs, script_engine=PythonScriptEngine()))
    return time.perf_counter() - start


def in_runtime(pd: ParsedDefinition, at: FrozenClock) -> float:
    """(c) the same completions on the engine's runtime held in memory, with no database: the
    workflow as the engine makes it (its own walk of the task tree, restricted script engine,
    its clock). Persisted against this is what storing every step costs on its own."""
    start = time.perf_counter()
    with clock.using(at):
        _complete_every_task(spiff.make_workflow(pd.spec, pd.subprocess_specs))
    return time.perf_counter() - start


NEXT_TASK = select(HumanTask.id).where(HumanTask.instance_id == bindparam("iid"),
                                       HumanTask.status == "open")


def persisted(engine: Engine, n: int) -> float:
    start = time.perf_counter()
    iid = engine.start(f"seq{n}", "cpp", {"child_ref": "BENCH"},
                       participants={"Auditor": "auditor"})
    while True:
        # The auditor's next task, as their task list would show it (counted in the time).
        with reading(engine.db) as conn:
            task_id = conn.execute(NEXT_TASK, {"iid": iid}).scalar()
        if task_id is None:
            break
        engine.complete_task(task_id, "auditor", {"note": "done"})
    return time.perf_counter() - start


def _spread(ratios: list[float]) -> str:
    return f"{min(ratios):.2f}-{max(ratios):.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--floor", action="store_true",
                    help="also replay each persisted run's SQL on sqlite3 alone: the database's "
                         "own share, which no engine on SQLite goes below")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qaflow-bench-"))
    for n in (20, 60):
        (work / f"seq{n}.bpmn").write_text(sequential_bpmn(n))
    (work / "step.schema.json").write_text(FORM)
    engine = Engine(f"sqlite:///{work / 'bench.sqlite'}",
                    clock=FrozenClock(datetime(2025, 12, 1, 9, tzinfo=UTC)))
    engine.create_schema()
    engine.deploy(Bundle.from_paths([work]), "bench")
    with engine.transaction() as s:
        org.add_person(s, "auditor", "Bench Auditor")
        org.add_person(s, "cpp", "Bench Allocator", roles=(CPP,))
    # As a serving process does once started (engine/serving.py): the definitions parsed and
    # what exists so far kept out of full garbage collections. Both sides run in this process.
    serving.settle(engine)
    ratios, floors, against_runtime = {}, {}, {}
    print(f"{'tasks':>5} {'in-memory ms':>13} {'persisted ms':>13} {'per task ms':>12} {'ratio':>6}"
          f" {'turns':>11} {'runtime ms':>11} {'persisted/runtime':>18}")
    for n in (20, 60):
        with engine.transaction() as s:
            deployed = engine._latest_version(s, f"seq{n}")
            assert deployed is not None
            pd = engine.definition_of(s, deployed.id)
        # Warm up: imports, parse cache, statements.
        in_memory(work, n), persisted(engine, n), in_runtime(pd, engine.clock)
        # The sides take turns, so a burst of other work on a shared machine falls on all; the
        # figures are the medians of the turns' ratios.
        turns = [(in_memory(work, n), persisted(engine, n), in_runtime(pd, engine.clock))
                 for _ in range(args.repeat)]
        mem = statistics.median(m for m, _, _ in turns)
        per = statistics.median(p for _, p, _ in turns)
        run = statistics.median(r for _, _, r in turns)
        ratios[n] = statistics.median(p / m for m, p, _ in turns)
        spread = _spread([p / m for m, p, _ in turns])
        against_runtime[n] = statistics.median(p / r for _, p, r in turns)
        if args.floor:
            floors[str(n)] = (mem, pathway.database_floor(engine.db, lambda n=n: persisted(engine, n)))
        print(f"{n:>5} {mem * 1000:>13.1f} {per * 1000:>13.1f} {per * 1000 / n:>12.2f} "
              f"{ratios[n]:>6.2f} {spread:>11} {run * 1000:>11.1f} {against_runtime[n]:>18.2f}")
    # The framework's own deep-dive pathway end to end (bench/pathway.py): RI grade, a dispute to
    # stage 3, the follow-up and the re-audit, the same recorded answers on both sides.
    timing, steps = pathway.measure(args.repeat, runtime=True)
    ratios[0] = timing.ratio
    if args.floor:
        with pathway.bench() as b:
            script = pathway.prepare(b)
            floors["pathway"] = (timing.mem, pathway.database_floor(
                b.engine.db, lambda: pathway.walk_persisted(b, script)))
    print(f"{'deep-dive pathway (' + str(steps) + ' steps)':>5} {timing.mem * 1000:>13.1f} "
          f"{timing.per * 1000:>13.1f} {timing.per * 1000 / steps:>12.2f} {ratios[0]:>6.2f} "
          f"{_spread(timing.ratios):>11} {timing.run * 1000:>11.1f} {timing.run_ratio:>18.2f}")
    print("\nin-memory: SpiffWorkflow as it comes; runtime: the engine's own runtime in memory "
          "(its walk of the task tree), no database; ratio: persisted/in-memory, the figure (the "
          "median of the turns'); turns: the lowest and highest turn's ratio, how far this "
          "machine's noise moves it")
    if floors:
        print(f"\n{'floor':>8} {'statements':>11} {'commits':>8} {'database ms':>12} "
              f"{'(in-memory + database) / in-memory':>35}")
        for name, (mem, floor) in floors.items():
            print(f"{name:>8} {floor.statements:>11} {floor.commits:>8} "
                  f"{floor.seconds * 1000:>12.1f} {(mem + floor.seconds) / mem:>35.2f}")
    print(f"persisted/in-memory ratio: N20={ratios[20]:.2f} N60={ratios[60]:.2f} "
          f"pathway={ratios[0]:.2f}")


if __name__ == "__main__":
    main()
