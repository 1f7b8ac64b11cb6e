"""Server time of each page with 1,000 open audits in the database (target: under 50 ms each).

Seeds the demo organisation and 1,000 open deep-dive audits on SQLite, then renders each page
as the person who would open it, through the Flask app (server time: routing, queries,
templates; no network). Prints a table; the last line is `slowest page p95: N ms (target 50)`.
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

from sqlalchemy import select  # noqa: E402

from engine import Engine, FrozenClock, demo, serving  # noqa: E402
from engine.definitions import Bundle  # noqa: E402
from engine.models import HumanTask, Person  # noqa: E402
from webui import create_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def seed(engine: Engine, audits: int) -> None:
    engine.create_schema()
    engine.deploy(Bundle.from_paths([ROOT / "processes"]), "bench")
    demo.seed(engine, audits=False)
    pairs = [(p, a) for _, _, p, a in demo.DEMO_AUDITS]
    for i in range(audits):
        practitioner, auditor = pairs[i % len(pairs)]
        engine.start("deep_dive_audit", "cpp.chris",
                      {"child_ref": f"CH-{500000 + i}", "child_status": ("CIN", "CP", "CiC")[i % 3],
                       "audit_type": "monthly"}, practitioner=practitioner, auditor=auditor)


def timed(client, url: str, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--audits", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qaflow-web-bench-"))
    engine = Engine(f"sqlite:///{work / 'web.sqlite'}",
                    clock=FrozenClock(datetime(2025, 12, 15, 9, tzinfo=UTC)))
    started = time.perf_counter()
    seed(engine, args.audits)
    print(f"seeded {args.audits} open audits in {time.perf_counter() - started:.1f} s")
    # Then as a serving process starts (engine/serving.py): the seeding's finished workflows,
    # which only a full collection frees, collected, and what is left kept out of later ones.
    # Without it the first full collections came in the middle of the timed pages, 110-160 ms
    # each, at whichever page they fell on.
    serving.settle(engine)
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "ENGINE": engine,
                      "WTF_CSRF_ENABLED": False, "DEMO": False})
    with engine.transaction() as s:
        auditor_task = s.execute(select(HumanTask.id).join(Person, HumanTask.assignee_id == Person.id)
                                 .where(Person.username == "aud.aisha", HumanTask.status == "open")
                                 .limit(1)).scalar_one()
        audit_id = s.get(HumanTask, auditor_task).instance_id
    pages = [
        ("aud.aisha", "My tasks (auditor with ~330 tasks)", "/tasks"),
        ("aud.aisha", "A task form", f"/tasks/{auditor_task}"),
        ("aud.aisha", "Audits I can see", "/audits"),
        ("aud.aisha", "An audit page", f"/audits/{audit_id}"),
        ("aud.aisha", "An audit's diagram data", f"/audits/{audit_id}/diagram.json"),
        ("cpp.chris", "Group tasks (CPP)", "/tasks/group"),
        ("cpp.chris", "Audits (CPP sees all 1,000)", "/audits"),
        ("cpp.chris", "Start an audit", "/audits/new"),
        ("sw.paul", "My notifications", "/notifications"),
    ]
    print(f"{'page':<40} {'median ms':>10} {'p95 ms':>8}")
    worst = 0.0
    for username, label, url in pages:
        client = app.test_client()
        client.post("/sign-in", data={"username": username, "password": demo.DEMO_PASSWORD})
        samples = sorted(timed(client, url, args.repeat))
        p95 = samples[int(len(samples) * 0.95) - 1]
        worst = max(worst, p95)
        print(f"{label:<40} {statistics.median(samples):>10.1f} {p95:>8.1f}")
    print(f"slowest page p95: {worst:.1f} ms (target 50)")


if __name__ == "__main__":
    main()
