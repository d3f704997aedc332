"""Tables of the bot's own state. Slack ids that identify people are hashed where only
statistics need them; raw ids are kept only where a later Slack call needs them
(escalations and the outbox must know where to post)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, DateTime, Float, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class ProcessedEvent(Base):
    """An Events API ``event_id`` already taken: a Slack retry of it is acked and dropped."""

    __tablename__ = "processed_events"
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class SharedValue(Base):
    """A value every instance on this database must agree on (the id-hashing salt): the first
    one stored wins, and nobody changes it afterwards."""

    __tablename__ = "shared_values"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SettingOverride(Base):
    """A value set with ``/ragbot set``; scope is ``global`` or a channel id."""

    __tablename__ = "setting_overrides"
    __table_args__ = (UniqueConstraint("scope", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AuditEntry(Base):
    """Who changed which setting, where, from what to what."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # set | reset
    key: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    new_value: Mapped[str | None] = mapped_column(Text, nullable=True)


class QuestionRecord(Base):
    """One question and what became of it; read by `/ragbot stats`, `ragbot stats` and the
    fine-tuning export. ``question`` is the redacted text the input checks produced."""

    __tablename__ = "questions"
    request_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    team_id: Mapped[str] = mapped_column(String(32), default="")
    user_hash: Mapped[str] = mapped_column(String(32), default="")
    channel_hash: Mapped[str] = mapped_column(String(32), default="", index=True)
    thread_key: Mapped[str] = mapped_column(String(32), default="", index=True)  # hash of channel + thread ts
    question: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    answer_text: Mapped[str] = mapped_column(Text, default="")
    sources: Mapped[list] = mapped_column(JSON, default=list)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    escalation_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    answer_sent: Mapped[bool] = mapped_column(Boolean, default=True)  # False when the draft was held for a human
    delivery_status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Escalation(Base):
    """A question handed to humans, from creation to the human's answer in the asker's thread."""

    __tablename__ = "escalations"
    # one open escalation per question, however many instances handle "Ask a human" at once
    __table_args__ = (
        Index("uq_escalations_open_request", "request_id", unique=True,
              sqlite_where=text("status IN ('open', 'claimed')"), postgresql_where=text("status IN ('open', 'claimed')")),
        # a deleted escalation's number is not given again (in SQLite databases created since this
        # line; older ones reuse it, and the buttons check their post instead: bot.slack.app)
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | claimed | resolved | unposted (its post was given up)
    reason: Mapped[str] = mapped_column(Text, default="")
    channel_id: Mapped[str] = mapped_column(String(32))  # the asker's channel
    thread_ts: Mapped[str] = mapped_column(String(32))
    asker_id: Mapped[str] = mapped_column(String(32))
    question: Mapped[str] = mapped_column(Text, default="")
    draft: Mapped[str] = mapped_column(Text, default="")
    draft_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    sources: Mapped[list] = mapped_column(JSON, default=list)
    escalation_channel: Mapped[str] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the post in the escalation channel
    claimed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    answered_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    human_answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("request_id", "user_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(32), index=True)
    user_hash: Mapped[str] = mapped_column(String(32))
    helpful: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class OutboxMessage(Base):
    """A Slack call owed to someone, written before it is attempted; retried until it lands."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))  # see bot.slack.delivery for the kinds
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    escalation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sending | sent | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    result_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
