"""The working state of one question while it passes through the pipeline's stages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from adapters.base import Passage
from bot.answer import Outcome, Source, StageTrace
from bot.settings import Settings
from retrieval.types import Hit


@dataclass(frozen=True)
class Exchange:
    """An earlier question of the thread and, when a human answered its escalation, their answer.
    The bot's own answers are not carried: the small model copied them into the next answer, and
    their words (a fallback's, or the last section's) pulled the next search away from the topic."""

    question: str
    answer: str = ""


@dataclass
class RequestContext:
    """Who asked, where, and what was said before in the thread (empty for the CLI)."""

    user_id: str = "cli"
    channel_id: str = "cli"
    team_id: str = "default"
    history: list[Exchange] = field(default_factory=list)
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


@dataclass
class Turn:
    """Mutable state shared by the stages; a stage ends the turn by calling :meth:`stop`."""

    question: str
    settings: Settings
    request: RequestContext = field(default_factory=RequestContext)
    query: str = ""  # normalized question used for search and generation (high-risk PII removed)
    stored_question: str = ""  # the question as it may be logged or stored (all PII redacted)
    hits: list[Hit] = field(default_factory=list)
    relevance: float | None = None
    passages: list[Passage] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    draft: str | None = None  # generator output before output checks
    text: str | None = None  # final reply text
    stored_text: str | None = None  # the reply as it may be stored, when that differs (personal data the asker typed replaced)
    outcome: Outcome | None = None
    confidence: float = 0.0
    escalate: bool = False
    escalation_reason: str | None = None
    trace: list[StageTrace] = field(default_factory=list)
    adapter: str | None = None
    tokens: dict[str, int] = field(default_factory=dict)
    resume_at: str | None = None  # a stage may jump ahead: the answer cache resumes at the output checks

    stopped: bool = False

    def stop(self, outcome: Outcome, text: str, reason: str, *, escalate: bool = False) -> None:
        """End the turn early with ``outcome``; ``reason`` goes into the trace and escalation."""
        self.stopped = True
        self.outcome = outcome
        self.text = text
        if outcome is not Outcome.ANSWERED:
            self.confidence = 0.0
        if escalate:
            self.request_escalation(reason)
        self.note(decision=outcome.value, reason=reason)

    def request_escalation(self, reason: str) -> None:
        self.escalate = True
        self.escalation_reason = self.escalation_reason or reason

    def note(self, decision: str | None = None, **details: Any) -> None:
        """Record a decision and scores on the current (last started) stage's trace."""
        if not self.trace:
            return
        current = self.trace[-1]
        if decision is not None:
            current.decision = decision
        current.details.update(details)
