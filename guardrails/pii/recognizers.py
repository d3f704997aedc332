"""Recognizers that replace or add to Presidio's defaults, each for a reason found in our data.

- Email: Presidio's validator calls tldextract, which fetches the public suffix list on first
  use (a traceback offline). This one uses tldextract's bundled snapshot only.
- Phone: Presidio's phonenumbers-based recognizer misses many international layouts
  ("0490 75 40 81", "+46 (0)8 928 571 38", "345-899-3560x4587"). A digit-group pattern
  with sanity checks finds them; dates, IPs and card numbers are left to their own checks.
- Secrets: passwords and API keys are high-risk and Presidio has no recognizer for them.
- SSN layout: Presidio's SSN recognizer rejects well-known sample numbers, which still must not
  appear in an answer.
"""

from __future__ import annotations

import re
from functools import lru_cache

from presidio_analyzer import Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import EmailRecognizer

from guardrails.pii.names import NameGazetteerRecognizer


@lru_cache(maxsize=1)
def _offline_tld_extract():
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


_PRIVATE_DOMAIN = re.compile(r"[^@\s]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}")


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email pattern with the public-suffix check done offline; addresses on a
    company's private suffix (bob@corp.internal, it@office.lan) count too: they are still someone's."""

    def validate_result(self, pattern_text: str) -> bool:
        return _offline_tld_extract()(pattern_text).fqdn != "" or _PRIVATE_DOMAIN.fullmatch(pattern_text) is not None


_PHONE = (
    r"(?<![\w.+-])"
    r"(?:\+\d{1,3}[ .-]?)?"  # country code
    r"(?:\(0\)[ .-]?)?"  # the (0) trunk prefix of +44 (0)20 ...
    r"(?:\(\d{1,4}\)[ .-]?)?"  # area code in brackets
    r"\d{1,12}(?:[ .-]\d{2,8}){0,5}"  # digit groups
    r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?"  # extension
    r"(?!\w|-\d|\.\d)"
)
_DATE_LIKE = re.compile(r"^(\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})(\s\d{1,2})?$")
_IP_LIKE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_SSN_LIKE = re.compile(r"^\d{3}-\d{2}-\d{4}$")


class LayoutPhoneRecognizer(PatternRecognizer):
    """Phone numbers by layout: 7-15 digits in groups, optional country code and extension."""

    CONTEXT = ["phone", "call", "tel", "telephone", "mobile", "cell", "fax", "contact", "reach", "dial", "desk", "office"]

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
    Pattern("password in a URL", r"(?<=://[^/\s:@]{1,64}:)[^/\s@]{3,128}(?=@)", 0.9),  # postgresql://user:PASSWORD@host
    # "password: hunter2", "api_key = abc123...", "token is X9y...": the value, not the keyword;
    # the value must hold a digit or symbol so "password is changed" or "token: none" stay.
    Pattern(
        "labelled secret",
        # the keyword may end a longer name: SLACK_SIGNING_SECRET=..., RAGBOT_OPENAI_API_KEY=...
        r"(?i)(?<=(?<![a-z])(?:password|passwd|passcode|pwd|secret|api[ _-]?key|access[ _-]?key|token)s?\s*(?:is|=|:)\s*[\"']?)"
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


class SsnLayoutRecognizer(PatternRecognizer):
    """Any ddd-dd-dddd number. Presidio's own SSN recognizer drops well-known sample numbers
    (078-05-1120); an answer should not carry those either, so the layout alone is enough."""

    def __init__(self) -> None:
        super().__init__(
            supported_entity="US_SSN",
            name="SsnLayoutRecognizer",
            patterns=[
                Pattern("ssn (dashed)", r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])", 0.6),
            ],
            context=["ssn", "social security", "social", "security number"],
            supported_language="en",
        )


def luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class LuhnCardRecognizer(PatternRecognizer):
    """Card numbers of any issuer (12-19 digits, Luhn-valid). Presidio's recognizer knows
    only some issuers' prefixes and misses Maestro, JCB and others."""

    def __init__(self) -> None:
        super().__init__(
            supported_entity="CREDIT_CARD",
            name="LuhnCardRecognizer",
            patterns=[
                Pattern("card (luhn)", r"(?<![\d-])\d{4}(?:[ -]?\d{2,4}){2,4}(?:[ -]?\d{1,3})?(?![\d-])", 0.6),
                # four groups of four split by dots (a sentence's full stop may follow); not any
                # dotted run of digits: a timestamp with microseconds is 16 digits too
                Pattern("card (dotted)", r"(?<![\d.])\d{4}(?:\.\d{4}){3}(?![\d]|\.\d)", 0.6),
            ],
            context=["card", "credit", "debit", "visa", "mastercard", "amex", "cc"],
            supported_language="en",
        )

    def validate_result(self, pattern_text: str) -> bool:
        digits = re.sub(r"\D", "", pattern_text)
        return 12 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_ok(digits)  # not a 0000 placeholder


