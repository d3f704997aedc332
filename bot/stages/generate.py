"""Generation stage: the model drafts a short cited answer, or abstains."""

from __future__ import annotations

import inspect
import re

from adapters.base import Generator, GeneratorError, GeneratorTimeout
from bot.answer import Outcome
from bot.settings import UNSUPPORTED_TEXT
from bot.stages.retrieve import history_lines
from bot.turn import Turn

_ABSTAIN = re.compile(
    r"\b(i\s+(do\s+not|don't|dont)\s+know|not\s+(mentioned|stated|found|given|provided)\s+in\s+the\s+(context|passages?|sources?)"
    r"|(context|passages?|sources?)\s+(does|do)\s+not\s+(contain|say|mention))\b",
    re.IGNORECASE,
)


def is_abstention(text: str) -> bool:
    return not text.strip() or bool(_ABSTAIN.search(text))


class GenerateStage:
    name = "generate"

    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        # Backends that accept per-request settings see runtime overrides (adapter, timeout).
        self._per_request_settings = "settings" in inspect.signature(generator.generate).parameters

    def run(self, turn: Turn) -> None:
        extra = {"settings": turn.settings} if self._per_request_settings else {}
        try:
            generation = self.generator.generate(turn.query, turn.passages, history=history_lines(turn), **extra)
        except GeneratorError as error:
            timed_out = isinstance(error, GeneratorTimeout)
            turn.note(error=str(error)[:300], failure="timeout" if timed_out else type(error).__name__)
            why = "in time" if timed_out else "this time (the answering model is not working)"
            turn.stop(
                Outcome.FALLBACK,
                f"Sorry, I couldn't put an answer together {why}. A human can help with the button below.",
                f"generator {'timed out' if timed_out else 'failed'}: {error}",
                escalate=True,
            )
            return
        turn.draft = generation.text.strip()
        turn.adapter = generation.adapter
        turn.tokens = {"prompt": generation.prompt_tokens, "completion": generation.completion_tokens}
        sureness = generation.mean_logprob
        turn.note(model=generation.model, adapter=generation.adapter, mean_logprob=sureness,
                  **{f"tokens_{k}": v for k, v in turn.tokens.items()})
        if is_abstention(turn.draft):
            # the gate found related passages: "I couldn't find this" would read as false
            turn.stop(Outcome.FALLBACK, UNSUPPORTED_TEXT, "the model found no answer in the passages", escalate=True)
            return
        threshold = turn.settings.min_answer_logprob
        if threshold is not None and sureness is not None and sureness < threshold:
            turn.stop(Outcome.FALLBACK, UNSUPPORTED_TEXT, f"the model was unsure of its answer (mean token log-probability "
                      f"{sureness:.2f} under min_answer_logprob {threshold:.2f})", escalate=True)
