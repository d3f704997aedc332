"""How long the bot keeps what people asked, and forgetting one person when they ask.

Question records, feedback and escalations hold redacted questions and answers, hashed Slack
ids and (in escalations, to post back) raw ones. ``retention_days`` bounds them: the serving
process's hourly housekeeping deletes older ones (an answered escalation counts from its
answer; one nobody answered goes when its question does, and its post's buttons then say it no
longer exists). ``forget_user`` deletes one person's records at once, for a
data-subject request (``ragbot forget-user``, ``/ragbot forget``); where they acted as the
human on someone else's escalation, their name is removed from it. The audit log of settings
changes is kept: it records who changed the bot, which is what it is for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update

from bot.state.db import Database
from bot.state.models import AuditEntry, Escalation, Feedback, OutboxMessage, QuestionRecord, utcnow
from bot.state.outbox import KIND_EPHEMERAL, KIND_ESCALATION_UPDATE, add_message

OWED = ("pending", "sending")


@dataclass
class Removed:
    questions: int = 0
    feedback: int = 0
    escalations: int = 0
    unnamed: int = 0  # escalations of others where they were the human: their name removed
    kept_questions: int = 0  # questions kept across a restart (pending_questions)
    in_flight: int = 0  # questions being answered, or left by a process that died (questions_in_flight)

    def __str__(self) -> str:
        parts = [f"{self.questions} question record(s)", f"{self.feedback} feedback vote(s)", f"{self.escalations} escalation(s)"]
        if self.unnamed:
            parts.append(f"their name on {self.unnamed} escalation(s) they handled")
        if self.kept_questions:
            parts.append(f"{self.kept_questions} question(s) waiting for a restart")
        if self.in_flight:
            parts.append(f"{self.in_flight} question(s) being answered")
        return ", ".join(parts)


class RetentionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def prune(self, keep: timedelta, now: datetime | None = None) -> Removed:
        """Delete question records, feedback and escalations older than ``keep``: an answered
        escalation counts from its answer, an unanswered one from its question (a year-old one
        holds the asker's id and nobody is coming), and none goes while a post for it is owed."""
        cutoff = (now or utcnow()) - keep
        removed = Removed()
        with self.db.transaction() as session:
            old = select(QuestionRecord.request_id).where(QuestionRecord.created_at < cutoff)
            removed.feedback = session.execute(delete(Feedback).where(or_(Feedback.at < cutoff, Feedback.request_id.in_(old)))).rowcount or 0
            removed.questions = session.execute(delete(QuestionRecord).where(QuestionRecord.created_at < cutoff)).rowcount or 0
            owed = select(OutboxMessage.escalation_id).where(OutboxMessage.escalation_id.is_not(None), OutboxMessage.status.in_(OWED))
            done = select(Escalation.id).where(
                or_(
                    (Escalation.status == "resolved") & (func.coalesce(Escalation.resolved_at, Escalation.created_at) < cutoff),
                    (Escalation.status != "resolved") & (Escalation.created_at < cutoff),
                ),
                Escalation.id.not_in(owed),
            )
            for chunk in _chunks(list(session.scalars(done).all())):
                session.execute(delete(OutboxMessage).where(OutboxMessage.escalation_id.in_(chunk)))
                removed.escalations += session.execute(delete(Escalation).where(Escalation.id.in_(chunk))).rowcount or 0
        return removed

    def forget_user(self, user_id: str, user_hash: str, *, by: str | None = None) -> Removed:
        """Delete what ``user_id`` asked (records, the feedback on them and their own votes, the
        escalations of their questions, and what the outbox still owes them) and remove their
        name from the escalations they handled: one they had claimed goes back to open, and the
        posts are re-rendered without them. ``by``: the admin who asked, written to the audit
        log (without whom it was about)."""
        from bot.runtime.in_flight import InFlightQuestions  # these import bot.state: not at module level
        from bot.runtime.pending import PendingQuestions

        removed = Removed(kept_questions=PendingQuestions(self.db.engine).forget(user_id), in_flight=InFlightQuestions(self.db.engine).forget(user_id))
        with self.db.transaction() as session:
            theirs = select(QuestionRecord.request_id).where(QuestionRecord.user_hash == user_hash)
            # "Ask a human" pressed by someone else leaves asker_id empty: the record still names them
            escalated = session.execute(
                select(Escalation.id, Escalation.request_id).where(or_(Escalation.asker_id == user_id, Escalation.request_id.in_(theirs)))
            ).all()
            asked = sorted(set(session.scalars(theirs).all()) | {row.request_id for row in escalated})
            escalation_ids = [row.id for row in escalated]
            ephemeral = session.execute(select(OutboxMessage.id, OutboxMessage.payload).where(OutboxMessage.kind == KIND_EPHEMERAL)).all()
            removed.feedback = session.execute(delete(Feedback).where(Feedback.user_hash == user_hash)).rowcount or 0
            for chunk in _chunks(asked):
                removed.feedback += session.execute(delete(Feedback).where(Feedback.request_id.in_(chunk))).rowcount or 0
                session.execute(delete(OutboxMessage).where(OutboxMessage.request_id.in_(chunk)))
                removed.questions += session.execute(delete(QuestionRecord).where(QuestionRecord.request_id.in_(chunk))).rowcount or 0
            for chunk in _chunks(escalation_ids):
                session.execute(delete(OutboxMessage).where(OutboxMessage.escalation_id.in_(chunk)))
                removed.escalations += session.execute(delete(Escalation).where(Escalation.id.in_(chunk))).rowcount or 0
            for chunk in _chunks([row.id for row in ephemeral if (row.payload or {}).get("user") == user_id]):
                session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(chunk)))
            handled = session.execute(
                select(Escalation.id, Escalation.message_ts).where(or_(Escalation.claimed_by == user_id, Escalation.answered_by == user_id))
            ).all()
            removed.unnamed = len(handled)
            session.execute(update(Escalation).where(Escalation.status == "claimed", Escalation.claimed_by == user_id).values(status="open"))
            session.execute(update(Escalation).where(Escalation.claimed_by == user_id).values(claimed_by=None))
            session.execute(update(Escalation).where(Escalation.answered_by == user_id).values(answered_by=None))
            for row in handled:  # their posts say "claimed by" / "answered by" them
                if row.message_ts:
                    add_message(session, KIND_ESCALATION_UPDATE, {}, escalation_id=row.id)
            if by:
                session.add(AuditEntry(user_id=by, action="forget", key="user data", scope="global", new_value=str(removed)))
        return removed


def _chunks(ids: list, size: int = 1000) -> list[list]:
    """Id lists short enough for any database's bound-parameter limit."""
    return [ids[i:i + size] for i in range(0, len(ids), size)]
