"""Deliver the outbox: log by default, SMTP when configured; retry failures, never lose one."""

from __future__ import annotations

import logging
import os
import smtplib
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage

from sqlalchemy import select

from engine import audit
from engine.models import Notification

log = logging.getLogger("qaflow.notify")
MAX_ATTEMPTS = 10
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
    """Send up to `limit` due notifications, each claimed and marked in its own transaction."""
    send = sender or smtp_sender_from_env() or log_sender
    sent = 0
    for _ in range(limit):
        with engine.transaction() as s:
            q = (select(Notification)
                 .where(Notification.status == "pending", Notification.next_attempt_at <= engine.now())
                 .order_by(Notification.id).limit(1))
            if engine.db.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            note = s.execute(q).scalar_one_or_none()
            if note is None:
                return sent
            note.attempts += 1
            try:
                send(note)
            except Exception as exc:  # a failed send is recorded and retried, never dropped
                note.last_error = f"{type(exc).__name__}: {exc}"
                delay = timedelta(minutes=min(2 ** note.attempts, 60))
                note.next_attempt_at = engine.now() + delay
                if note.attempts >= MAX_ATTEMPTS:
                    note.status = "failed"
                log.warning("sending %s failed (attempt %d): %s", note.message_id,
                            note.attempts, exc)
                continue
            note.status, note.sent_at = "sent", engine.now()
            audit.append(s, engine.now(), "system", "notification_sent",
                         {"message_id": note.message_id, "to": note.email},
                         note.instance_id)
            sent += 1
    return sent
