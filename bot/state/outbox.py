"""The outbox: Slack calls owed to people, stored before they are attempted.

A row is written in the same transaction as the state it announces (an answer, an
escalation, a human's reply), so a Slack failure or a crash between the two loses nothing:
the deliverer (``bot.slack.delivery``) picks pending rows up again with backoff.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from bot.state.db import Database
from bot.state.models import OutboxMessage, utcnow

# What a row asks for; bot.slack.delivery knows how to send each kind.
KIND_REPLY = "reply"  # a ready chat.postMessage payload for the asker's thread
KIND_ESCALATION_POST = "escalation_post"  # render the escalation and post it to the escalation channel
KIND_ESCALATION_UPDATE = "escalation_update"  # re-render the escalation post from current state
KIND_HUMAN_ANSWER = "human_answer"  # relay a human's answer into the asker's thread
KIND_EPHEMERAL = "ephemeral"  # a ready chat.postEphemeral payload

MAX_ATTEMPTS = 12
DELIVERY_WINDOW = timedelta(hours=24)  # a Slack outage shorter than this loses nothing
LEASE = timedelta(seconds=120)  # a row "sending" longer than this belongs to a dead instance

# Marks at the start of a row's last_error that change how its next try is made.
PLAIN_MARK = "[plain] "  # Slack refused the blocks: the text goes alone
UNSURE_MARK = "[maybe posted] "  # the last try ended without knowing whether Slack posted it
_OLD_PLAIN_MARK = "plain text after: "  # rows written before the marks were bracketed


def marks(last_error: str | None) -> tuple[bool, bool]:
    """(plain, unsure) as marked on a row's last_error."""
    text = last_error or ""
    if text.startswith(_OLD_PLAIN_MARK):
        return True, False
    return text.startswith(PLAIN_MARK), text.removeprefix(PLAIN_MARK).startswith(UNSURE_MARK)


def marked(text: str, *, plain: bool, unsure: bool) -> str:
    """``text`` (an error, unmarked) with the marks the row's next try must honour."""
    return f"{PLAIN_MARK if plain else ''}{UNSURE_MARK if unsure else ''}{text}"


def unmarked(last_error: str | None) -> str:
    return (last_error or "").removeprefix(_OLD_PLAIN_MARK).removeprefix(PLAIN_MARK).removeprefix(UNSURE_MARK)


