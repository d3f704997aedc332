"""Recognizers that replace or add to Presidio's defaults, each for a reason found in our data.

- Email: Presidio's validator calls tldextract, which fetches the public suffix list on first
  use (a traceback offline). This one uses tldextract's bundled snapshot only.
- Phone: Presidio's phonenumbers-based recognizer misses many international layouts
  ("0490 75 40 81", "+46 (0)8 928 571 38", "345-899-3560x4587"). A digit-group pattern
  with sanity checks finds them; dates, IPs and card numbers are left to their own checks.
- Secrets: passwords and API keys are high-risk and Presidio has no recognizer for them.
"""

from __future__ import annotations

import re
from functools import lru_cache

from presidio_analyzer import Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import EmailRecognizer


@lru_cache(maxsize=1)
def _offline_tld_extract():
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class OfflineEmailRecognizer(EmailRecognizer):
    def validate_result(self, pattern_text: str) -> bool:
        return _offline_tld_extract()(pattern_text).fqdn != ""


_PHONE = (
    r"(?<![\w.+-])"
    r"(?:\+\d{1,3}[ .-]?)?"  # country code
    r"(?:\(0\)[ .-]?)?"  # the (0) trunk prefix of +44 (0)20 ...
    r"(?:\(\d{1,4}\)[ .-]?)?"  # area code in brackets
    r"\d{1,5}(?:[ .-]\d{2,5}){0,5}"  # digit groups
    r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?"  # extension
    r"(?![\w-]|\.\d)"
)
_DATE_LIKE = re.compile(r"^(\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$")
_IP_LIKE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_SSN_LIKE = re.compile(r"^\d{3}-\d{2}-\d{4}$")


class LayoutPhoneRecognizer(PatternRecognizer):
    """Phone numbers by layout: 7-15 digits in groups, optional country code and extension."""

    CONTEXT = ["phone", "call", "tel", "telephone", "mobile", "cell", "fax", "number", "contact", "reach", "dial"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="PHONE_NUMBER",
            name="LayoutPhoneRecognizer",
            patterns=[Pattern("phone (layout)", _PHONE, 0.5)],
            context=self.CONTEXT,
            supported_language="en",
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        text = pattern_text.strip()
        digits = re.sub(r"\D", "", re.split(r"x|ext", text)[0])
        if not 7 <= len(digits) <= 15:
            return False
        if _DATE_LIKE.match(text) or _IP_LIKE.match(text) or _SSN_LIKE.match(text):
            return False
        if len(digits) >= 13 and text.isdigit():  # a bare long digit run is a card or account number
            return False
        if len(set(digits)) == 1:
            return False
        return None  # keep the pattern's score (context may raise it)


_SECRET_PATTERNS = [
    Pattern("api key (prefixed)", r"\b(?:sk|pk|rk)[-_](?:live|test|proj)?[-_]?[A-Za-z0-9]{16,}\b", 0.9),
    Pattern("slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b", 0.95),
    Pattern("github token", r"\bgh[pousr]_[A-Za-z0-9]{30,}\b", 0.95),
    Pattern("aws access key", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", 0.95),
    Pattern("google api key", r"\bAIza[0-9A-Za-z_-]{35}\b", 0.95),
    Pattern("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b", 0.9),
    Pattern("private key", r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----", 0.95),
    # "password: hunter2", "api_key = abc123...", "token is X9y...": the value, not the keyword;
    # the value must hold a digit or symbol so "password is changed" or "token: none" stay.
    Pattern(
        "labelled secret",
        r"(?i)(?<=\b(?:password|passwd|passcode|pwd|secret|api[ _-]?key|access[ _-]?key|token)s?\s*(?:is|=|:)\s*[\"']?)"
        r"(?=[^\s\"',;]*[\d!@#$%^&*_+=])[^\s\"',;]{4,}",
        0.85,
    ),
]


class SecretRecognizer(PatternRecognizer):
    """Passwords and API keys: always redacted."""

    def __init__(self) -> None:
        super().__init__(
            supported_entity="SECRET", name="SecretRecognizer", patterns=_SECRET_PATTERNS, supported_language="en"
        )


def custom_recognizers() -> list[PatternRecognizer]:
    return [OfflineEmailRecognizer(), LayoutPhoneRecognizer(), SecretRecognizer()]
