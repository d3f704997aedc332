"""PII checks for the question (before logs and storage) and for the answer (before Slack)."""

from __future__ import annotations

import re
from collections import Counter

from guardrails.base import CheckContext, Verdict
from guardrails.pii.engine import HIGH_RISK, get_engine, placeholder


def _summary(findings) -> str:
    counts = Counter(f.entity_type for f in findings)
    return ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))


class QuestionPiiValidator:
    """Personal data in the question is redacted before anything logs or stores it (``redacted``).

    The search and the (self-hosted) generator get the question with only high-risk types
    removed (``fixed``): card numbers and secrets never help an answer, but the place or
    person a question is about does ("What is the hotel limit in London?")."""

    name = "input_pii"
    action_setting = "input_pii_action"

    def validate(self, text: str, context: CheckContext) -> Verdict:
        engine = get_engine()
        findings = engine.analyze(text)
        if not findings:
            return Verdict(self.name, True, 0.0)
        return Verdict(
            self.name, False, max(f.score for f in findings),
            f"Your question contains personal data ({_summary(findings)}); please leave it out.",
            fixed=engine.anonymize(text, [f for f in findings if f.entity_type in HIGH_RISK]),
            redacted=engine.anonymize(text, findings),
        )


def unsourced_pii(text: str, sources: list[str]) -> list:
    """Findings in ``text`` that are high-risk or that no source shows verbatim."""
    return [f for f in get_engine().analyze(text) if f.entity_type in HIGH_RISK or not _quoted(text[f.start:f.end], sources)]


def _quoted(value: str, sources: list[str]) -> bool:
    """``value`` appears in a source as a whole (a word-bounded match): "Ben" is not quoted by
    "Benefits", nor ana@x.com by dana@x.com."""
    pattern = _whole(value)
    return any(pattern.search(source) for source in sources)


def _whole(value: str) -> re.Pattern:
    return re.compile(rf"(?<![\w.@-]){re.escape(value)}(?![\w@-])")


SUBJECT_TYPES = frozenset({"PERSON", "LOCATION"})  # what a question can be about (kept for search too)


def conceal(text: str, kept: tuple[tuple[str, str], ...]) -> str:
    """``text`` with each kept value (whole words only) replaced by its placeholder."""
    for value, mark in kept:
        text = _whole(value).sub(mark, text)
    return text


class AnswerPiiValidator:
    """High-risk PII is always redacted. Other PII stays only if the sources show it verbatim
    and ``pii_allow_from_sources`` is on (a handbook's own contact list may be quoted), or if
    it is the person or place the question is about: "the hotel limit in Berlin" is answered
    about Berlin, not "[LOCATION]" (an email or phone number the asker typed is still
    redacted: repeating it helps nobody). What the asker typed is theirs to see in their
    thread but not to keep: ``kept`` lists those values with their placeholders, for wherever
    the answer is stored."""

    name = "output_pii"
    action_setting = "output_pii_action"

    def validate(self, text: str, context: CheckContext) -> Verdict:
        engine = get_engine()
        findings = engine.analyze(text)
        sources = context.source_texts if context.settings.pii_allow_from_sources else []
        risky, echoed = [], []
        for finding in findings:
            value = text[finding.start:finding.end]
            if finding.entity_type in HIGH_RISK:
                risky.append(finding)
            elif not _quoted(value, sources):
                asked_about = finding.entity_type in SUBJECT_TYPES and _quoted(value, [context.question])
                (echoed if asked_about else risky).append(finding)
        kept = tuple(dict.fromkeys((text[f.start:f.end], placeholder(f.entity_type)) for f in echoed))
        if not risky:
            return Verdict(self.name, True, 0.0, kept=kept)
        return Verdict(
            self.name, False, max(f.score for f in risky),
            f"The answer contained personal data ({_summary(risky)}).",
            fixed=engine.anonymize(text, risky), kept=kept,
        )
