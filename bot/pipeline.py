"""The question-answering pipeline: a list of stages run in order over one :class:`Turn`."""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol, runtime_checkable

from bot.answer import Answer, Outcome, StageTrace
from bot.settings import Settings
from bot.turn import RequestContext, Turn

log = logging.getLogger(__name__)

ERROR_TEXT = (
    "Sorry, something went wrong on my side while answering ({stage} failed). "
    "I've noted it (request {request_id}); a human can help with the button below."
)


@runtime_checkable
class Stage(Protocol):
    """One step of the pipeline. It reads and writes the turn; ``turn.stop`` ends the run."""

    name: str

    def run(self, turn: Turn) -> None: ...


class AnswerObserver(Protocol):
    """Sees every finished question (answer, working state, pipeline time in ms)."""

    def on_answer(self, answer: Answer, turn: Turn, total_ms: float) -> None: ...


class Pipeline:
    """Runs stages in order, timing each into the answer's trace. A failing stage never
    escapes as an exception: the asker gets a polite message and the trace says what broke."""

    def __init__(self, stages: list[Stage], settings: Settings, observers: list[AnswerObserver] | None = None) -> None:
        self.stages = stages
        self.settings = settings
        self.observers: list[AnswerObserver] = list(observers or [])

    def run(
        self,
        question: str,
        request: RequestContext | None = None,
        *,
        settings: Settings | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> Answer:
        effective = (settings or self.settings).with_overrides(overrides or {})
        turn = Turn(question=question, settings=effective, request=request or RequestContext())
        run_started = time.perf_counter()
        for stage in self.stages:
            if turn.resume_at is not None:  # skipped stages leave no trace
                if stage.name != turn.resume_at:
                    continue
                turn.resume_at = None
            trace = StageTrace(stage=stage.name)
            turn.trace.append(trace)
            started = time.perf_counter()
            try:
                stage.run(turn)
            except Exception as error:  # noqa: BLE001 - any stage failure becomes a visible reply
                # the type only: an error's message may quote the question (the traceback, message included, at DEBUG)
                log.error("stage %s failed (request %s): %s", stage.name, turn.request.request_id, type(error).__name__)
                log.debug("stage %s failure in request %s", stage.name, turn.request.request_id, exc_info=True)
                # an outage (store down after retries) says so in its own words
                text = getattr(error, "user_message", None) or ERROR_TEXT.format(stage=stage.name, request_id=turn.request.request_id)
                turn.stop(Outcome.FALLBACK, text, f"{stage.name} error: {type(error).__name__}", escalate=True)
                trace.details["error"] = f"{type(error).__name__}: {error}"[:500]
                trace.decision = "error"
            finally:
                trace.duration_ms = round((time.perf_counter() - started) * 1000, 3)
            if turn.stopped:
                break
        answer = _answer(turn)
        self._notify(answer, turn, (time.perf_counter() - run_started) * 1000)
        return answer

    def _notify(self, answer: Answer, turn: Turn, total_ms: float) -> None:
        """Tell observers (question log, metrics) about every answer; they never break a reply."""
        for observer in self.observers:
            try:
                observer.on_answer(answer, turn, total_ms)
            except Exception:  # noqa: BLE001
                log.exception("answer observer %r failed (request %s)", observer, turn.request.request_id)


def _answer(turn: Turn) -> Answer:
    if turn.outcome is None:
        turn.outcome = Outcome.ANSWERED
    if turn.text is None:
        turn.text = turn.draft or ""
    confidence = min(max(turn.confidence, 0.0), 1.0)
    if turn.outcome is Outcome.ANSWERED and confidence < turn.settings.escalation_threshold:
        turn.request_escalation(f"confidence {confidence:.2f} under escalation_threshold")
    return Answer(
        text=turn.text,
        outcome=turn.outcome,
        confidence=confidence,
        sources=turn.sources,
        trace=turn.trace,
        escalate=turn.escalate,
        escalation_reason=turn.escalation_reason,
        request_id=turn.request.request_id,
        question=turn.stored_question or turn.query,
        draft=turn.draft,
        stored_text=turn.stored_text,
    )
