"""Indirect-injection guard: retrieved passages that carry instructions aimed at the model are
neutralized (``fix``: those sentences replaced by an inert marker) before the generator sees them."""

from __future__ import annotations

from bot.stages.guard import _apply
from bot.turn import Turn
from bot.settings import Settings
from guardrails.base import CheckContext, CheckResult, Validator, run_validators


def build_passage_guard(settings: Settings) -> "PassageGuardStage":
    from guardrails.input import passage_validators

    return PassageGuardStage(passage_validators(settings))


class PassageGuardStage:
    name = "passage_guard"

    def __init__(self, validators: list[Validator]) -> None:
        self.validators = validators

    def run(self, turn: Turn) -> None:
        context = CheckContext(settings=turn.settings, question=turn.query, n_sources=len(turn.passages))
        combined = CheckResult(text="", verdicts=[])
        flagged = []
        for passage in turn.passages:
            result = run_validators(passage.text, self.validators, context)
            passage.text = result.text
            if any(not v.passed for v in result.verdicts):
                flagged.append(passage.n)
            for verdict in result.verdicts:  # the worst verdict of each check is the one traced
                previous = next((v for v in combined.verdicts if v.validator == verdict.validator), None)
                if previous is None:
                    combined.verdicts.append(verdict)
                elif (verdict.score or 0.0) > (previous.score or 0.0):
                    combined.verdicts[combined.verdicts.index(previous)] = verdict
            combined.escalate = combined.escalate or result.escalate
            combined.message = combined.message or result.message
            if result.stop is not None:
                combined.stop = result.stop
                break
        turn.note(flagged_passages=flagged)
        _apply(turn, combined)