# Presidio compiles patterns case-insensitively by default; capitalization is evidence here.
_CASE_SENSITIVE = re.DOTALL | re.MULTILINE

_STREET_WORDS = (
    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|square|sq|squares|"
    r"terrace|parkway|pkwy|highway|hwy|circle|cir|trail|crescent|close|grove|gardens|park|row|hill|streets|"
    r"route|plaza|alley|walk|view|ridge|mews|wharf|quay)"
)
# street-type endings glued to the name ("Mellemvej", "Koskikatu") and street-type words that
# stand alone ("Trenerys gate 232"); plain English endings such as -ring are not evidence
_STREET_SUFFIXES = r"(?:[^\W\d_]*(?:stra(?:ss|ß)e|gasse|weg|katu|tie|kuja|gade|stræde|vej|veien|vegen|v[äa]gen|gatan|laan|plein|allee|platz|straat|stien|straeti|stræti|braut|vegur|gata|iela|gatve|tänav)|\b(?:gate|ring|str\.|utca|útja|tér|u\.|ulica|cesta|sokak|caddesi))"
_STREET_PREFIXES = r"(?:rua|rue|via|viale|vicolo|avenida|avda\.|av\.|calle|c/|carrer|piazza|praça|strada|ulica|ul\.|boulevard|chemin|quai|allée|travessa|largo|plac|quadra|the corner of)"
_NAME_WORD = r"[^\W\d_][\w'’.-]*"
_PARTICLE = r"(?:de|do|da|dos|das|del|des|di|della|la|le|el|du|of|the)"


# What follows a street on an envelope: unit, town, region, country and postcode, each on its
# own line or after a comma, each starting with a capital or a digit (but not a phone number).
_ADDRESS_TAIL = r"(?:[ \t]*(?:,|\n[\s>?*|-]*)[ \t]*(?!\+|\(?\d[\d() .-]{6,}\d)[A-ZÀ-ÖØ-ÞΑ-Ω0-9][^\s,;:!?]*(?:[ \t]+[^\s,;:!?]+){0,3}){0,5}"


class AddressRecognizer(PatternRecognizer):
    """Street addresses by structure: house number + street words (+ street type), streets
    with a local suffix or prefix and a number, unit or mailbox parts (Apt., Suite, PSC, Box),
    each extended over the lines that follow it on an envelope."""

    def __init__(self) -> None:
        patterns = [
            Pattern("number + street + type", rf"\b(?:\d{{1,6}}[A-Za-z]?\s+){{1,2}}(?:{_NAME_WORD}\s+){{0,4}}(?i:{_STREET_WORDS})\b\.?{_ADDRESS_TAIL}", 0.9),
            Pattern("street with suffix + number", rf"\b(?:\d{{1,6}}\s+){{0,2}}(?:{_NAME_WORD}\s+){{0,2}}(?i:{_STREET_SUFFIXES})\s+\d{{1,5}}[a-z]?\b\.?{_ADDRESS_TAIL}", 0.9),
            Pattern("prefix street + number", rf"(?:\b(?:\d{{1,6}}\s+){{1,2}})?\b(?i:{_STREET_PREFIXES})(?![^\W\d_])\s*(?:(?:{_PARTICLE}\s+)*[A-ZÀ-ÖØ-ÞΑ-Ω][\w'’.-]*\s+(?:{_NAME_WORD}\s+){{0,3}})?\d{{1,5}}\b\.?{_ADDRESS_TAIL}", 0.9),
            Pattern("unit", rf"(?i:\b(?:apt\.?|apartment|suite|unit|flat)\s*#?\s*\d{{1,5}}[a-z]?\b){_ADDRESS_TAIL}", 0.8),
            Pattern("military or po box", rf"(?i:\b(?:psc|unit|po box|p\.o\. box|postbox|box)\s+\d{{1,5}}(?:,?\s+box\s+\d{{1,5}})?(?:\s+[adf]po\s+a[aep]\s+\d{{5}})?){_ADDRESS_TAIL}", 0.9),
            Pattern("number + words + number", rf"\b(?:\d{{2,6}}\s+){{1,2}}[A-ZÀ-ÖØ-ÞΑ-Ω][\w'’.-]*\s+(?:{_NAME_WORD}\s+){{0,3}}\d{{1,4}}\b\.?{_ADDRESS_TAIL}", 0.55),
        ]
        super().__init__(
            supported_entity="LOCATION", name="AddressRecognizer", patterns=patterns,
            context=["address", "street", "live", "lives", "located", "send", "ship", "deliver", "at"], supported_language="en",
            global_regex_flags=_CASE_SENSITIVE,
        )


