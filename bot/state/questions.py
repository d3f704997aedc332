"""Per-question records and feedback, and the 24-hour summary `/ragbot stats` shows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.state.db import Database, once_more_on_conflict
from bot.state.models import Escalation, Feedback, QuestionRecord, utcnow
from bot.state.outbox import KIND_ESCALATION_POST, KIND_REPLY, add_message
from bot.turn import Exchange


# a question turned away because the queue was full: recorded so overload shows in the stats
OUTCOME_BUSY = "busy"


@dataclass
class Summary:
    since: datetime
    questions: int  # every question received in the window, turned-away ones included
    answered: int  # answers the asker got (held ones are not)
    held: int  # answers drafted but held for a human (hold_escalated_answers)
    fallback: int
    blocked: int
    busy: int  # turned away: the queue was full
    escalated: int
    helpful: int  # votes on the window's answers
    not_helpful: int
    helpful_ratio: float | None  # None when nobody pressed a feedback button
    p50_latency_ms: float | None  # over the questions answered, turned-away ones excluded
    p95_latency_ms: float | None

    def as_dict(self) -> dict:
        data = asdict(self)
        data["since"] = self.since.isoformat()
        return data

    def lines(self) -> list[str]:
        """The figures as `ragbot stats` and `/ragbot stats` both show them."""
        held = f" · held for a human {self.held}" if self.held else ""
        busy = f" · turned away (busy) {self.busy}" if self.busy else ""
        votes = self.helpful + self.not_helpful
        ratio = "no feedback yet" if self.helpful_ratio is None else f"{self.helpful_ratio:.0%} helpful ({self.helpful} of {votes})"
        p50, p95 = ("n/a" if ms is None else f"{ms / 1000:.2f} s" for ms in (self.p50_latency_ms, self.p95_latency_ms))
        return [
            f"Questions: {self.questions} · answered {self.answered}{held} · fallback {self.fallback} · blocked {self.blocked}{busy}"
            f" · escalated {self.escalated}",
            f"Feedback: {ratio}",
            f"Latency: p50 {p50} · p95 {p95}",
        ]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    return sorted(values)[_rank(len(values), q) - 1]


class QuestionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, record: QuestionRecord, replies: list[dict], escalation: Escalation | None = None) -> int | None:
        """Store an answered question, the replies owed to the asker and its escalation (if any)
        in ONE transaction, before any Slack call; returns the escalation id."""
        with self.db.transaction() as session:
            session.add(record)
            for payload in replies:
                add_message(session, KIND_REPLY, payload, request_id=record.request_id)
            if escalation is None:
                return None
            session.add(escalation)
            session.flush()
            add_message(session, KIND_ESCALATION_POST, {}, request_id=record.request_id, escalation_id=escalation.id)
            return escalation.id

    def get(self, request_id: str) -> QuestionRecord | None:
        with self.db.transaction() as session:
            return session.get(QuestionRecord, request_id)

    def asked_in_thread(self, thread_key: str, user_hash: str | None = None) -> bool:
        """Whether this person (anyone, when None) asked ragbot in this thread."""
        mine = QuestionRecord.user_hash == user_hash if user_hash is not None else True
        return self._any((QuestionRecord.thread_key == thread_key) & mine)

    def asked_in_channel(self, channel_hash: str) -> bool:
        """Whether anyone asked ragbot anything in this channel (a DM: whether it is a fresh one)."""
        return self._any(QuestionRecord.channel_hash == channel_hash)

    def _any(self, condition) -> bool:
        with self.db.transaction() as session:
            return session.scalars(select(QuestionRecord.request_id).where(condition).limit(1)).first() is not None

    def thread_history(self, thread_key: str, turns: int = 3) -> list[Exchange]:
        """Earlier questions of a thread, oldest first, with a human's answer where one answered
        an escalation (redacted text only; see :class:`bot.turn.Exchange`)."""
        return self._exchanges(QuestionRecord.thread_key == thread_key, turns)

    def recent_in_channel(self, channel_hash: str, since: datetime, turns: int = 2) -> list[Exchange]:
        """The last questions asked in a channel since ``since`` (a DM's earlier messages, which
        are not in one thread), like :meth:`thread_history`."""
        return self._exchanges((QuestionRecord.channel_hash == channel_hash) & (QuestionRecord.created_at >= since), turns)

    def _exchanges(self, condition, turns: int) -> list[Exchange]:
        with self.db.transaction() as session:
            rows = session.scalars(select(QuestionRecord).where(condition).order_by(QuestionRecord.created_at.desc()).limit(turns)).all()
            human = {
                esc.request_id: esc.human_answer
                for esc in session.scalars(
                    select(Escalation).where(Escalation.request_id.in_([r.request_id for r in rows]), Escalation.human_answer.is_not(None)).order_by(Escalation.id)
                )
            }
        return [Exchange(row.question, human.get(row.request_id) or "") for row in reversed(rows) if row.question]

    def mark_delivery(self, request_id: str, status: str) -> None:
        with self.db.transaction() as session:
            row = session.get(QuestionRecord, request_id)
            if row is not None:
                row.delivery_status = status
                row.delivered_at = utcnow() if status == "sent" else row.delivered_at

    def list(self, since: datetime | None = None, limit: int | None = None) -> list[QuestionRecord]:
        with self.db.transaction() as session:
            query = select(QuestionRecord).order_by(QuestionRecord.created_at)
            if since is not None:
                query = query.where(QuestionRecord.created_at >= since)
            if limit:
                query = query.limit(limit)
            return list(session.scalars(query).all())

    def add_feedback(self, request_id: str, user_hash: str, helpful: bool) -> bool:
        """Record a vote; a second press by the same person changes their vote. False if the
        question is unknown. Two presses reaching two instances at once: the second insert meets
        the first's row and becomes an update."""
        return once_more_on_conflict(lambda: self._add_feedback(request_id, user_hash, helpful))

    def _add_feedback(self, request_id: str, user_hash: str, helpful: bool) -> bool:
        with self.db.transaction() as session:
            if session.get(QuestionRecord, request_id) is None:
                return False
            mine = (Feedback.request_id == request_id) & (Feedback.user_hash == user_hash)
            row = session.scalars(select(Feedback).where(mine).with_for_update()).first()
            if row is None:
                session.add(Feedback(request_id=request_id, user_hash=user_hash, helpful=helpful))
            else:
                row.helpful, row.at = helpful, utcnow()
        return True

    def feedback(self, since: datetime | None = None) -> list[Feedback]:
        """Votes on the questions asked since ``since`` (when the vote was cast does not matter)."""
        with self.db.transaction() as session:
            query = select(Feedback)
            if since is not None:
                query = query.join(QuestionRecord, QuestionRecord.request_id == Feedback.request_id).where(QuestionRecord.created_at >= since)
            return list(session.scalars(query).all())

    def record_busy(self, request_id: str, team_id: str, user_hash: str, channel_hash: str) -> None:
        """A question turned away because the queue was full; its text is not kept (it never
        reached the PII checks)."""
        with self.db.transaction() as session:
            session.add(QuestionRecord(request_id=request_id, team_id=team_id, user_hash=user_hash, channel_hash=channel_hash,
                                       outcome=OUTCOME_BUSY, answer_sent=False, delivery_status="sent"))

    def summary(self, since: datetime | None = None, now: datetime | None = None) -> Summary:
        """Counts and latency percentiles since ``since`` (default: the last 24 hours), computed
        in the database: `/ragbot stats` must answer within Slack's 3 s at 100k questions a day."""
        since = since or (now or utcnow()) - timedelta(hours=24)
        recent = QuestionRecord.created_at >= since
        outcome = lambda name: func.count().filter(QuestionRecord.outcome == name)  # noqa: E731
        answered = QuestionRecord.outcome == "answered"
        with self.db.transaction() as session:
            questions, sent, held, fallback, blocked, busy, escalated = session.execute(
                select(func.count(), func.count().filter(answered & QuestionRecord.answer_sent), func.count().filter(answered & ~QuestionRecord.answer_sent),
                       outcome("fallback"), outcome("blocked"), outcome(OUTCOME_BUSY), func.count().filter(QuestionRecord.escalated))
                .where(recent)
            ).one()
            # votes on the window's questions, not votes cast in it (a vote changed today on last
            # week's answer is last week's figure)
            votes, helpful = session.execute(
                select(func.count(), func.count().filter(Feedback.helpful))
                .join(QuestionRecord, QuestionRecord.request_id == Feedback.request_id).where(recent)
            ).one()
            timed = recent & (QuestionRecord.outcome != OUTCOME_BUSY)
            latency = select(QuestionRecord.latency_ms).where(timed).order_by(QuestionRecord.latency_ms)
            n = questions - busy
            p50, p95 = (
                session.scalars(latency.offset(_rank(n, q) - 1).limit(1)).first() if n else None for q in (50, 95)
            )
        return Summary(
            since=since, questions=questions, answered=sent, held=held, fallback=fallback, blocked=blocked, busy=busy, escalated=escalated,
            helpful=helpful, not_helpful=votes - helpful, helpful_ratio=(helpful / votes) if votes else None,
            p50_latency_ms=p50, p95_latency_ms=p95,
        )


def _rank(count: int, q: float) -> int:
    """Nearest rank (1-based) of the q-th percentile among ``count`` values."""
    return max(1, int(-(-count * q // 100)))
