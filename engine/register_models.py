"""Tables for running the framework month by month: the children register, audit schedules,
moderation samples and CPP's settings. Methods change rows; they never commit."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.models import Base, Person, UTCDateTime


class ChildRecord(Base):
    """A child's file as the case-management system exports it: who holds it, in which team."""

    __tablename__ = "child_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(100), unique=True)
    service_area_id: Mapped[int] = mapped_column(ForeignKey("service_area.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"), index=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    status: Mapped[str] = mapped_column(String(10))
    start_date: Mapped[date] = mapped_column(Date)
    last_placement_move: Mapped[date | None] = mapped_column(Date)
    # Never deleted by an import: a child missing from a later file keeps the row, marked absent.
    in_latest_import: Mapped[bool] = mapped_column(Boolean, default=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    practitioner: Mapped[Person] = relationship(lazy="joined")


class Setting(Base):
    """A value CPP may change without a deploy, such as how many months a file rests."""

    __tablename__ = "qa_setting"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(String(500))
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ScheduleBatch(Base):
    """One month's allocations (or a themed sample): drawn, reviewed, then confirmed by CPP."""

    __tablename__ = "schedule_batch"
    __table_args__ = (Index("ix_schedule_batch_month", "month", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    kind: Mapped[str] = mapped_column(String(20))  # monthly | targeted
    theme: Mapped[str] = mapped_column(String(300), default="")
    criteria: Mapped[dict] = mapped_column(JSON, default=dict)
    seed: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft | confirmed
    supplementary_reading: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[list] = mapped_column(JSON, default=list)  # why some files could not be used
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[str | None] = mapped_column(String(100))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    allocations: Mapped[list[ScheduleAllocation]] = relationship(
        cascade="all, delete-orphan", order_by="ScheduleAllocation.position", lazy="selectin")


class ScheduleAllocation(Base):
    """One child's file allocated to one auditor; `instance_id` is set once the audit starts."""

    __tablename__ = "schedule_allocation"
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("schedule_batch.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    child_id: Mapped[int] = mapped_column(ForeignKey("child_record.id"))
    child_ref: Mapped[str] = mapped_column(String(100))
    child_status: Mapped[str] = mapped_column(String(10))
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    auditor_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instance.id"))
    error: Mapped[str | None] = mapped_column(Text)
    practitioner: Mapped[Person] = relationship(foreign_keys=[practitioner_id], lazy="joined")
    auditor: Mapped[Person] = relationship(foreign_keys=[auditor_id], lazy="joined")


class ModerationSample(Base):
    """A month's moderation: every Inadequate audit plus a drawn 20% of the rest."""

    __tablename__ = "moderation_sample"
    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    seed: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft | confirmed
    rest_count: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[str | None] = mapped_column(String(100))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    picks: Mapped[list[ModerationPick]] = relationship(
        cascade="all, delete-orphan", order_by="ModerationPick.id", lazy="selectin")


class ModerationPick(Base):
    """One audit to moderate: `inadequate` (moderated in its follow-up) or `sample`."""

    __tablename__ = "moderation_pick"
    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("moderation_sample.id"), index=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    child_ref: Mapped[str] = mapped_column(String(100))
    grade: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(20))
    moderation_instance_id: Mapped[int | None] = mapped_column(ForeignKey("instance.id"))
    error: Mapped[str | None] = mapped_column(Text)