HONORIFICS = ("Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Sir", "Madam", "Mme", "Herr", "Frau")
_HONORIFIC = r"(?:" + "|".join(HONORIFICS + ("mr", "mrs", "ms")) + r")\.?"
_CAP = r"[A-ZÀ-ÖØ-Þ][\w'’-]+"


class NameContextRecognizer(PatternRecognizer):
    """Names that the small spaCy model misses but the wording gives away: after an honorific
    ("Ms. Nishiyama") or after "my name is" / "name:" (there lower-case names count too)."""

    def __init__(self) -> None:
        patterns = [
            Pattern("honorific + name", rf"(?<={_HONORIFIC}\s){_CAP}(?:\s+[A-Z]\.?)?(?:\s+{_CAP}){{0,2}}", 0.7),
            Pattern(
                "stated name",
                r"(?i)(?<=\b(?:my name is|name is|name:|(?:last|first|family|sur) ?name\?)\s+)(?!(?:a|an|the|not|in|on|at|from|for|after|by|as)\b)"
                r"[^\W\d_][\w'’-]+(?:\s+(?!(?:and|or|but|from|in|at|of|is|was|the|i|my|for)\b)[^\W\d_][\w'’-]+){0,2}",
                0.65,
            ),
            # "First M. Last": a capitalized word, a middle initial with its dot, a capitalized word
            Pattern("name with initial", rf"\b{_CAP}\s+[A-Z]\.\s+{_CAP}\b", 0.7),
            # a signature or envelope: a line that is only a name, with digits or an e-mail
            # address (phone, street, mailbox) within the next four lines
            Pattern(
                "signature name",
                rf"(?<=^[ \t>?*|-]*){_CAP}(?:[ \t]+[A-Z]\.?)?(?:[ \t]+{_CAP}){{1,2}}(?=[ \t]*\n(?:[^\n]*\n){{0,3}}[^\n]*(?:\d{{3}}|@))",
                0.65,
            ),
            Pattern("introduced name", rf"(?<=\b(?:[Ii] am|[Ii]'m|[Tt]his is)\s){_CAP}(?:\s+{_CAP}){{0,2}}", 0.6),
        ]
        super().__init__(
            supported_entity="PERSON", name="NameContextRecognizer", patterns=patterns, supported_language="en",
            global_regex_flags=_CASE_SENSITIVE,
        )


_PLACE_WORD = r"[A-ZÀ-ÖØ-ÞΑ-Ω](?:[\w'’-]|\.(?=\w))*"
_PLACE_JOIN = r"(?:\s+(?:(?:de|del|da|do|di|la|le|nad|sur|am|an|upon|on|und|y)\s+)?)"


class PlaceContextRecognizer(PatternRecognizer):
    """A town the small spaCy model does not know ("Tjæreborg", "RYSSBY") where the verb says it
    is a place: "grew up in", "moved here from", "flew to", "arrived at", "based in". Scored
    above spaCy's 0.85 because spaCy takes many such towns for people ("flew to Coles")."""

    def __init__(self) -> None:
        cue = (
            r"(?:grew up in|moved (?:here )?(?:from|to)|flew (?:in )?to|arrived (?:at|in)|based in|returned to|"
            r"born in|relocated to|lives? in|living in|home (?:city|town)(?: of)?|travel(?:l)?ed to|I am in|I'm in|year in)"
        )
        super().__init__(
            supported_entity="LOCATION", name="PlaceContextRecognizer",
            patterns=[Pattern("place after a verb of place", rf"(?<=\b{cue}\s+(?:the\s+)?){_PLACE_WORD}(?:{_PLACE_JOIN}{_PLACE_WORD}){{0,3}}", 0.86)],
            supported_language="en", global_regex_flags=_CASE_SENSITIVE,
        )


class LabelledLicenseRecognizer(PatternRecognizer):
    """A driver's licence number stated as such ("my driver's license number is 2270-66-1551"):
    US formats vary by state, so the label is better evidence than the layout."""

    def __init__(self) -> None:
        super().__init__(
            supported_entity="US_DRIVER_LICENSE",
            name="LabelledLicenseRecognizer",
            patterns=[
                Pattern(
                    "labelled licence",
                    r"(?i)(?<=\b(?:driver'?s?|driving)\s+licen[cs]e\s*(?:number|no\.?|#)?\s*(?:is|:)?\s*)(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{4,16}\b",
                    0.8,
                )
            ],
            supported_language="en",
        )


def custom_recognizers() -> list[PatternRecognizer]:
    return [
        OfflineEmailRecognizer(), LayoutPhoneRecognizer(), SecretRecognizer(), SsnLayoutRecognizer(),
        LuhnCardRecognizer(), AddressRecognizer(), NameContextRecognizer(), LabelledLicenseRecognizer(),
        PlaceContextRecognizer(),
        NameGazetteerRecognizer(),
    ]
