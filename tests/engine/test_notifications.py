import smtplib
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


def test_an_outage_of_any_length_is_waited_out_and_the_message_goes_once(engine, clock, people,
                                                                          deploy):
    _overdue_audit(engine, clock, deploy)

    def smtp_down(note):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    for _ in range(30):  # well over a day of hourly tries at the longest
        notify.deliver_pending(engine, smtp_down)
        clock.advance(timedelta(hours=1))
    with engine.transaction() as s:
        note = s.execute(select(Notification)).scalar_one()
        assert (note.status, note.attempts) == ("pending", 30)
    sent: list[str] = []
    assert notify.deliver_pending(engine, lambda n: sent.append(n.message_id)) == 1
    assert len(sent) == 1


def test_a_message_the_server_refuses_for_good_stops_on_the_record(engine, clock, people,
                                                                   deploy):
    _overdue_audit(engine, clock, deploy)

    def no_such_mailbox(note):
        raise smtplib.SMTPRecipientsRefused({note.email: (550, b"5.1.1 No such mailbox")})

    def busy(note):
        raise smtplib.SMTPResponseException(451, b"4.3.0 Try again later")

    notify.deliver_pending(engine, busy)
    with engine.transaction() as s:
        assert s.execute(select(Notification.status)).scalar_one() == "pending"
    clock.advance(timedelta(minutes=5))
    notify.deliver_pending(engine, no_such_mailbox)
    with engine.transaction() as s:
        note = s.execute(select(Notification)).scalar_one()
        assert note.status == "failed"
        assert "No such mailbox" in note.last_error
        failed = s.execute(select(AuditEvent).where(
            AuditEvent.kind == "notification_failed")).scalar_one()
        assert note.message_id in failed.detail
    clock.advance(timedelta(days=1))
    assert notify.deliver_pending(engine, lambda n: None) == 0
