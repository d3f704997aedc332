"""PII checks for the question (before logs and storage) and for the answer (before Slack)."""

from __future__ import annotations

import re
from collections import Counter

from guardrails.base import CheckContext, Verdict
from guardrails.pii.engine import HIGH_RISK, get_engine


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
    pattern = re.compile(rf"(?<![\w.@-]){re.escape(value)}(?![\w@-])")
    return any(pattern.search(source) for source in sources)


class AnswerPiiValidator:
    """High-risk PII is always redacted; other PII stays only if the sources show it verbatim
    and ``pii_allow_from_sources`` is on (a handbook's own contact list may be quoted)."""

    name = "output_pii"
    action_setting = "output_pii_action"

    def validate(self, text: str, context: CheckContext) -> Verdict:
        engine = get_engine()
        if context.settings.pii_allow_from_sources and context.source_texts:
            findings = unsourced_pii(text, context.source_texts)
        else:
            findings = engine.analyze(text)
        if not findings:
            return Verdict(self.name, True, 0.0)
        return Verdict(
            self.name, False, max(f.score for f in findings),
            f"The answer contained personal data ({_summary(findings)}).",
            fixed=engine.anonymize(text, findings),
        )
