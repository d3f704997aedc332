"""A serving bot's life: warm-up and readiness, questions kept across restarts, graceful stop.

``start``: load every model in the background (``/ready`` turns 200 when done), expose the
open-escalation count to Prometheus, and re-queue the questions the last shutdown could not
finish. ``shutdown``: stop taking questions, let the queue drain for ``shutdown_grace_s``,
store what is left (question redacted, routing ids, request id) and close the generator.
A re-queued question whose request id already has a stored answer is skipped, so nobody
gets two replies; one whose text had personal data redacted is not answered from the
redacted words (a worse answer or a fallback): the asker is asked to send it again.

A process killed without a shutdown (SIGKILL, the OOM killer) keeps nothing itself: every
question is journaled from receipt to reply (``bot.runtime.in_flight``), and the rows of a
process that stopped renewing them are adopted by a live one, which reads the question back
from Slack and answers it (or, when it cannot be read, asks the asker to send it again).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from bot.observability.health import ObservabilityServer, route, warm_up
from bot.observability.question_log import default_redactor, install_json_handler
from bot.runtime.in_flight import RENEW_EVERY_S, InFlightQuestions
from bot.runtime.pending import PendingQuestions
from bot.runtime.resilience import slack_refused
from bot.runtime.wiring import ServingParts
from bot.slack.incoming import read_question
from bot.slack.worker import QuestionJob, journal_entry

log = logging.getLogger(__name__)

ASK_AGAIN_TEXT = (
    "I was restarted while answering this. Your question named personal details, which I don't keep "
    "across a restart, so please ask it again."
)
READ_BACK_PATIENCE_S = 600.0  # Slack failing for now (5xx, 429, a timeout): the read is tried again until then
ADOPT_BUDGET_S = 60.0  # one round of adoption; the rest waits for the next round (or another instance)
LOST_TEXT = "I was restarted while answering this and couldn't read your question back; please ask it again."


def _job_payload(job: Any, redactor: Any) -> dict[str, Any]:
    payload = journal_entry(job)  # where to answer, and when it was asked by the wall clock
    text = job.text or ""
    try:
        payload["text"] = redactor(text) if redactor is not None else text
        payload["redacted"] = payload["text"] != text
    except Exception:  # noqa: BLE001 - no raw text at rest: the next start asks the asker to send it again
        log.exception("redacting a kept question failed (request %s); its asker will be asked to send it again", payload.get("request_id"))
        payload["text"], payload["redacted"] = "", True
    return payload


def _job(payload: dict[str, Any]) -> QuestionJob:
    """The job a kept or journaled payload describes; a monotonic clock reading means nothing
    after a restart, so the time it waited is counted from the wall-clock moment it was asked."""
    job = QuestionJob(**{"text": ""} | {k: v for k, v in payload.items() if k in QuestionJob.__dataclass_fields__})
    job.received -= max(0.0, time.time() - float(payload.get("received_at") or time.time()))
    return job


class ServingRuntime:
    """Ties the Slack bot, the serving parts and the pending-question store together."""

    def __init__(self, bot: Any, parts: ServingParts, settings: Any, pending: PendingQuestions | None = None,
                 in_flight: InFlightQuestions | None = None) -> None:
        self.bot = bot
        self.parts = parts
        self.settings = settings
        self.pending = pending or PendingQuestions(bot.state.db.engine)
        self.in_flight = in_flight or InFlightQuestions(bot.state.db.engine)
        self.server: ObservabilityServer | None = None
        self._warm_thread: threading.Thread | None = None
        self._journal_threads: list[threading.Thread] = []
        self._stop_adopting = threading.Event()  # set at shutdown: adopt no more
        self._stop_renewing = threading.Event()  # set once the questions are finished or kept
        self.recovered = 0

    # --- start ----------------------------------------------------------------------------
    def start(self, *, metrics_server: bool = False, warm: bool = True, json_log: bool = True) -> "ServingRuntime":
        if json_log:
            install_json_handler()  # question lines bare on stderr, whatever the root log format
        escalations = self.bot.state.escalations
        self.parts.metrics.track_open_escalations(escalations.count_open)
        self.bot.worker.journal = self.in_flight  # before recovery: re-queued questions are journaled too
        self._journal_threads = [threading.Thread(target=self._renew_leases, name="ragbot-in-flight-leases", daemon=True)]
        self._journal_threads[0].start()
        self.recovered = self.recover()
        self._journal_threads.append(threading.Thread(target=self._adopt_loop, name="ragbot-in-flight-adopt", daemon=True))
        self._journal_threads[1].start()
        if warm:
            self._warm_thread = threading.Thread(target=self.warm_up, name="ragbot-warm-up", daemon=True)
            self._warm_thread.start()
        if metrics_server and self.settings.metrics_port:
            host, port = self.settings.metrics_host, self.settings.metrics_port
            try:
                self.server = ObservabilityServer(self.parts.readiness, self.parts.metrics, host, port).start()
                log.info("metrics, health and readiness on http://%s:%s/", host, self.server.port)
            except OSError as error:  # the bot still answers; only the scrape endpoint is missing
                log.error("cannot serve /metrics on %s:%s (%s); set metrics_port (0 turns it off)", host, port, error)
        return self

    def warm_up(self) -> bool:
        return warm_up(self.bot.worker.pipeline, self.parts.readiness, self.parts.metrics)

    def wait_ready(self, timeout: float) -> bool:
        if self._warm_thread is not None:
            self._warm_thread.join(timeout)
        return self.parts.readiness.ready

    def routes(self, path: str) -> tuple[int, str, bytes] | None:
        """For the HTTP server's ``extra_routes``: /metrics, /health, /ready."""
        return route(path, self.parts.readiness, self.parts.metrics)

    def recover(self) -> int:
        """Re-queue the questions the previous run kept; returns how many were queued now. Those
        beyond the queue's room stay kept and are fed in as it frees: they were accepted once, so
        they are never turned away."""
        queued, overflow = self._requeue(self._take(None))
        if overflow:
            self._keep(overflow)
            threading.Thread(target=self._feed_kept, name="ragbot-recovery", daemon=True).start()
        return queued

    def _take(self, limit: int | None) -> list[dict[str, Any]]:
        try:
            return self.pending.take(limit)
        except Exception:  # noqa: BLE001
            log.exception("could not read the questions kept by the last shutdown")
            return []

    def _keep(self, payloads: list[dict[str, Any]]) -> None:
        try:
            self.pending.save(payloads, reason="queue full at restart")
        except Exception:  # noqa: BLE001
            log.exception("could not keep %d question(s) that did not fit the queue", len(payloads))

    def _keep_at_shutdown(self, payloads: list[dict[str, Any]]) -> None:
        """Keep the unfinished questions and clear this process's journal rows, in one
        transaction when both tables share the database (kept and still journaled, a question
        would be answered twice)."""
        if self.pending.engine is self.in_flight.engine:
            with self.pending.engine.begin() as conn:
                self.pending.save(payloads, conn=conn)
                self.in_flight.release_all(conn)
            return
        self.pending.save(payloads)
        self.in_flight.release_all()

    def _requeue(self, payloads: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
        """Queue kept questions in order; returns (queued, the ones that did not fit)."""
        queued, overflow = 0, []
        for payload in payloads:
            if self.bot.state.questions.get(payload.get("request_id", "")) is not None:
                continue  # it was answered after all (it finished just as the last run stopped)
            job = _job(payload)
            if payload.get("redacted"):  # answering "...the hotel limit in [LOCATION]?" would fall back or mislead
                self.bot.worker.post_note(job, ASK_AGAIN_TEXT)
                continue
            if overflow or not self.bot.worker.submit(job, kept=True):  # once full, later ones wait too: order kept
                overflow.append(payload)
            else:
                queued += 1
        if payloads:
            log.info("re-queued %d of %d kept question(s); %d wait for room", queued, len(payloads), len(overflow))
        return queued, overflow

    def _feed_kept(self) -> None:
        """Queue the kept questions that did not fit at start, one as each place frees, until
        none is left or intake stops (what is left then stays kept for the next start)."""
        worker = self.bot.worker
        while worker.accepting:
            if not worker.wait_for_room(1.0):
                continue
            payloads = self._take(1)
            if not payloads:
                return
            _, overflow = self._requeue(payloads)
            if overflow:  # a new question took the place first
                self._keep(overflow)
                time.sleep(0.2)

    # --- questions of a process that died -----------------------------------------------
    def _renew_leases(self) -> None:
        """Its own thread: however slow an adoption (Slack reads), this process's leases must
        not run out while it is alive, or another instance would adopt its live questions."""
        while True:
            try:
                self.in_flight.renew()
            except Exception as error:  # noqa: BLE001 - the database is down: try again next round
                log.warning("could not renew the in-flight journal: %s", type(error).__name__)
            if self._stop_renewing.wait(RENEW_EVERY_S):
                return

    def _adopt_loop(self) -> None:
        while not self._stop_adopting.is_set():
            self.adopt_orphans()
            self._stop_adopting.wait(RENEW_EVERY_S)

    def adopt_orphans(self, budget_s: float = ADOPT_BUDGET_S) -> int:
        """Answer the questions a dead process left, one at a time for at most ``budget_s``:
        each is read back from Slack and queued, or the asker is asked to send it again when it
        cannot be read; one that finds no room (a full queue, a shutdown) is given back for a
        later round or another instance. Returns how many were queued."""
        queued, started = 0, time.monotonic()
        while not self._stop_adopting.is_set() and time.monotonic() - started < budget_s:
            try:
                payload = self.in_flight.adopt_one()
            except Exception as error:  # noqa: BLE001
                log.warning("could not read the in-flight journal: %s", type(error).__name__)
                return queued
            if payload is None:
                break
            try:
                queued += self._adopt(payload)
            except Exception as error:  # noqa: BLE001 - the database went away mid-way: a later round tries again
                log.warning("could not adopt request %s: %s", payload.get("request_id"), type(error).__name__)
                try:
                    self.in_flight.give_back(payload.get("request_id", ""))
                except Exception:  # noqa: BLE001 - its lease runs out on its own once this process stops renewing it
                    return queued
        return queued

    def _adopt(self, payload: dict[str, Any]) -> bool:
        job = _job({**payload, "text": ""})
        if self.bot.state.questions.get(job.request_id) is not None:  # answered just before the process died
            self.in_flight.end(job.request_id)
            return False
        try:
            job.text = read_question(self.bot.client, job.channel_id, job.message_ts, job.thread_ts)
        except Exception as error:  # noqa: BLE001 - no history scope, not in the channel, Slack down
            if not slack_refused(error) and time.time() - float(payload.get("received_at") or 0) < READ_BACK_PATIENCE_S:
                log.info("could not read back request %s from Slack yet (%s); trying again later", job.request_id, type(error).__name__)
                self.in_flight.give_back(job.request_id)
                return False
            log.warning("could not read back request %s from Slack (%s); asking to send it again", job.request_id, type(error).__name__)
        if not job.text:
            self.bot.worker.post_note(job, LOST_TEXT)
            self.bot.worker.clear_working(job)
            self.in_flight.end(job.request_id)
            return False
        if not self.bot.worker.submit(job, kept=True, journaled=True):
            self.in_flight.give_back(job.request_id)
            return False
        log.warning("request %s of a process that stopped without a shutdown was read back from Slack and queued again", job.request_id)
        return True

    # --- stop -----------------------------------------------------------------------------
    def shutdown(self) -> Any:
        """Finish or keep every question, then release the generator and the metrics server."""
        self._stop_adopting.set()  # an orphan taken now would only be turned away
        if len(self._journal_threads) > 1:
            self._journal_threads[1].join(timeout=5)
        report = self.bot.worker.shutdown(wait=True, grace_s=self.settings.shutdown_grace_s)
        self._stop_renewing.set()
        redactor = getattr(self.bot.worker, "redactor", None) or default_redactor()
        payloads = [_job_payload(job, redactor) for job in report.unfinished]
        try:
            self._keep_at_shutdown(payloads)
            if payloads:
                log.warning("kept %d unfinished question(s) for the next start", len(payloads))
        except Exception:  # noqa: BLE001 - their journal rows stay: a later start adopts them from Slack
            log.exception("could not keep %d unfinished question(s)", len(payloads))
        self.parts.close()
        if self.server is not None:
            self.server.stop()
        return report
