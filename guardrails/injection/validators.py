"""Injection checks: on the question (direct) and on retrieved passages (indirect)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.model_loading import shared_model
from guardrails.base import CheckContext, Verdict
from guardrails.injection.detector import DEFAULT_PATH, InjectionDetector
from guardrails.injection.patterns import pattern_hits, pattern_score
from guardrails.normalize import fold_confusables, fold_leet, normalize_text


@shared_model(maxsize=4)
def get_detector(path: Path | None = None) -> InjectionDetector:
    """The detector at ``path`` (``injection_detector``; default: the shipped one), loaded once per process."""
    return InjectionDetector.load(path or DEFAULT_PATH)


def _embed(texts: list[str]) -> np.ndarray:
    from retrieval.embedder import get_embedder

    return get_embedder().encode(texts)  # the detector was trained on the packaged MiniLM


def injection_scores(texts: list[str], detector: Path | None = None) -> list[float]:
    """Layered score per text: a known phrasing scores 0.95 at once; otherwise the detector's
    probability. Look-alike letters are read as Latin first (they hid attacks from both), and a
    text with leetspeak ("d1sregard y0ur rul3s") is also scored as letters: the higher counts."""
    texts = [fold_confusables(t) for t in texts]
    readings = [(i, fold_leet(t)) for i, t in enumerate(texts)]
    readings = [(i, t) for i, t in readings if t != texts[i]]
    scores = _layered(texts + [t for _, t in readings], detector)
    for extra, (i, _) in enumerate(readings, start=len(texts)):
        scores[i] = max(scores[i], scores[extra])
    return scores[: len(texts)]


def _layered(texts: list[str], detector: Path | None) -> list[float]:
    scores = [pattern_score(t) for t in texts]
    rest = [i for i, s in enumerate(scores) if s == 0.0]
    if rest:
        probs = get_detector(detector).probability([texts[i] for i in rest], _embed([texts[i] for i in rest]))
        for i, p in zip(rest, probs):
            scores[i] = float(p)
    return scores


class InjectionValidator:
    """Prompt injection or jailbreak in the question (patterns, then the learned detector)."""

    name = "injection"
    action_setting = "injection_action"

    def validate(self, text: str, context: CheckContext) -> Verdict:
        score = injection_scores([text], context.settings.injection_detector)[0]
        if score < context.settings.injection_threshold:
            return Verdict(self.name, True, round(score, 4))
        return Verdict(
            self.name, False, round(score, 4),
            "I can't take this message as written: it reads like instructions for me rather than a question "
            "(this check sometimes misfires on ordinary wording). Please rephrase it as a question about our documents.",
        )


# --- indirect injection: instructions aimed at the model inside retrieved documents --------------

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# Words that an instruction aimed at an assistant tends to contain; only sentences with one of
# them go to the (slower) learned detector, so ordinary prose costs only a regex scan. Plain
# imperatives ("print the form", "if you forget your password") are everyday handbook prose
# and are not cues; the known "ignore previous instructions" phrasings are caught by patterns.
_CUES = re.compile(
    r"\b(?:instructions?|prompts?|assistant|AI|chatbot|language model|LLM|GPT|bot|"
    r"pretend|act as|you are now|you must now|from now on|do not tell)\b",
    re.IGNORECASE,
)
# A handbook addresses employees in the imperative ("Act as the incident commander", "You are
# now eligible", "Respond with ack", "Ignore the previous version of this policy"): in a
# passage a question-side pattern counts only beside a word that addresses a model.
_MODEL_CUES = re.compile(
    r"\b(?:instructions?|prompts?|assistant|AI|chatbot|language model|LLM|GPT|bot|model|system|pretend|roleplay|role-play|jailbreak|"
    r"answer(?:s|ing)?|respon(?:d|se)|reply|repl(?:ies|ying)|say|output|print|user|conversation|chat)\b",
    re.IGNORECASE,
)
INERT = "[text addressed to the assistant removed]"


@dataclass
class PassageFinding:
    sentence: str
    score: float


def flag_sentences(text: str, threshold: float, detector: Path | None = None) -> list[PassageFinding]:
    """Sentences of a passage that read as instructions to the model."""
    sentences = [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]
    flagged, cued, originals = [], [], []
    for sentence in sentences:
        seen = fold_confusables(normalize_text(sentence))  # zero-width and look-alike tricks hide nothing here either
        hit = pattern_hits(seen)
        if hit and _MODEL_CUES.search(seen):
            flagged.append(PassageFinding(sentence, 0.95))
        elif hit or _CUES.search(seen):  # a pattern without a model cue: the detector decides
            cued.append(seen)
            originals.append(sentence)
    if cued:
        probs = get_detector(detector).probability(cued, _embed(cued))
        flagged.extend(PassageFinding(s, float(p)) for s, p in zip(originals, probs) if p >= threshold)
    return flagged


def neutralize(text: str, findings: list[PassageFinding]) -> str:
    for finding in findings:
        text = text.replace(finding.sentence, INERT)
    return text


class PassageInjectionValidator:
    """Checks one retrieved passage; the fix replaces the instruction sentences with an inert marker."""

    name = "indirect_injection"
    action_setting = "indirect_injection_action"

    def validate(self, text: str, context: CheckContext) -> Verdict:
        findings = flag_sentences(text, context.settings.indirect_injection_threshold, context.settings.injection_detector)
        if not findings:
            return Verdict(self.name, True, 0.0)
        return Verdict(
            self.name, False, round(max(f.score for f in findings), 4),
            "A retrieved document contained instructions aimed at the assistant; they were not followed.",
            fixed=neutralize(text, findings),
        )
