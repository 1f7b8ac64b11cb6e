from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from engine import notify
from engine.models import AuditEvent, Notification

FIXTURE = Path(__file__).parents[1] / "fixtures" / "simple"


def _overdue_audit(engine, clock, deploy):
    deploy(FIXTURE)
    engine.start("simple", "cpp1", {"child_ref": "C-7"}, practitioner="sw", auditor="auditor")
    clock.advance(timedelta(days=2))
    engine.fire_due_timers()


def test_a_failed_send_is_kept_and_retried_until_it_goes_once(engine, clock, people, deploy):
    _overdue_audit(engine, clock, deploy)
    sent: list[str] = []

    def smtp_down(note):
        raise ConnectionRefusedError("SMTP is down")

    assert notify.deliver_pending(engine, smtp_down) == 0
    with engine.transaction() as s:
        note = s.execute(select(Notification)).scalar_one()
        assert (note.status, note.attempts) == ("pending", 1)
        assert "SMTP is down" in note.last_error
    assert notify.deliver_pending(engine, lambda n: sent.append(n.message_id)) == 0, \
        "a retry waits for its back-off"
    clock.advance(timedelta(minutes=5))
    assert notify.deliver_pending(engine, lambda n: sent.append(n.message_id)) == 1
    assert notify.deliver_pending(engine, lambda n: sent.append(n.message_id)) == 0
    with engine.transaction() as s:
        note = s.execute(select(Notification)).scalar_one()
        assert note.status == "sent"
        assert sent == [note.message_id]
        assert s.execute(select(AuditEvent).where(AuditEvent.kind == "notification_sent")).scalar_one()
