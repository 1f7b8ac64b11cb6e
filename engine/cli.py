"""`qaflow`: validate, deploy, migrate, run the worker, keep the audit trail and the data, serve."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

_opened: list[Any] = []  # engines a command opened, disposed of when it ends


def _engine():  # type: ignore[no-untyped-def]
    from engine import Engine

    engine = Engine()
    _opened.append(engine)
    return engine


def cmd_validate(args: argparse.Namespace) -> int:
    from engine.definitions import validate_paths

    problems = validate_paths(args.paths)
    for p in problems:
        print(p)
    if not problems:
        print("all processes valid")
    return 1 if problems else 0


def cmd_deploy(args: argparse.Namespace) -> int:
    from engine.definitions import Bundle
    from engine.errors import DefinitionInvalid

    try:
        for deployed in _engine().deploy(Bundle.from_paths(args.paths), args.actor, args.note):
            print(deployed)
    except DefinitionInvalid as exc:
        for p in exc.problems:
            print(p)
        return 1
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    _engine().create_schema()
    print("database schema up to date")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from engine.worker import Worker

    worker = Worker(_engine())
    if args.once:
        fired, sent = worker.run_once()
        print(f"fired timers on {fired} audits, sent {sent} notifications")
        return 0
    from engine.serving import settle

    settle(worker.engine)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    try:
        worker.run_forever()
    except KeyboardInterrupt:
        worker.stop()
    return 0


def cmd_audit_log(args: argparse.Namespace) -> int:
    from engine import audit

    engine = _engine()
    if args.action == "access-report":
        if not args.child:
            print("access-report needs --child REF")
            return 2
        with engine.transaction() as s:
            rows = audit.access_report(s, args.child)
            audit.append(s, engine.now(), args.actor, "access_report", {"rows": len(rows)},
                         None, args.child)
        for row in rows:
            print(row)
        print(f"{len(rows)} accesses to the audits of {args.child}")
        return 0
    with engine.transaction() as s:
        verdict = audit.verify(s)
    print(verdict)
    return 0 if verdict.ok else 1


def cmd_export(args: argparse.Namespace) -> int:
    import json

    from engine.lifecycle import export_child

    doc = export_child(_engine(), args.child, args.actor)
    text = json.dumps(doc, indent=2, ensure_ascii=False, default=str)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text + "\n")
        print(f"wrote {len(doc['audits'])} audits of {args.child} to {args.out}")
    else:
        print(text)
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from engine.lifecycle import purge, retention_years

    print(purge(_engine(), args.actor, args.dry_run, retention_years(args.years)))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from engine.backup import BackupInvalid, backup

    try:
        print(backup(_engine().db, args.path))
    except BackupInvalid as exc:
        print(f"not backed up: {exc}")
        return 1
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from engine.backup import BackupInvalid, restore

    engine = _engine()
    try:
        print(restore(engine.db, args.path))
    except BackupInvalid as exc:
        print(f"not restored: {exc}")
        return 1
    return 0


def cmd_deactivate(args: argparse.Namespace) -> int:
    from engine.accounts_admin import deactivate
    from engine.errors import EngineError

    try:
        h = deactivate(_engine(), args.username, args.by)
        print(f"{h.username} deactivated: {len(h.tasks_to_manager)} tasks and "
              f"{len(h.roles_to_manager)} audit roles to {h.manager or 'nobody'}, "
              f"{len(h.tasks_to_group)} tasks back to their group")
    except EngineError as exc:
        print(f"not deactivated: {exc}")
        return 1
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from engine import demo

    started = demo.seed(_engine())
    print("demo organisation ready (password: see the sign-in page in demo mode)"
          + (f"; started demo audits {', '.join(map(str, started))}" if started else ""))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from webui.wsgi import app  # the app as gunicorn serves it, settled

    if args.with_worker:
        from engine.worker import Worker

        worker = Worker(app.extensions["qaflow"])
        threading.Thread(target=worker.run_forever, daemon=True, name="qaflow-worker").start()
    app.run(host=args.host, port=args.port, debug=False)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # SpiffWorkflow logs every task state change at INFO: a flood, and it names children's data.
    logging.getLogger("spiff").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="qaflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check BPMN files and forms")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("deploy", help="validate and store as the next version")
    p.add_argument("paths", nargs="+")
    p.add_argument("--note", default="")
    p.add_argument("--actor", default="cli")
    p.set_defaults(func=cmd_deploy)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    p = sub.add_parser("worker", help="fire timers and send notifications")
    p.add_argument("--once", action="store_true")
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("audit-log", help="verify the audit trail; list who saw a child's audits")
    p.add_argument("action", choices=["verify", "access-report"])
    p.add_argument("--child", help="the child's reference, for access-report")
    p.add_argument("--actor", default="cli")
    p.set_defaults(func=cmd_audit_log)
    p = sub.add_parser("export", help="everything held about a child's audits, as JSON")
    p.add_argument("--child", required=True)
    p.add_argument("--out", help="file to write (default: print)")
    p.add_argument("--actor", default="cli")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("purge", help="delete closed audits past retention, blank their events")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--years", help="retention in years (default QAFLOW_RETENTION_YEARS or 75)")
    p.add_argument("--actor", default="cli")
    p.set_defaults(func=cmd_purge)
    p = sub.add_parser("backup", help="write every table to a portable JSON-lines file")
    p.add_argument("path")
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser("restore", help="load a backup into an empty database")
    p.add_argument("path")
    p.set_defaults(func=cmd_restore)
    p = sub.add_parser("deactivate", help="a leaver: hand their work to their manager")
    p.add_argument("username")
    p.add_argument("--by", required=True, help="who is doing it (recorded in the audit trail)")
    p.set_defaults(func=cmd_deactivate)
    sub.add_parser("seed-demo", help="seed the demo organisation").set_defaults(func=cmd_seed_demo)
    p = sub.add_parser("serve", help="serve the web app")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--with-worker", action="store_true")
    p.set_defaults(func=cmd_serve)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    finally:
        while _opened:
            _opened.pop().db.dispose()


if __name__ == "__main__":
    sys.exit(main())
