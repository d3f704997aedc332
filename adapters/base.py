"""The generator protocol every backend (local transformers, OpenAI-compatible HTTP) follows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass
class Passage:
    """A numbered context passage as shown to the model (``[n]``)."""

    n: int
    title: str
    text: str


@dataclass
class Generation:
    text: str
    model: str
    adapter: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # mean log-probability of the generated tokens (local backend; None when unknown): how
    # sure the model was of its own words, a confidence signal for selective answering
    mean_logprob: float | None = None


class GeneratorError(RuntimeError):
    """The generator failed or timed out; the pipeline turns this into a polite reply."""


class GeneratorTimeout(GeneratorError):
    """The generator did not answer within its time limit (the reply says so; other failures do not)."""


@runtime_checkable
class Generator(Protocol):
    """Drafts an answer from numbered passages. Backends may also accept ``settings=`` (the
    request's effective settings, runtime overrides applied); the generate stage passes it
    only to backends whose ``generate`` has that parameter."""

    def generate(self, question: str, passages: list[Passage], *, history: list[str] | None = None) -> Generation: ...
