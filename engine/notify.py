"""Deliver the outbox: log by default, SMTP when configured; retry failures, never lose one."""

from __future__ import annotations

import logging
import os
import smtplib
import time
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from engine import audit
from engine.models import Notification

log = logging.getLogger("qaflow.notify")
RETRY_CAP = timedelta(hours=1)  # a message waiting on SMTP is tried at least hourly, for ever
# A claimed message is offered again after this if its worker died mid-send: longer than an SMTP
# conversation (30 s timeout) plus the time spent recording its outcome (RECORD_TRIES).
LEASE = timedelta(minutes=5)
RECORD_TRIES, RECORD_PAUSE = 20, 3.0  # a minute for the database to come back after a send
Sender = Callable[[Notification], None]


def log_sender(note: Notification) -> None:
    log.info("notification %s to %s: %s", note.message_id, note.email, note.subject)


def smtp_sender_from_env() -> Sender | None:
    host = os.environ.get("SMTP_HOST")
    if not host:
        return None
    port = int(os.environ.get("SMTP_PORT", "587"))
    user, password = os.environ.get("SMTP_USERNAME"), os.environ.get("SMTP_PASSWORD")
    sender = os.environ.get("SMTP_FROM", "qa-framework@localhost")
    use_tls = os.environ.get("SMTP_STARTTLS", "1") == "1"

    def send(note: Notification) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = sender, note.email, note.subject
        # A stable Message-ID lets mail systems drop the copy a retry after a crash may send.
        msg["Message-ID"] = note.message_id
        msg.set_content(note.body)
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            if use_tls:
                smtp.starttls()
            if user:
                smtp.login(user, password or "")
            smtp.send_message(msg)

    return send


def deliver_pending(engine, sender: Sender | None = None, limit: int = 50) -> int:  # type: ignore[no-untyped-def]
    """Send up to `limit` due notifications; return how many went.

    Each is claimed (with a lease) in one short transaction, sent with no transaction open,
    and its outcome recorded in another, retried while the database is briefly away: a
    database restart during an SMTP conversation no longer makes the message go twice. Only a
    worker dying between the server's acceptance and that record, or the database staying away
    longer than RECORD_TRIES, sends it again, after LEASE, with the same Message-ID."""
    send = sender or smtp_sender_from_env() or log_sender
    sent = 0
    for _ in range(limit):
        note = _claim(engine)
        if note is None:
            return sent
        try:
            send(note)
        except Exception as exc:  # a failed send is recorded and retried, never dropped
            _record(engine, note.id, exc)
            continue
        _record(engine, note.id, None)
        sent += 1
    return sent


def _claim(engine) -> Notification | None:  # type: ignore[no-untyped-def]
    with engine.transaction() as s:
        q = (select(Notification)
             .where(Notification.status == "pending", Notification.next_attempt_at <= engine.now())
             .order_by(Notification.id).limit(1))
        if engine.db.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        note = s.execute(q).scalar_one_or_none()
        if note is not None:
            note.attempts += 1
            note.next_attempt_at = engine.now() + LEASE
        return note


def _record(engine, note_id: int, error: Exception | None) -> None:  # type: ignore[no-untyped-def]
    for tries_left in range(RECORD_TRIES - 1, -1, -1):
        try:
            with engine.transaction() as s:
                _outcome(engine, s, s.get(Notification, note_id), error)
            return
        except OperationalError:
            if not tries_left:
                raise
            log.warning("recording the outcome of notification %d failed; retrying", note_id)
            time.sleep(RECORD_PAUSE)


def _outcome(engine, s, note: Notification | None, error: Exception | None) -> None:  # type: ignore[no-untyped-def]
    if note is None or note.status != "pending":
        return  # recorded already, by a worker that took it over after the lease (or purged)
    if error is not None:
        note.last_error = f"{type(error).__name__}: {error}"
        if _refused_for_good(error):
            # The mail server says this message can never go (an unknown address, say): trying
            # again cannot help, so it stops, on the record, where an inspector can see it.
            note.status = "failed"
            audit.append(s, engine.now(), "system", "notification_failed",
                         {"message_id": note.message_id, "to": note.email,
                          "reason": note.last_error}, note.instance_id)
            log.error("notification %s to %s refused for good: %s", note.message_id, note.email,
                      error)
            return
        # Anything else (the server down, busy, unreachable) is waited out: a deadline notice
        # held up by an outage still goes when it ends, however long it lasts.
        note.next_attempt_at = engine.now() + min(timedelta(minutes=2 ** min(note.attempts, 6)),
                                                  RETRY_CAP)
        log.warning("sending %s failed (attempt %d): %s", note.message_id, note.attempts, error)
        return
    note.status, note.sent_at = "sent", engine.now()
    audit.append(s, engine.now(), "system", "notification_sent",
                 {"message_id": note.message_id, "to": note.email}, note.instance_id)


def _refused_for_good(error: Exception) -> bool:
    """An SMTP 5xx answer (permanent), as opposed to a 4xx or no answer at all (transient)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return bool(error.recipients) and all(code >= 500 for code, _ in error.recipients.values())
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500
