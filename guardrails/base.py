"""Validators and their on-fail actions (fix, refrain, escalate, block).

A validator only judges; what happens on failure is chosen in settings and applied by
:func:`run_validators`, so the same check can repair in one deployment and block in another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bot.settings import OnFail, Settings


@dataclass
class Verdict:
    validator: str
    passed: bool
    score: float | None = None
    message: str = ""  # why it failed, in words the asker understands
    fixed: str | None = None  # the repaired text, when the validator can repair it
    action: str = "none"  # the action taken: none, fix, refrain, escalate, block
    redacted: str | None = None  # the text as it may be logged or stored, when that differs from ``fixed``
    kept: tuple[tuple[str, str], ...] = ()  # (value, placeholder): shown to the asker, replaced wherever the text is stored

    def as_trace(self) -> dict[str, Any]:
        return {"passed": self.passed, "score": self.score, "action": self.action, "message": self.message}


@dataclass
class CheckContext:
    """What a check may look at besides the text: settings, the sources given, the question, the asker."""

    settings: Settings
    question: str = ""
    source_texts: list[str] = field(default_factory=list)
    n_sources: int = 0
    user_id: str = ""  # who asked and where (rate limits); empty when unknown
    channel_id: str = ""
    earlier_questions: list[str] = field(default_factory=list)  # the thread's, as the model saw them
    cut_short: bool = False  # the model stopped at max_new_tokens, most likely mid-sentence


@runtime_checkable
class Validator(Protocol):
    name: str
    action_setting: str  # the Settings field that holds this check's on-fail action

    def validate(self, text: str, context: CheckContext) -> Verdict: ...


@dataclass
class CheckResult:
    text: str
    verdicts: list[Verdict]
    stop: OnFail | None = None  # refrain or block: the turn must end
    escalate: bool = False
    message: str = ""


def run_validators(text: str, validators: list[Validator], context: CheckContext) -> CheckResult:
    """Run ``validators`` in order, applying each one's configured on-fail action."""
    result = CheckResult(text=text, verdicts=[])
    for validator in validators:
        verdict = validator.validate(result.text, context)
        result.verdicts.append(verdict)
        if verdict.passed:
            continue
        action: OnFail = getattr(context.settings, validator.action_setting)
        if action == "fix" and verdict.fixed is not None:
            verdict.action = "fix"
            result.text = verdict.fixed
            continue
        if action == "fix":  # nothing to repair with: refraining is the safe reading of "fix"
            action = "refrain"
        verdict.action = action
        if action == "escalate":
            result.escalate = True
            result.message = result.message or verdict.message
            continue
        result.stop = action
        result.message = verdict.message
        break
    return result
