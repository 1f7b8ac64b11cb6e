"""The engine's tables (SQLAlchemy 2.0 typed mappings). Methods change rows; they never commit."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class ServiceArea(Base):
    __tablename__ = "service_area"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    head_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", use_alter=True))


class Team(Base):
    __tablename__ = "team"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    service_area_id: Mapped[int] = mapped_column(ForeignKey("service_area.id"))
    service_area: Mapped[ServiceArea] = relationship()


class Person(Base):
    __tablename__ = "person"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200), default="")
    job_title: Mapped[str] = mapped_column(String(200), default="")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(300))
    team: Mapped[Team | None] = relationship(foreign_keys=[team_id])
    manager: Mapped[Person | None] = relationship(remote_side=[id], foreign_keys=[manager_id])
    roles: Mapped[list[PersonRole]] = relationship(cascade="all, delete-orphan", lazy="select")

    @property
    def role_names(self) -> set[str]:
        return {r.role for r in self.roles}


class PersonRole(Base):
    __tablename__ = "person_role"
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class DefinitionFile(Base):
    """A definition file's content, stored once however many versions use it."""

    __tablename__ = "definition_file"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class ProcessVersion(Base):
    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("process_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    deployed_by: Mapped[str] = mapped_column(String(100))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    files: Mapped[list[ProcessVersionFile]] = relationship(
        cascade="all, delete-orphan", lazy="select")


class ProcessVersionFile(Base):
    __tablename__ = "process_version_file"
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("definition_file.sha256"))


class Instance(Base):
    """One running or finished audit (or other pathway), with SpiffWorkflow's state minus the spec."""

    __tablename__ = "instance"
    __table_args__ = (
        Index("ix_instance_status_next_timer", "status", "next_timer_at"),
        # A report's period: the audits started in it (migration 0005).
        Index("ix_instance_process_started", "process_id", "started_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="running")
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    child_ref: Mapped[str] = mapped_column(String(100), default="", index=True)
    child_status: Mapped[str] = mapped_column(String(10), default="")
    audit_type: Mapped[str] = mapped_column(String(20), default="")
    grade: Mapped[str | None] = mapped_column(String(40))
    service_area_id: Mapped[int | None] = mapped_column(ForeignKey("service_area.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), index=True)
    started_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    process_version: Mapped[ProcessVersion] = relationship(lazy="joined")
    participants: Mapped[list[Participant]] = relationship(
        cascade="all, delete-orphan", lazy="select")
    # The workflow state: as last stored whole (its own table) and the change sets stored since,
    # one a step (spiff.state_to_save, migrations 0007 and 0009).
    whole: Mapped[InstanceState] = relationship(cascade="all, delete-orphan", lazy="select",
                                                passive_deletes=True)
    changes: Mapped[list[InstanceChange]] = relationship(
        cascade="all, delete-orphan", lazy="select", passive_deletes=True,
        order_by="InstanceChange.version")

    __mapper_args__ = {"version_id_col": version}

    @property
    def state(self) -> str:
        """The workflow state as last stored whole (without the change sets stored since)."""
        return self.whole.state

    @state.setter
    def state(self, value: str) -> None:
        if self.whole is None:  # a new instance: its first whole state
            self.whole = InstanceState(state=value)
        else:
            self.whole.state = value

    @property
    def stored(self) -> tuple[str, list[str]]:
        """The workflow state as stored: the last whole state and the change sets since, in
        order (engine.spiff.stored_state applies them)."""
        return self.whole.state, [change.changes for change in self.changes]

    def workflow_state(self) -> str:
        """The workflow state as JSON, the stored changes applied (for readers of the JSON)."""
        from engine.spiff import stored_state_json

        return stored_state_json(*self.stored)


class InstanceState(Base):
    """An audit's workflow state as last stored whole. Apart from the instance row, which changes
    at every step: in SQLite a row is rewritten whole, big text and all, when any column of it
    changes, so a step that stores only its changes must not touch the row holding this."""

    __tablename__ = "instance_state"
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"),
                                             primary_key=True)
    state: Mapped[str] = mapped_column(Text)


class InstanceChange(Base):
    """One step's change set to an audit's workflow state, stored beside the ones before it
    since the state was last stored whole (spiff.state_to_save). A new row each step, never an
    update: what a step writes does not grow with the steps before it. `version` is the
    instance's version the step saved, which orders them."""

    __tablename__ = "instance_change"
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"),
                                             primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    changes: Mapped[str] = mapped_column(Text)


class Participant(Base):
    __tablename__ = "participant"
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(100), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    person: Mapped[Person] = relationship(lazy="joined")


class HumanTask(Base):
    """A user task projected out of the workflow so task lists are plain indexed queries."""

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_assignee_open", "assignee_id", "status", "due_at"),
        Index("ix_human_task_group_open", "group_role", "status", "due_at"),
        Index("ix_human_task_instance_status", "instance_id", "status"),
        # Reports pick one kind of task completed, due or created in a period (migration 0005).
        Index("ix_human_task_spec_completed", "spec_name", "completed_at"),
        Index("ix_human_task_spec_due", "spec_name", "due_at"),
        Index("ix_human_task_spec_created", "spec_name", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    task_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    spec_name: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))
    process_id: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(100))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    group_role: Mapped[str | None] = mapped_column(String(100))
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    form_file: Mapped[str | None] = mapped_column(String(300))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    draft: Mapped[dict | None] = mapped_column(JSON)
    instance: Mapped[Instance] = relationship(lazy="joined")
    assignee: Mapped[Person | None] = relationship(foreign_keys=[assignee_id], lazy="joined")
    claimed_by: Mapped[Person | None] = relationship(foreign_keys=[claimed_by_id], lazy="joined")
    completed_by: Mapped[Person | None] = relationship(foreign_keys=[completed_by_id], lazy="joined")


class AuditEvent(Base):
    """Append-only, hash-chained record of everything done to and seen of an audit."""

    __tablename__ = "audit_event"
    # Sign-in throttling reads a person's latest sign-in events (engine/accounts.py).
    __table_args__ = (Index("ix_audit_event_actor_kind", "actor", "kind", "id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(50))
    instance_id: Mapped[int | None] = mapped_column(Integer, index=True)
    child_ref: Mapped[str] = mapped_column(String(100), default="", index=True)
    detail: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's newest link, locked while appending so concurrent writers cannot fork it."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class Notification(Base):
    """Outbox: written in the use case's transaction, delivered by the worker."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_pending", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    instance_id: Mapped[int | None] = mapped_column(Integer, index=True)
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    email: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    recipient: Mapped[Person | None] = relationship()


class SignInAttempt(Base):
    """A refused sign-in from a network address, kept for 15 minutes to throttle that address."""

    __tablename__ = "sign_in_attempt"
    __table_args__ = (Index("ix_sign_in_attempt_address_at", "address", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
