"""What the pipeline returns: the answer, its outcome, its sources and a trace of every stage."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, Field


class Outcome(str, Enum):
    ANSWERED = "answered"
    FALLBACK = "fallback"
    BLOCKED = "blocked"


class Source(BaseModel):
    """A passage the generator was given, numbered as the answer cites it (``[n]``)."""

    n: int
    title: str
    location: str
    score: float
    doc_id: str = ""
    section: str = ""
    url: str = ""  # where a reader can open it (settings.source_links), when known

    @property
    def heading(self) -> str:
        """The title, then the section path below it: two passages of one document differ."""
        below = "" if self.section == self.title else self.section.removeprefix(f"{self.title} > ")
        return f"{self.title} › {below.replace(' > ', ' › ')}" if below and self.title else (self.title or below)


class StageTrace(BaseModel):
    """One stage's record: how long it took, what it decided, and the scores behind that."""

    stage: str
    duration_ms: float = 0.0
    decision: str = "continue"
    details: dict[str, Any] = Field(default_factory=dict)


class Answer(BaseModel):
    text: str
    outcome: Outcome
    confidence: float = Field(ge=0.0, le=1.0)
    sources: list[Source] = Field(default_factory=list)
    trace: list[StageTrace] = Field(default_factory=list)
    escalate: bool = False
    escalation_reason: str | None = None
    request_id: str = ""
    question: str = ""  # the question as the input checks left it (PII redacted): safe to store and show
    draft: str | None = None  # the checked draft answer, also when it was withheld (for escalation reviewers)
    stored_text: str | None = None  # ``text`` as it may be stored, when that differs (personal data the asker typed replaced)

    @property
    def text_to_store(self) -> str:
        return self.stored_text if self.stored_text is not None else self.text

    def public_json(self) -> dict[str, Any]:
        """The documented JSON shape of ``ragbot ask --json``."""
        return self.model_dump(mode="json", include={"text", "outcome", "confidence", "sources", "trace", "escalate", "escalation_reason", "request_id"})

    def stage(self, name: str) -> StageTrace | None:
        return next((t for t in self.trace if t.stage == name), None)
