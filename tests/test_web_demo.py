"""The demo organisation, its audits, and argon2 passwords."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from engine import Engine, FrozenClock, accounts, demo
from engine.definitions import Bundle
from engine.models import Instance, Person
from engine.roles import AUDITOR, PRACTITIONER
from tests.conftest import FIXTURE_PROCESS, FIXTURES, WEB_START


def _fresh(tmp_path: Path) -> Engine:
    web_engine = Engine(f"sqlite:///{tmp_path / 'demo.sqlite'}", clock=FrozenClock(WEB_START))
    web_engine.create_schema()
    web_engine.deploy(Bundle.from_paths([FIXTURES / "processes"]), "test")
    return web_engine


def test_seeding_twice_changes_nothing(tmp_path: Path) -> None:
    web_engine = _fresh(tmp_path)
    first = demo.seed(web_engine, FIXTURE_PROCESS)
    assert len(first) == len(demo.DEMO_AUDITS)
    assert demo.seed(web_engine, FIXTURE_PROCESS) == []
    with web_engine.transaction() as s:
        assert s.execute(select(func.count(Person.id))).scalar_one() == len(demo.ACCOUNTS)
        assert s.execute(select(func.count(Instance.id))).scalar_one() == len(first)
    web_engine.db.dispose()


def test_no_auditor_audits_their_own_service_area(tmp_path: Path) -> None:
    web_engine = _fresh(tmp_path)
    demo.seed(web_engine, FIXTURE_PROCESS)
    with web_engine.transaction() as s:
        for inst in s.execute(select(Instance)).unique().scalars():
            people = {p.role: p.person for p in inst.participants}
            assert people[AUDITOR].team.service_area_id != \
                people[PRACTITIONER].team.service_area_id
    web_engine.db.dispose()


def test_demo_passwords_are_stored_as_argon2_hashes(web_engine: Engine) -> None:
    with web_engine.transaction() as s:
        stored = s.execute(select(Person.password_hash).where(
            Person.username == "cpp.chris")).scalar_one()
    assert stored.startswith("$argon2id$")
    assert demo.DEMO_PASSWORD not in stored
    assert accounts.verify_password(stored, demo.DEMO_PASSWORD)
    assert not accounts.verify_password(stored, "demo-password-2024")
    assert not accounts.verify_password(None, demo.DEMO_PASSWORD)
    assert not accounts.verify_password("not a hash", demo.DEMO_PASSWORD)


def test_sign_in_is_recorded_in_the_audit_trail(web_engine: Engine) -> None:
    from engine.models import AuditEvent

    assert accounts.sign_in(web_engine, "cpp.chris", demo.DEMO_PASSWORD) is not None
    assert accounts.sign_in(web_engine, "nobody", "x") is None
    with web_engine.transaction() as s:
        kinds = s.execute(select(AuditEvent.actor, AuditEvent.kind).order_by(
            AuditEvent.id.desc()).limit(2)).all()
    assert [tuple(k) for k in kinds] == [("nobody", "sign_in_failed"), ("cpp.chris", "signed_in")]
