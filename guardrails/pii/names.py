"""A first/last-name gazetteer for the names the small spaCy model misses.

Why: ``en_core_web_sm`` finds "John Smith" but not "Tomomi Nishiyama", "patricia desrosiers"
or a lone "Csanád". The lists in ``data/`` (built by ``build_names.py`` from names-dataset,
MIT licence) hold first and last names that rank high in at least one country, each marked
when it is also an ordinary English word ("will", "grace", "key"). Evidence is asked for in
proportion to the risk of redacting a product name from a work question ("Okta Verify",
"Pleo"): a known first name followed by a known last name, or by a capitalised word that is
no English word; a lone first name only when it is common and stands apart from other
capitalised words; lower-case text only as a first + last name pair.
"""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from pathlib import Path

from presidio_analyzer import EntityRecognizer, RecognizerResult

DATA = Path(__file__).resolve().parent / "data"
LONE_FIRST_RANK = 500  # a lone capitalised first name must rank this high somewhere (1000 was no better on the tuning half)
_WORD = re.compile(r"[^\W\d_][\w'’-]*|\d+")
_PARTICLES = frozenset({"van", "von", "de", "der", "den", "ten", "ter", "da", "das", "do", "dos", "di", "del", "della", "la", "le", "bin", "al", "el", "af", "zu", "y"})


@lru_cache(maxsize=2)
def name_table(kind: str) -> dict[str, tuple[int, bool]]:
    """name -> (best rank in any country, is an English word); ``kind`` is first or last."""
    table: dict[str, tuple[int, bool]] = {}
    with gzip.open(DATA / f"{kind}_names.txt.gz", "rt", encoding="utf-8") as f:
        for line in f:
            name, rank, english = line.rstrip("\n").split("\t")
            table[name] = (int(rank), english == "1")
    return table


def load_lists() -> None:
    """Read the lists now (about 0.5 s), so the first question does not wait for them."""
    name_table("first"), name_table("last"), _english_words(), work_terms()


def _key(token: str) -> str:
    return token[:1].upper() + token[1:].lower()


def _is_cap(token: str) -> bool:
    return token[:1].isupper() and not token.isdigit() and (len(token) == 1 or not token.isupper())


def _is_initial(token: str) -> bool:
    return len(token) == 1 and token.isupper()


class NameGazetteerRecognizer(EntityRecognizer):
    """PERSON spans from known first and last names (see the module docstring for the rules)."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON"], name="NameGazetteerRecognizer", supported_language="en")

    def load(self) -> None:  # the engine reads the lists once at start (``load_lists``)
        pass

    def analyze(self, text: str, entities, nlp_artifacts=None) -> list[RecognizerResult]:
        # spaCy is good at days, months, nationalities and places: a name list holds those too
        # ("Sunday", "Russian", "Austria" are given names somewhere), so its word wins there
        not_names = [
            (e.start_char, e.end_char) for e in getattr(nlp_artifacts, "entities", None) or [] if e.label_ in _NOT_PERSON_LABELS
        ]
        return [
            RecognizerResult("PERSON", start, end, score)
            for start, end, score in find_names(text)
            if not any(start < b and a < end for a, b in not_names)
        ]


_NOT_PERSON_LABELS = frozenset({"NORP", "DATE", "TIME", "GPE", "LOC"})


def find_names(text: str) -> list[tuple[int, int, float]]:
    first, last = name_table("first"), name_table("last")
    tokens = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]
    found: list[tuple[int, int, float]] = []
    i = 0
    while i < len(tokens):
        word, start, end = tokens[i]
        span = _full_name(text, tokens, i, first, last) if _is_cap(word) else _lower_pair(text, tokens, i, first, last)
        if span:
            j, score = span
            found.append((start, tokens[j][2], score))
            i = j + 1
            continue
        if _is_cap(word) and _lone_first(text, tokens, i, first):
            found.append((start, end, 0.65))
        i += 1
    return found


def _adjacent(text: str, a: tuple[str, int, int], b: tuple[str, int, int]) -> bool:
    """Two tokens of one name: a single space between them (or an initial's dot and a space)."""
    return text[a[2]:b[1]] in (" ", ". ")


def _full_name(text, tokens, i, first, last) -> tuple[int, float] | None:
    entry = first.get(tokens[i][0])
    if entry is None:
        return None
    strong = not entry[1]
    if not strong and _sentence_start(text, tokens[i][1]):
        return None
    # middle initials and particles ("Szabina J Gelencsér", "Willemine ten Pas")
    k = i + 1
    while k < len(tokens) and _adjacent(text, tokens[k - 1], tokens[k]) and (_is_initial(tokens[k][0]) or tokens[k][0] in _PARTICLES):
        k += 1
    had_middle = k > i + 1
    end = None
    while k < len(tokens) and _adjacent(text, tokens[k - 1], tokens[k]) and _is_cap(tokens[k][0]) and not _is_initial(tokens[k][0]):
        word = tokens[k][0]
        surname = last.get(word)
        if surname and not surname[1]:
            end = k
        elif strong and word.lower() not in _english_words() and word not in first:
            end = k if (had_middle or end is None) else end
        else:
            break
        k += 1
        if k - i > 4:
            break
    return None if end is None else (end, 0.7)


def _sentence_start(text: str, start: int) -> bool:
    before = text[:start].rstrip(" \t\"'“(")
    return not before or before[-1] in ".!?:\n"


def _lower_pair(text, tokens, i, first, last) -> tuple[int, float] | None:
    word = tokens[i][0]
    if not word.islower() or i + 1 >= len(tokens):
        return None
    nxt = tokens[i + 1][0]
    if not nxt.islower() or not _adjacent(text, tokens[i], tokens[i + 1]):
        return None
    f, surname = first.get(_key(word)), last.get(_key(nxt))
    if f and not f[1] and surname and not surname[1]:
        return i + 1, 0.65
    return None


def _lone_first(text, tokens, i, first) -> bool:
    entry = first.get(tokens[i][0])
    if entry is None or entry[1] or entry[0] > LONE_FIRST_RANK or len(tokens[i][0]) < 3:
        return False
    for k in (i - 1, i + 1):  # a capitalised neighbour makes it part of a product or organisation name
        if 0 <= k < len(tokens) and _is_cap(tokens[k][0]) and tokens[k][0] != "I" and _adjacent(text, *sorted((tokens[i], tokens[k]), key=lambda t: t[1])):
            return False
    return True


@lru_cache(maxsize=1)
def _english_words() -> frozenset[str]:
    """Lower-case English words (wamerican, 3+ letters): a capitalised one is no surname evidence."""
    with gzip.open(DATA / "english_words.txt.gz", "rt", encoding="utf-8") as f:
        return frozenset(line.strip() for line in f if line.strip())


# The last word of an organisation, a band or a place, never of a person's name
_NOT_NAME_TAIL = frozenset({
    "orchestra", "corporation", "incorporated", "inc", "ltd", "llc", "gmbh", "group", "company", "band",
    "str", "street", "bridge", "pass", "flat", "station", "club", "university", "bank", "hotel", "unlimited",
})


_CALENDAR_WORDS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april june july "
    "august september october november december".split()
)


