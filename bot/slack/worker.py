"""One place where a Slack question is answered: queued after the ack, run through the
pipeline, stored, delivered. Bounded concurrency, caching and structured logging hook in here."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.exc import IntegrityError

from bot.answer import Answer, Outcome
from bot.runtime.executor import BoundedExecutor, ShutdownReport
from bot.slack import blocks as bk
from bot.slack.delivery import OutboxDeliverer
from bot.slack.effective import EffectiveSettings
from bot.slack.incoming import asks_nothing_of_its_own, from_a_person, message_question, read_message
from bot.slack.members import Installation
from bot.state import Escalation, QuestionRecord, StateStore
from bot.state.models import utcnow
from bot.state.outbox import KIND_REPLY
from bot.turn import Exchange, RequestContext
from retrieval.relevance import content_words

log = logging.getLogger(__name__)

WORKING_REACTION = "hourglass_flowing_sand"
FAILURE_TEXT = (
    "Sorry, something went wrong on my side and I couldn't answer this. "
    "It has been logged (request `{request_id}`); please try again in a moment."
)
BUSY_TEXT = "I'm answering a lot of questions right now; please ask again in a minute."

Hasher = Callable[[str], str]


def default_hasher(value: str) -> str:
    return hashlib.sha256(f"ragbot:{value}".encode()).hexdigest()[:16]


@dataclass
class QuestionJob:
    """A question taken from Slack. The raw text lives only in memory; what is stored is redacted."""

    text: str
    user_id: str
    channel_id: str
    message_ts: str
    thread_ts: str  # the thread the reply goes into (the message itself for a new thread)
    team_id: str = ""
    event_id: str = ""
    is_dm: bool = False
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    received: float = field(default_factory=time.perf_counter)
    # whose question it is, when not the user's: the colleague "@ragbot can you answer this?"
    # pointed at (their record, their escalation, their `forget me`), and that message's ts
    written_by: str = ""
    pointed_at: str = ""
    addressed: bool = True  # False: a message in a channel that answers without a mention

    @property
    def asker_id(self) -> str:
        return self.written_by or self.user_id


def journal_entry(job: QuestionJob) -> dict[str, Any]:
    """What the in-flight journal keeps of a job: where to answer and who asked, not the text."""
    received_at = time.time() - (time.perf_counter() - job.received)
    keys = ("user_id", "written_by", "pointed_at", "addressed", "channel_id", "message_ts", "thread_ts", "team_id", "event_id", "is_dm", "request_id")
    return {k: getattr(job, k) for k in keys} | {
        "received_at": received_at}


def thread_key(hasher: Hasher, channel_id: str, thread_ts: str) -> str:
    return hasher(f"{channel_id}:{thread_ts}")


def message_claim(hasher: Hasher, channel_id: str, message_ts: str) -> str:
    """The claim that gives one Slack message one answer, however often it is edited."""
    return "message:" + thread_key(hasher, channel_id, message_ts)


def deletion_mark(hasher: Hasher, channel_id: str, message_ts: str) -> str:
    """Marks a message its writer deleted: a question still being answered is dropped."""
    return "deleted:" + thread_key(hasher, channel_id, message_ts)


def refusal_mark(hasher: Hasher, channel_id: str, message_ts: str) -> str:
    """Marks a message refused as no question (empty, a greeting, too long): an edit of it is
    taken as the question it was meant to be; an edit of any other message is not."""
    return "refused:" + thread_key(hasher, channel_id, message_ts)


# "and on my phone?", "what about London?", "why?": a message that leans on the one before
_FOLLOW_UP = re.compile(r"^\W*(?:and|or|but|also|so|then|what about|how about|what if|same for|why|how come)\b", re.IGNORECASE)


def reads_as_follow_up(text: str) -> bool:
    return bool(_FOLLOW_UP.match(text)) or not content_words(text)


def _refused_as_no_question(answer: Answer) -> bool:
    """Blocked as empty, too short or a bare greeting: the asker is told to type a question, and
    editing the message into one must then get an answer."""
    stage = answer.stage("input_guard")
    verdict = ((stage.details if stage else {}).get("verdicts") or {}).get("question_shape")
    return answer.outcome is Outcome.BLOCKED and bool(verdict) and not verdict.get("passed", True)


class QuestionWorker:
    """Answers queued questions on a bounded thread pool; every failure ends in a visible reply."""

    def __init__(
        self,
        pipeline,
        settings: EffectiveSettings,
        state: StateStore,
        client: WebClient,
        deliverer: OutboxDeliverer,
        *,
        hasher: Hasher = default_hasher,
        redactor: Callable[[str], str] | None = None,
        metrics: Any = None,
        installation: Installation | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.state = state
        self.client = client
        self.deliverer = deliverer
        self.hasher = hasher
        self.redactor = redactor
        self.metrics = metrics
        self.journal: Any = None  # bot.runtime.in_flight.InFlightQuestions, set by the serving runtime
        self.installation = installation or Installation(client)  # ragbot's own ids: its posts are no questions
        base = settings.base
        self.queue_size = base.queue_size
        # bounded pool (issue 6): max_concurrency running, queue_size waiting, the rest refused;
        # on shutdown what did not finish is handed back to be kept for the next start
        self._pool: BoundedExecutor[QuestionJob] = BoundedExecutor(
            self._run, workers=base.max_concurrency, queue_size=base.queue_size, name="ragbot-question", metrics=metrics
        )

    # --- queueing ---------------------------------------------------------------------
    def submit(self, job: QuestionJob, *, kept: bool = False, journaled: bool = False) -> bool:
        """Queue ``job``; when the queue is full the asker is told to retry (False). ``kept``: the
        caller keeps the question and queues it again when there is room (a restart's recovery),
        so a full queue neither tells the asker to ask again nor records it as turned away.
        ``journaled``: the in-flight journal already has it (adopted from a dead process)."""
        if not journaled:
            self._journal("begin", job)
        if self._pool.submit(job):
            return True
        if kept:
            if not journaled:  # the caller keeps it (or gives its adopted row back)
                self._journal("end", job)
            return False
        log.warning("queue full (%s); refusing request %s", self.queue_size, job.request_id)
        # posted beside the listener, which must ack Slack within 3 s even when Slack is slow
        threading.Thread(target=self._turn_away, args=(job,), name="ragbot-busy-reply", daemon=True).start()
        return False

    @property
    def accepting(self) -> bool:
        return self._pool.accepting

    def wait_for_room(self, timeout: float) -> bool:
        """Whether the queue has room now or gets it within ``timeout`` (False once shutting down)."""
        return self._pool.wait_for_room(timeout)

    def _turn_away(self, job: QuestionJob) -> None:
        """Tell the asker to retry, and count it: overload must show in `/ragbot stats`."""
        self.post_note(job, BUSY_TEXT)
        try:  # recorded before the journal lets go: a process killed in between is then seen to have replied
            self.state.questions.record_busy(job.request_id, job.team_id, self.hasher(job.user_id), self.hasher(job.channel_id))
        except Exception:  # noqa: BLE001 - the asker has their reply; a lost count is only logged
            log.exception("could not record turned-away request %s", job.request_id)
        self._journal("end", job)

    @property
    def pending(self) -> int:
        return self._pool.pending

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued question is handled (tests, shutdown)."""
        return self._pool.drain(timeout)

    def shutdown(self, wait: bool = True, grace_s: float | None = None) -> ShutdownReport[QuestionJob]:
        """Stop taking questions; finish what can be finished within ``grace_s`` (no wait: none)."""
        grace = (grace_s if grace_s is not None else self.settings.base.shutdown_grace_s) if wait else 0.0
        return self._pool.shutdown(grace)

    def _run(self, job: QuestionJob) -> None:
        try:
            self.handle(job)
        except Exception as error:  # noqa: BLE001 - the asker must never be left without a reply
            if self._pool.handed_back():  # kept for the next start, which will answer it
                log.info("request %s failed during shutdown; it is kept for the next start", job.request_id)
                return
            log.exception("question failed (request %s)", job.request_id)
            if self.metrics is not None:  # after the pipeline, ragbot_questions_total counted its outcome too
                self.metrics.failed.labels(type(error).__name__).inc()
            self.post_note(job, FAILURE_TEXT.format(request_id=job.request_id))
        if not self._pool.handed_back():  # a handed-back job's row goes when shutdown has kept it
            self._journal("end", job)

    def _journal(self, step: str, job: QuestionJob) -> None:
        """Note the question as being answered ("begin") or done ("end") in the in-flight journal
        (``bot.runtime.in_flight``), when the serving runtime gave one. Its failure costs only
        the recovery from a kill, never the answer."""
        if self.journal is None:
            return
        try:
            if step == "begin":
                self.journal.begin(job.request_id, journal_entry(job))
            else:
                self.journal.end(job.request_id)
        except Exception as error:  # noqa: BLE001
            log.warning("in-flight journal %s failed for request %s: %s", step, job.request_id, type(error).__name__)

    # --- the one path every question takes ---------------------------------------------
    def handle(self, job: QuestionJob) -> Answer | None:
        if self._deleted(job):
            return None
        self._react(job, "reactions_add")
        try:
            settings = self.settings.for_channel(job.channel_id)
            key = thread_key(self.hasher, job.channel_id, job.thread_ts)
            history = self._history(job, key, settings)
            if not history and job.thread_ts != job.message_ts and asks_nothing_of_its_own(job.text):
                self._take_thread_question(job)
            request = RequestContext(user_id=job.user_id, channel_id=job.channel_id, team_id=job.team_id or "default", history=history, request_id=job.request_id)
            answer = self.pipeline.run(job.text, request, settings=settings)
            if self._pool.handed_back():  # shutdown kept the question; the next start answers it
                log.info("request %s finished after shutdown handed it back; not storing or posting %s", job.request_id, answer.outcome.value)
                return answer
            if self._deleted(job):
                return None
            if not job.addressed and answer.outcome is not Outcome.ANSWERED:  # nobody asked ragbot: no "I couldn't find this", no escalation
                log.info("request %s was not addressed to ragbot and got no answer (%s); staying quiet", job.request_id, answer.outcome.value)
                return answer
            latency_ms = (time.perf_counter() - job.received) * 1000
            try:
                self._store(job, answer, settings, key, latency_ms)
            except IntegrityError:  # another instance adopted it while this one was cut off from the database
                if self.state.questions.get(job.request_id) is None:
                    raise
                log.warning("request %s was answered by another instance meanwhile; not replying twice", job.request_id)
                return answer
            self._after_store(job, answer)
            return answer
        finally:
            self._react(job, "reactions_remove")

    def _deleted(self, job: QuestionJob) -> bool:
        """Whether the asker deleted the question meanwhile (often because it said too much):
        then nothing is answered or stored."""
        asked = [ts for ts in (job.message_ts, job.pointed_at) if ts]
        if not any(self.state.events.seen(deletion_mark(self.hasher, job.channel_id, ts)) for ts in asked):
            return False
        log.info("request %s: the question was deleted in Slack; not answering or storing it", job.request_id)
        return True

    def _history(self, job: QuestionJob, key: str, settings) -> list[Exchange]:
        """What was asked before: the thread's questions; in a DM, where every new message starts
        its own thread, the last minutes' questions when the message reads as a follow-up."""
        if job.thread_ts != job.message_ts:
            return self.state.questions.thread_history(key)
        minutes = settings.dm_follow_up_minutes
        if job.is_dm and minutes and reads_as_follow_up(job.text):
            return self.state.questions.recent_in_channel(self.hasher(job.channel_id), utcnow() - timedelta(minutes=minutes))
        return []

    def _take_thread_question(self, job: QuestionJob) -> None:
        """Asks the message that started the thread, which "@ragbot can you answer this?" points
        at: a person's (then it is theirs), or another app's (a Workflow Builder form), never
        ragbot's own (an escalation post, say). When Slack cannot give it, the words given are
        asked."""
        try:
            message = read_message(self.client, job.channel_id, job.thread_ts, job.thread_ts)
            if not message or self.installation.posted(message):
                return
        except Exception as error:  # noqa: BLE001 - no history scope, rate limited, Slack down
            log.info("could not read the start of request %s's thread: %s", job.request_id, type(error).__name__)
            return
        question = message_question(message)
        if question:
            job.text, job.pointed_at = question, message.get("ts") or job.thread_ts
            job.written_by = message.get("user") if from_a_person(message) else ""

    def _after_store(self, job: QuestionJob, answer: Answer) -> None:
        """Send what was stored. From here the outbox owes the answer: a database that fails now
        only delays it to the retry loop, and a failure note would precede the answer it follows."""
        try:
            if _refused_as_no_question(answer):
                self.state.events.release(message_claim(self.hasher, job.channel_id, job.message_ts))
                self.state.events.claim(refusal_mark(self.hasher, job.channel_id, job.message_ts))
            self.deliverer.flush()
        except Exception:  # noqa: BLE001
            log.exception("request %s is stored but could not be sent now; the retry loop will send it", job.request_id)

    def _store(self, job: QuestionJob, answer: Answer, settings, key: str, latency_ms: float) -> None:
        """Question, replies and escalation go into the database before any Slack call."""
        escalate = answer.escalate and bool(settings.escalation_channel)
        reason = self._redact(answer.escalation_reason or "")  # an error quoted in it may quote the question
        if answer.escalate and not settings.escalation_channel:
            log.warning("request %s should escalate (%s) but no escalation_channel is set", answer.request_id, reason)
        held = escalate and settings.hold_escalated_answers and answer.outcome is Outcome.ANSWERED
        if held and self.metrics is not None:  # ragbot_questions_total says "answered": the asker got none
            self.metrics.held.inc()
        sources = [s.model_dump(mode="json") for s in answer.sources]
        question = self._stored_question(answer)
        record = QuestionRecord(
            request_id=answer.request_id, team_id=job.team_id, user_hash=self.hasher(job.asker_id), channel_hash=self.hasher(job.channel_id),
            thread_key=key, question=question, outcome=answer.outcome.value, confidence=answer.confidence, latency_ms=round(latency_ms, 3),
            answer_text=answer.text_to_store, sources=sources, escalated=escalate, escalation_reason=reason or None, answer_sent=not held,
        )
        replies = bk.messages(bk.answer_blocks(answer, escalated=escalate, held=held), bk.HELD_TEXT if held else answer.text, channel=job.channel_id, thread_ts=job.thread_ts)
        escalation = None
        if escalate:
            escalation = Escalation(
                request_id=answer.request_id, reason=reason or "the pipeline asked for a human", channel_id=job.channel_id,
                thread_ts=job.thread_ts, asker_id=job.asker_id, question=question,
                # a withheld draft stopped before the output checks: it is redacted like the question
                draft=answer.text_to_store if answer.outcome is Outcome.ANSWERED else self._redact(answer.draft or ""),
                draft_sent=answer.outcome is Outcome.ANSWERED and not held, confidence=answer.confidence, sources=sources, escalation_channel=settings.escalation_channel,
            )
        self.state.questions.record(record, replies, escalation)

    def _stored_question(self, answer: Answer) -> str:
        """The checked question (the input guard redacts PII), redacted once more when a redactor is
        configured; a blocked question is not kept at all (it may never have reached redaction)."""
        if answer.outcome is Outcome.BLOCKED:
            return ""
        return self._redact(answer.question)

    def _redact(self, text: str) -> str:
        return self.redactor(text) if self.redactor is not None and text else text

    # --- best-effort Slack calls ----------------------------------------------------------
    def _react(self, job: QuestionJob, method: str) -> None:
        """The hourglass shows the question is being worked on; its failure never matters."""
        try:
            getattr(self.client, method)(channel=job.channel_id, timestamp=job.message_ts, name=WORKING_REACTION)
        except Exception as error:  # noqa: BLE001
            log.debug("%s failed for request %s: %s", method, job.request_id, error)

    def clear_working(self, job: QuestionJob) -> None:
        """Take the hourglass off a question that will not be answered here: a process killed
        while answering it left the hourglass on, and its adopter could not read it back."""
        self._react(job, "reactions_remove")

    def post_note(self, job: QuestionJob, text: str) -> None:
        """A short message in the job's thread, stored first like every reply: a send that ends
        unclear (a timeout, a 5xx) is then looked up before it is sent again, so it shows once.
        When the database cannot take it (often the reason for the failure note), it is posted
        directly: the asker must hear something."""
        message = bk.note(job.channel_id, job.thread_ts, text)
        try:
            row_id = self.state.outbox.enqueue(KIND_REPLY, message, request_id=job.request_id)
        except Exception:  # noqa: BLE001 - nothing to retry from: one direct try
            log.exception("could not store the note for request %s; posting it directly", job.request_id)
            try:
                self.client.chat_postMessage(**message)
            except Exception:  # noqa: BLE001
                log.exception("could not post to request %s's thread either", job.request_id)
            return
        try:
            self.deliverer.send(row_id)  # a Slack failure is logged there; the retry loop sends it later
        except Exception:  # noqa: BLE001 - the row is stored: the retry loop sends it
            log.exception("could not send the note for request %s now; the retry loop will", job.request_id)
