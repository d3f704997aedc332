"""Escalations: created, claimed and resolved with the Slack posts they owe queued alongside."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from bot.state.db import Database
from bot.state.models import Escalation, OutboxMessage, QuestionRecord, utcnow
from bot.state.outbox import KIND_ESCALATION_POST, KIND_ESCALATION_UPDATE, KIND_HUMAN_ANSWER, KIND_REPLY, add_message

OPEN_STATUSES = ("open", "claimed")


class EscalationError(ValueError):
    """The escalation cannot take this step (unknown, or already resolved); the message says why."""


class EscalationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, escalation: Escalation) -> tuple[int, bool]:
        """Store a new escalation and queue its post; (id, created). An open escalation for the
        same request is reused, so pressing "Ask a human" twice escalates once, also when the two
        presses reach two instances at once (a unique index on open escalations decides)."""
        request_id = escalation.request_id
        try:
            with self.db.transaction() as session:
                existing = self._open_for(session, request_id)
                if existing is not None:
                    return existing.id, False
                session.add(escalation)
                session.flush()
                record = session.get(QuestionRecord, request_id)
                if record is not None:  # "Ask a human" counts as escalated in the stats
                    record.escalated = True
                    record.escalation_reason = record.escalation_reason or escalation.reason
                add_message(session, KIND_ESCALATION_POST, {}, request_id=request_id, escalation_id=escalation.id)
                return escalation.id, True
        except IntegrityError:
            with self.db.transaction() as session:
                existing = self._open_for(session, request_id)
            if existing is None:  # not the race this handles
                raise
            return existing.id, False

    @staticmethod
    def _open_for(session, request_id: str) -> Escalation | None:
        return session.scalars(select(Escalation).where(Escalation.request_id == request_id, Escalation.status.in_(OPEN_STATUSES))).first()

    def get(self, escalation_id: int) -> Escalation | None:
        with self.db.transaction() as session:
            return session.get(Escalation, escalation_id)

    def for_request(self, request_id: str) -> list[Escalation]:
        with self.db.transaction() as session:
            return list(session.scalars(select(Escalation).where(Escalation.request_id == request_id).order_by(Escalation.id)).all())

    def open(self, limit: int = 50) -> list[Escalation]:
        with self.db.transaction() as session:
            query = select(Escalation).where(Escalation.status.in_(OPEN_STATUSES)).order_by(Escalation.created_at).limit(limit)
            return list(session.scalars(query).all())

    def count_open(self) -> int:
        with self.db.transaction() as session:
            return session.scalar(select(func.count()).select_from(Escalation).where(Escalation.status.in_(OPEN_STATUSES))) or 0

    def unposted(self, escalation_id: int, note: dict) -> bool:
        """Its post was given up (the channel archived, ragbot not in it): no human will see it.
        It stops counting as open, so "Ask a human" makes a new one, and ``note`` (a reply to the
        asker) is queued with the change. False when it was posted or answered meanwhile."""
        with self.db.transaction() as session:
            row = session.get(Escalation, escalation_id)
            if row is None or row.status != "open" or row.message_ts:
                return False
            row.status = "unposted"
            add_message(session, KIND_REPLY, note, request_id=row.request_id)
            return True

    def set_message_ts(self, escalation_id: int, ts: str) -> None:
        with self.db.transaction() as session:
            session.get(Escalation, escalation_id).message_ts = ts

    def claim(self, escalation_id: int, user_id: str) -> Escalation:
        """Claim an open escalation; a claim someone else holds is not taken over silently."""
        with self.db.transaction() as session:
            taken = session.execute(
                update(Escalation).where(Escalation.id == escalation_id, Escalation.status == "open").values(status="claimed", claimed_by=user_id)
            ).rowcount
            row = self._live(session, escalation_id)
            if not taken:
                if row.claimed_by == user_id:
                    return row
                raise EscalationError(f"escalation {escalation_id} is already claimed by <@{row.claimed_by}>; you can still answer it")
            add_message(session, KIND_ESCALATION_UPDATE, {}, request_id=row.request_id, escalation_id=row.id)
            return row

    def resolve(self, escalation_id: int, user_id: str, answer: str) -> Escalation:
        """Store the human's answer and queue its relay and the post's update, atomically. The
        conditional update decides between two people answering at the same moment: one wins,
        the other is told, and the asker gets one answer."""
        with self.db.transaction() as session:
            won = session.execute(
                update(Escalation)
                .where(Escalation.id == escalation_id, Escalation.status != "resolved")
                .values(status="resolved", answered_by=user_id, human_answer=answer, resolved_at=utcnow(),
                        claimed_by=func.coalesce(Escalation.claimed_by, user_id))
            ).rowcount
            if not won:
                self._live(session, escalation_id)  # raises: unknown, or answered by someone else meanwhile
            row = session.get(Escalation, escalation_id)
            add_message(session, KIND_HUMAN_ANSWER, {}, request_id=row.request_id, escalation_id=row.id)
            add_message(session, KIND_ESCALATION_UPDATE, {}, request_id=row.request_id, escalation_id=row.id)
            return row

    def redact_delivered_answer(self, escalation_id: int, redactor: Callable[[str], str]) -> bool:
        """Once a human's answer has reached the asker and the escalation post (no owed post for
        this escalation is left), keep only its redacted text: it stays useful as thread history
        and training data, and stored text carries no raw personal data. True when it changed."""
        with self.db.transaction() as session:
            row = session.get(Escalation, escalation_id)
            if row is None or row.status != "resolved" or not row.human_answer:
                return False
            owed = select(OutboxMessage.id).where(OutboxMessage.escalation_id == escalation_id, OutboxMessage.status.in_(("pending", "sending")))
            if session.scalars(owed.limit(1)).first() is not None:
                return False
            raw = row.human_answer
        redacted = redactor(raw)
        if redacted == raw:
            return False
        with self.db.transaction() as session:  # unless another redaction got there first
            changed = update(Escalation).where(Escalation.id == escalation_id, Escalation.human_answer == raw).values(human_answer=redacted)
            return session.execute(changed).rowcount == 1

    def redact_recent_answers(self, redactor: Callable[[str], str], within: timedelta = timedelta(days=2)) -> int:
        """Housekeeping: redact delivered answers a crash or a failed redaction left as written."""
        with self.db.transaction() as session:
            ids = session.scalars(select(Escalation.id).where(Escalation.status == "resolved", Escalation.resolved_at >= utcnow() - within)).all()
        return sum(self.redact_delivered_answer(escalation_id, redactor) for escalation_id in ids)

    @staticmethod
    def _live(session, escalation_id: int) -> Escalation:
        row = session.get(Escalation, escalation_id)
        if row is None:
            raise EscalationError(f"escalation {escalation_id} does not exist")
        if row.status == "resolved":
            raise EscalationError(f"escalation {escalation_id} was already answered by " + (f"<@{row.answered_by}>" if row.answered_by else "someone"))
        return row
