"""How long the bot keeps what people asked, and forgetting one person when they ask.

Question records, feedback and escalations hold redacted questions and answers, hashed Slack
ids and (in escalations, to post back) raw ones. ``retention_days`` bounds them: the serving
process's hourly housekeeping deletes older ones (an escalation still waiting for a human is
kept until it is answered). ``forget_user`` deletes one person's records at once, for a
data-subject request (``ragbot forget-user``, ``/ragbot forget``); where they acted as the
human on someone else's escalation, their name is removed from it. The audit log of settings
changes is kept: it records who changed the bot, which is what it is for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from bot.state.db import Database
from bot.state.models import AuditEntry, Escalation, Feedback, OutboxMessage, QuestionRecord, utcnow
from bot.state.outbox import KIND_ESCALATION_UPDATE, add_message


@dataclass
class Removed:
    questions: int = 0
    feedback: int = 0
    escalations: int = 0
    unnamed: int = 0  # escalations of others where they were the human: their name removed
    kept_questions: int = 0  # questions kept across a restart (pending_questions)

    def __str__(self) -> str:
        parts = [f"{self.questions} question record(s)", f"{self.feedback} feedback vote(s)", f"{self.escalations} escalation(s)"]
        if self.unnamed:
            parts.append(f"their name on {self.unnamed} escalation(s) they handled")
        if self.kept_questions:
            parts.append(f"{self.kept_questions} question(s) waiting for a restart")
        return ", ".join(parts)


class RetentionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def prune(self, keep: timedelta, now: datetime | None = None) -> Removed:
        """Delete question records, feedback and answered escalations older than ``keep``."""
        cutoff = (now or utcnow()) - keep
        removed = Removed()
        with self.db.transaction() as session:
            old = select(QuestionRecord.request_id).where(QuestionRecord.created_at < cutoff)
            removed.feedback = session.execute(delete(Feedback).where(or_(Feedback.at < cutoff, Feedback.request_id.in_(old)))).rowcount or 0
            removed.questions = session.execute(delete(QuestionRecord).where(QuestionRecord.created_at < cutoff)).rowcount or 0
            answered = (Escalation.status == "resolved") & (Escalation.created_at < cutoff)
            gone = select(Escalation.id).where(answered)
            session.execute(delete(OutboxMessage).where(OutboxMessage.escalation_id.in_(gone), OutboxMessage.status.in_(("sent", "dead"))))
            removed.escalations = session.execute(delete(Escalation).where(answered)).rowcount or 0
        return removed

    def forget_user(self, user_id: str, user_hash: str, *, by: str | None = None) -> Removed:
        """Delete what ``user_id`` asked (records, the feedback on them and their own votes, their
        escalations and what the outbox still owes for them) and remove their name from the
        escalations they handled; one still open goes back to unclaimed. ``by``: the admin who
        asked, written to the audit log (without whom it was about)."""
        removed = Removed()
        with self.db.transaction() as session:
            asked = set(session.scalars(select(QuestionRecord.request_id).where(QuestionRecord.user_hash == user_hash)).all())
            escalations = session.execute(select(Escalation.id, Escalation.request_id).where(Escalation.asker_id == user_id)).all()
            asked |= {row.request_id for row in escalations}
            escalation_ids = [row.id for row in escalations]
            ids = list(asked)
            removed.feedback = session.execute(
                delete(Feedback).where(or_(Feedback.user_hash == user_hash, Feedback.request_id.in_(ids)))
            ).rowcount or 0
            removed.questions = session.execute(delete(QuestionRecord).where(QuestionRecord.request_id.in_(ids))).rowcount or 0
            session.execute(delete(OutboxMessage).where(or_(OutboxMessage.request_id.in_(ids), OutboxMessage.escalation_id.in_(escalation_ids))))
            removed.escalations = session.execute(delete(Escalation).where(Escalation.id.in_(escalation_ids))).rowcount or 0
            handled = or_(Escalation.claimed_by == user_id, Escalation.answered_by == user_id)
            removed.unnamed = len(session.scalars(select(Escalation.id).where(handled)).all())
            for escalation_id in session.scalars(select(Escalation.id).where(Escalation.status == "claimed", Escalation.claimed_by == user_id)).all():
                session.execute(update(Escalation).where(Escalation.id == escalation_id).values(status="open"))
                add_message(session, KIND_ESCALATION_UPDATE, {}, escalation_id=escalation_id)  # its post says "claimed by" them
            session.execute(update(Escalation).where(Escalation.claimed_by == user_id).values(claimed_by=None))
            session.execute(update(Escalation).where(Escalation.answered_by == user_id).values(answered_by=None))
            if by:
                session.add(AuditEntry(user_id=by, action="forget", key="user data", scope="global", new_value=str(removed)))
        from bot.runtime.pending import PendingQuestions  # imports bot.state: not at module level

        removed.kept_questions = PendingQuestions(self.db.engine).forget(user_id)
        return removed
