"""What the engine reads of the organisation without the ORM is what the ORM reads."""

from __future__ import annotations

from engine import Engine, org
from engine.roles import CPP


def test_whom_a_group_notification_goes_to_is_its_active_members_by_name(
        engine: Engine, people: dict[str, str]) -> None:
    with engine.transaction() as s:
        org.add_person(s, "cpp0", "Aled Ames", roles=(CPP,))
        org.add_person(s, "cpp9", "Zia Zane", roles=(CPP,))
        org.person(s, "cpp2").active = False  # a leaver: told nothing
    with engine.transaction() as s:
        rows = org.recipients_of(s.connection(), CPP)
        members = org.members_of(s, CPP)
    assert [(r.id, r.username, r.email) for r in rows] == [
        (p.id, p.username, p.email) for p in members]
    assert [r.username for r in rows] == ["cpp0", "cpp1", "cpp9"]