def add_message(session: Session, kind: str, payload: dict, *, request_id: str | None = None, escalation_id: int | None = None) -> OutboxMessage:
    """Queue a Slack call inside the caller's transaction."""
    row = OutboxMessage(kind=kind, payload=payload, request_id=request_id, escalation_id=escalation_id)
    session.add(row)
    return row


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** max(attempts - 1, 0), 300))


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(self, kind: str, payload: dict, *, request_id: str | None = None, escalation_id: int | None = None) -> int:
        with self.db.transaction() as session:
            row = add_message(session, kind, payload, request_id=request_id, escalation_id=escalation_id)
            session.flush()
            return row.id

    def due_ids(self, now: datetime | None = None, limit: int = 50) -> list[int]:
        now = now or utcnow()
        with self.db.transaction() as session:
            query = (
                select(OutboxMessage.id)
                .where(
                    or_(
                        (OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now),
                        (OutboxMessage.status == "sending") & (OutboxMessage.next_attempt_at <= now - LEASE),
                    )
                )
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
            return list(session.scalars(query).all())

    def claim(self, message_id: int, now: datetime | None = None) -> OutboxMessage | None:
        """Take a due row for sending; None when another worker or instance took it first. A row
        taken over from a sender that stopped mid-call is marked unsure: Slack may have it."""
        now = now or utcnow()
        with self.db.transaction() as session:
            was_sending = session.scalar(select(OutboxMessage.status).where(OutboxMessage.id == message_id)) == "sending"
            result = session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == message_id,
                    or_(
                        OutboxMessage.status == "pending",
                        (OutboxMessage.status == "sending") & (OutboxMessage.next_attempt_at <= now - LEASE),
                    ),
                )
                .values(status="sending", next_attempt_at=now)
            )
            if result.rowcount != 1:
                return None
            row = session.get(OutboxMessage, message_id)
            if was_sending:
                plain, _ = marks(row.last_error)
                row.last_error = marked(unmarked(row.last_error) or "taken over from a sender that stopped", plain=plain, unsure=True)
            return row

    def sent(self, message_id: int, result_ts: str | None = None) -> None:
        with self.db.transaction() as session:
            row = session.get(OutboxMessage, message_id)
            if row is None:  # deleted meanwhile (a person forgotten while it was being sent)
                return
            row.status, row.sent_at, row.result_ts, row.last_error = "sent", utcnow(), result_ts, None
            row.payload = {}  # the answer as the asker saw it (their own words included) is not kept once sent

    def failed(self, message_id: int, error: str, now: datetime | None = None, *, count_attempt: bool = True,
               retry_in: timedelta | None = None, give_up: bool = False) -> OutboxMessage:
        """Put the row back with backoff (or after ``retry_in``, e.g. Slack's Retry-After). It is
        marked dead (and logged by the caller) when ``give_up`` (Slack will never take it), or
        after MAX_ATTEMPTS counted failures once DELIVERY_WINDOW has passed since it was written:
        backoff caps at 5 minutes, so a count alone gave up after a 19-minute outage."""
        now = now or utcnow()
        with self.db.transaction() as session:
            row = session.get(OutboxMessage, message_id)
            if row is None:  # deleted meanwhile: nothing is owed any more
                return OutboxMessage(id=message_id, status="dead", attempts=0, last_error=error[:1000])
            if count_attempt:
                row.attempts += 1
            row.last_error = error[:1000]
            expired = row.attempts >= MAX_ATTEMPTS and now - row.created_at >= DELIVERY_WINDOW
            row.status = "dead" if give_up or expired else "pending"
            if row.status == "dead":  # never sent now: the words it carried (a name the asker gave) go
                row.payload = {}
            wait = retry_in if retry_in is not None else backoff(row.attempts) if count_attempt else timedelta(seconds=1)
            row.next_attempt_at = now + wait
            return row

    def prune(self, sent_before: timedelta = timedelta(days=7), dead_before: timedelta = timedelta(days=30)) -> int:
        """Delivered rows are kept a week, given-up ones a month (they were logged); neither keeps
        its payload (answer text and Slack user ids should not outlive their purpose)."""
        now = utcnow()
        with self.db.transaction() as session:
            result = session.execute(
                delete(OutboxMessage).where(
                    ((OutboxMessage.status == "sent") & (OutboxMessage.sent_at < now - sent_before))
                    | ((OutboxMessage.status == "dead") & (OutboxMessage.created_at < now - dead_before))
                )
            )
            return result.rowcount or 0

    def has_earlier_unsent(self, row: OutboxMessage, kinds: tuple[str, ...] | None = None) -> bool:
        """An earlier row of the same kind (or of ``kinds``) for the same request is still on its
        way (keeps parts in order); one that died does not hold the later parts back for ever."""
        if row.request_id is None:
            return False
        with self.db.transaction() as session:
            query = select(OutboxMessage.id).where(
                OutboxMessage.request_id == row.request_id, OutboxMessage.kind.in_(kinds or (row.kind,)),
                OutboxMessage.id < row.id, OutboxMessage.status.in_(("pending", "sending")),
            )
            return session.scalars(query.limit(1)).first() is not None

    def escalation_post_dead(self, escalation_id: int) -> bool:
        """The escalation's post was given up, so its updates have nothing to update."""
        with self.db.transaction() as session:
            query = select(OutboxMessage.id).where(
                OutboxMessage.escalation_id == escalation_id, OutboxMessage.kind == KIND_ESCALATION_POST, OutboxMessage.status == "dead"
            )
            return session.scalars(query.limit(1)).first() is not None

    def get(self, message_id: int) -> OutboxMessage | None:
        with self.db.transaction() as session:
            return session.get(OutboxMessage, message_id)

    def all(self, status: str | None = None) -> list[OutboxMessage]:
        with self.db.transaction() as session:
            query = select(OutboxMessage).order_by(OutboxMessage.id)
            if status:
                query = query.where(OutboxMessage.status == status)
            return list(session.scalars(query).all())