def person_span_ok(value: str) -> bool:
    """A PERSON finding with digits ("Joaquin Suarez 2906", "Mark the SEV1") or an organisation's or place's
    last word ("Davis Orchestra", "Rand Corporation") is something else."""
    words = _WORD.findall(value)
    if not words or any(ch.isdigit() for ch in value) or words[-1].lower().rstrip(".") in _NOT_NAME_TAIL:
        return False
    if len(words) == 1 and words[0].lower() in _CALENDAR_WORDS:
        return False
    if len(words) > 1 and any(_is_initial(w) for w in words[1:-1]):
        return True  # "Daniela C Capon": a middle initial makes a name whatever its last word
    return _ends_like_a_name(words[-1]) or any(_common_first(w) for w in words[:-1])


@lru_cache(maxsize=1)
def work_terms() -> frozenset[str]:
    """Product and tool names (``data/work_terms.txt``) that are never a person or a place."""
    lines = (DATA / "work_terms.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def is_work_term(value: str) -> bool:
    """"Personio", "Okta Verify", "MacBook Pro": every word of the finding is a known product word."""
    words = _WORD.findall(value)
    return bool(words) and all(w.lower() in work_terms() for w in words)


def _common_first(word: str) -> bool:
    entry = name_table("first").get(word)
    return bool(entry) and not entry[1] and entry[0] <= LONE_FIRST_RANK


def _ends_like_a_name(word: str) -> bool:
    """"Okta Verify", "Guilty Pleasures": a name does not end in an English word that is no
    known surname or given name ("Zoe Young" does: Young is a surname)."""
    key = _key(word)
    return word.lower() not in _english_words() or key in name_table("last") or key in name_table("first")


def repeated_mentions(text: str, persons: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    """Once "Magnus Poulsen" is a name, a lone "Magnus" or "Poulsen" elsewhere in the text is too."""
    parts: dict[str, float] = {}
    full_names = []
    for start, end, score in persons:
        words = [w for w in _WORD.findall(text[start:end]) if _is_cap(w) and len(w) >= 3 and w.lower() not in _PARTICLES]
        if len(words) >= 2:
            full_names.append((start, end))
            for w in words:
                parts[w] = max(parts.get(w, 0.0), score)
    if not parts:
        return []
    extra = []
    for m in _WORD.finditer(text):
        if m.group() in parts and not any(s <= m.start() < e for s, e in full_names):
            # above spaCy's 0.85: it takes a lone "Magnus" at the start of a sentence for a place
            extra.append((m.start(), m.end(), max(parts[m.group()], 0.86)))
    return extra


def looks_like_person(value: str) -> bool:
    """spaCy calls "Elle Sandström" a place: a common first name + a known surname is a person."""
    words = value.split()
    if len(words) != 2:
        return False
    surname = name_table("last").get(words[1])
    return _common_first(words[0]) and bool(surname) and not surname[1]
