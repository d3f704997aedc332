"""Input and output guard stages: run validators and turn their verdicts into the turn's fate."""

from __future__ import annotations

from bot.answer import Outcome
from bot.settings import FALLBACK_TEXT, UNSUPPORTED_TEXT
from bot.turn import Turn
from guardrails.base import CheckContext, CheckResult, Validator, run_validators

# an answer the groundedness check could not score (too short: "Yes [1].") verified no claim
UNVERIFIED_CONFIDENCE = 0.6
ESCALATED_TEXT = (
    "I'm not confident enough to answer this one myself, so I've passed it to a human. "
    "They'll reply in this thread."
)


def _apply(turn: Turn, result: CheckResult, refrain_text: str = FALLBACK_TEXT) -> None:
    turn.note(verdicts={v.validator: v.as_trace() for v in result.verdicts})
    if result.stop == "block":
        turn.stop(Outcome.BLOCKED, result.message or "I can't help with that request.", "blocked by a check")
    elif result.stop == "refrain":
        turn.stop(Outcome.FALLBACK, refrain_text, result.message or "a check refrained", escalate=True)
    elif result.escalate:
        turn.stop(Outcome.FALLBACK, ESCALATED_TEXT, result.message or "a check asked for a human", escalate=True)


def _stopped_before(result: CheckResult, validators: list[Validator], name: str) -> bool:
    """The checks stopped before the one called ``name`` (a PII check) had its turn: what they
    leave behind must be redacted by its caller instead."""
    ran = {v.validator for v in result.verdicts}
    return bool(result.stop) and any(v.name == name and v.name not in ran for v in validators)


class InputGuardStage:
    """Checks the question before anything else sees it; ``turn.query`` is the cleaned text."""

    name = "input_guard"

    def __init__(self, validators: list[Validator]) -> None:
        self.validators = validators

    def run(self, turn: Turn) -> None:
        context = CheckContext(
            settings=turn.settings, question=turn.question, user_id=turn.request.user_id, channel_id=turn.request.channel_id
        )
        result = run_validators(turn.question, self.validators, context)
        turn.query = result.text
        turn.stored_question = next((v.redacted for v in result.verdicts if v.redacted is not None), result.text)
        if _stopped_before(result, self.validators, "input_pii"):
            from guardrails.pii.records import question_for_records  # stopped before PII was redacted

            turn.query = turn.stored_question = question_for_records(turn.question, turn.settings.max_question_chars)
        _apply(turn, result)


class OutputGuardStage:
    """Checks the generated draft against the sources it was given; ``turn.text`` is the reply."""

    name = "output_guard"

    def __init__(self, validators: list[Validator]) -> None:
        self.validators = validators

    def run(self, turn: Turn) -> None:
        context = CheckContext(
            settings=turn.settings,
            question=turn.query,
            source_texts=[p.text for p in turn.passages],
            n_sources=len(turn.passages),
            earlier_questions=[e.question for e in turn.request.history],
            cut_short=(turn.tokens or {}).get("completion", 0) >= turn.settings.max_new_tokens,
        )
        result = run_validators(turn.draft or "", self.validators, context)
        for verdict in result.verdicts:  # checks that score support (groundedness) cap confidence
            if verdict.validator == "groundedness":
                # too short to score ("Yes [1].") is no verified claim either: at most medium
                turn.confidence = min(turn.confidence, verdict.score if verdict.score is not None else UNVERIFIED_CONFIDENCE)
        turn.text = result.text
        turn.draft = result.text  # the checked draft: what escalation reviewers see if it is withheld
        if _stopped_before(result, self.validators, "output_pii"):
            from guardrails.pii import redact  # withheld before the PII check ran (grounding goes first)

            turn.draft = redact(turn.draft)
        _apply(turn, result, refrain_text=UNSUPPORTED_TEXT)
        kept = tuple(pair for verdict in result.verdicts for pair in verdict.kept)
        if kept and turn.text:  # the asker's own words, shown to them but not stored
            from guardrails.pii.validators import conceal

            turn.stored_text = conceal(turn.text, kept)
