"""audit events chain over a hash of their content, so retention can blank the content

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 04:00:00.000000

The chain used to run over each event's detail; it now runs over `content_hash`, a hash of
the child's reference and the detail. Upgrading verifies the old chain (and refuses to go on
if it is broken), re-links every event under the new rule, and appends an
`audit_chain_upgraded` event recording the old head hash, so an anchor taken before the
upgrade can still be matched.
"""
import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

GENESIS = "0" * 64
events = sa.table(
    "audit_event", sa.column("id", sa.Integer), sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String), sa.column("kind", sa.String),
    sa.column("instance_id", sa.Integer), sa.column("child_ref", sa.String),
    sa.column("detail", sa.Text), sa.column("content_hash", sa.String),
    sa.column("prev_hash", sa.String), sa.column("hash", sa.String),
)
head = sa.table("audit_head", sa.column("id", sa.Integer), sa.column("last_id", sa.Integer),
                sa.column("last_hash", sa.String))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _old_link(prev: str, r: sa.Row) -> str:
    return _sha(prev + _json([r.id, _utc(r.at).isoformat(), r.actor, r.kind, r.instance_id,
                              r.child_ref, r.detail]))


def _new_link(prev: str, event_id: int, at: datetime, actor: str, kind: str,
              instance_id: int | None, content: str) -> str:
    return _sha(prev + _json([event_id, _utc(at).isoformat(), actor, kind, instance_id, content]))


def _content(child_ref: str, detail: str) -> str:
    return _sha(_json([child_ref, detail]))


def _rows(bind: sa.Connection) -> list[sa.Row]:
    return list(bind.execute(sa.select(events).order_by(events.c.id)))


def _check_old_chain(rows: list[sa.Row]) -> str:
    prev = GENESIS
    for expected, r in enumerate(rows, start=1):
        if r.id != expected or r.prev_hash != prev or _old_link(prev, r) != r.hash:
            raise RuntimeError(
                f"the audit trail is broken at event {expected}; investigate it before "
                "upgrading (this migration will not re-link a tampered trail)")
        prev = r.hash
    return prev


def upgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_hash', sa.String(length=64), nullable=False,
                                      server_default=''))
    bind = op.get_bind()
    rows = _rows(bind)
    old_head = _check_old_chain(rows)
    prev, updates = GENESIS, []
    for r in rows:
        content = _content(r.child_ref, r.detail)
        link = _new_link(prev, r.id, r.at, r.actor, r.kind, r.instance_id, content)
        updates.append({"b_id": r.id, "b_content": content, "b_prev": prev, "b_hash": link})
        prev = link
    if updates:
        bind.execute(
            events.update().where(events.c.id == sa.bindparam("b_id")).values(
                content_hash=sa.bindparam("b_content"), prev_hash=sa.bindparam("b_prev"),
                hash=sa.bindparam("b_hash")),
            updates)
        now = datetime.now(UTC)
        detail = json.dumps({"migration": revision, "events": len(rows), "previous_head": old_head},
                            sort_keys=True)
        event_id, content = len(rows) + 1, _content("", detail)
        link = _new_link(prev, event_id, now, "migration", "audit_chain_upgraded", None, content)
        at = now.replace(tzinfo=None) if bind.dialect.name == "sqlite" else now
        bind.execute(events.insert().values(
            id=event_id, at=at, actor="migration", kind="audit_chain_upgraded", instance_id=None,
            child_ref="", detail=detail, content_hash=content, prev_hash=prev, hash=link))
        bind.execute(head.update().where(head.c.id == 1).values(last_id=event_id, last_hash=link))
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.alter_column('content_hash', server_default=None)


def downgrade() -> None:
    bind = op.get_bind()
    prev, updates = GENESIS, []
    for r in _rows(bind):
        link = _sha(prev + _json([r.id, _utc(r.at).isoformat(), r.actor, r.kind, r.instance_id,
                                  r.child_ref, r.detail]))
        updates.append({"b_id": r.id, "b_prev": prev, "b_hash": link})
        prev = link
    if updates:
        bind.execute(
            events.update().where(events.c.id == sa.bindparam("b_id")).values(
                prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash")),
            updates)
        bind.execute(head.update().where(head.c.id == 1).values(last_hash=prev))
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('content_hash')
