"""Per-sentence support of an answer by its passages: embedding similarity + lexical overlap.

Each answer sentence gets ``support = 0.5 * semantic + 0.5 * lexical`` where *semantic* is the
best cosine to any passage sentence (rescaled: 0.2 -> 0, 0.7 -> 1) and *lexical* is the share of
the sentence's *new* content words (those not already in the question: the claim itself) found
in the passages. A number the passages never mention halves the support: invented figures are
the commonest unsupported claim. A flipped polarity cuts it to 0.4x: a sentence that adds a negation
("not", "never", "can't") its best-matching passage sentence lacks, or that drops the
negation of a passage sentence it otherwise copies, says the opposite of its source while
sharing nearly all its words. The check fails when any sentence is below
the threshold.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from guardrails.base import CheckContext, Verdict

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|\n+")
_CITATION = re.compile(r"\[\d+\]|\[[A-Z][A-Z_]+\]")  # citations and PII placeholders ([EMAIL_ADDRESS])
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_NEGATION = re.compile(r"\b(?:not|no|never|none|nobody|nothing|neither|nor|cannot)\b|n['’]t\b", re.IGNORECASE)
_STOP = frozenset(
    """a an the and or but if then of in on at to for from by with without about as into over under is are was were be been
    being am do does did done have has had having it its this that these those there here which who whom whose what when where
    why how i you he she we they me him her us them my your his our their not no yes so than too very can could will would
    shall should may might must also just only any all each some such more most other own same both few own s t per via
    according passage passages source sources context document documents answer""".split()
)
MIN_CONTENT_WORDS = 2
_WH_QUESTION = re.compile(r"(?:what|what's|whats|which|who|whom|whose|where|when|how)\b", re.IGNORECASE)
MAX_PASSAGE_SENTENCES = 80
# A contradiction is not half supported: 0.4 takes even a word-for-word copy below the 0.5 default.
FLIPPED_POLARITY_FACTOR = 0.4
# Dropping the source's "not" counts only for near copies: long source sentences often carry a
# negation in a clause the answer does not restate (measured in benchmarks/guardrails_compare.py).
NEAR_COPY_COSINE = 0.9
NEAR_COPY_WORDS = 0.8  # Jaccard overlap of content words


def _stem(word: str) -> str:
    """A crude English stemmer: enough to match "employees"/"employee" and "days"/"day"."""
    word = word.lower().strip("'’-")
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    if word.endswith("ing") and len(word) > 5:
        return word[:-3]
    if word.endswith("ed") and len(word) > 4:
        return word[:-2]
    return word


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text) if w.lower() not in _STOP}


_LIST_MARKER = re.compile(r"^(?:\d{1,3}[.)]|[-*•])$")
_LEADING_MARKER = re.compile(r"^\s*(?:\d{1,3}[.)]|[-*•])\s+")  # "1. Report ..." numbers the item, it claims nothing
NUMBER_WORDS = {w: str(n) for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty".split())} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "ninety": "90", "hundred": "100"}


def numbers_in(text: str) -> set[str]:
    """Digits, and the numbers that words spell ("five" is 5), so "5 days" matches "five days"."""
    found = set(_NUMBER.findall(text.replace(",", "")))
    return found | {NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in NUMBER_WORDS}


def split_sentences(text: str) -> list[str]:
    """Sentences and lines; a list marker ("1.", "-") stays with the item it numbers."""
    sentences: list[str] = []
    for part in (s.strip() for s in _SENTENCE.split(text) if s and s.strip()):
        if sentences and _LIST_MARKER.match(sentences[-1]):
            sentences[-1] = f"{sentences[-1]} {part}"
        else:
            sentences.append(part)
    return sentences


def negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


def _near_copy(sentence: str, source: str, cosine: float) -> bool:
    """Nearly the same sentence: embeddings almost equal, or (short sentences, whose cosines
    run lower) the same content words, negations aside."""
    if cosine >= NEAR_COPY_COSINE:
        return True
    mine, theirs = ({w for w in content_words(t) if not negated(w)} for t in (sentence, source))
    return bool(mine and theirs) and len(mine & theirs) / len(mine | theirs) >= NEAR_COPY_WORDS


# Words that say the opposite of each other without a "not" (stemmed like content_words).
_ANTONYMS = [
    ({"enabl", "enable"}, {"disabl", "disable"}), ({"support"}, {"unsupport"}), ({"allow", "permitt", "permit"}, {"forbidden", "prohibit", "ban", "bann", "disallow"}),
    ({"optional"}, {"mandatory", "requir", "compulsory", "obligatory"}), ({"includ"}, {"exclud"}), ({"accept"}, {"reject"}),
    ({"approv"}, {"reject", "deni", "declin"}), ({"public"}, {"private", "internal", "confidential"}), ({"alway"}, {"never"}),
    ({"encrypt"}, {"unencrypt", "plaintext"}), ({"free"}, {"paid", "charg"}), ({"before"}, {"after"}),
]


def _opposite_words(sentence: str, source: str) -> bool:
    mine, theirs = content_words(sentence), content_words(source)
    for one, other in _ANTONYMS:
        for a, b in ((one, other), (other, one)):
            if mine & a and theirs & b and not theirs & a and not mine & b:
                return True
    return False


def _restates(sentence: str, source: str) -> bool:
    """Every content word of the answer sentence (three or more) is in the source sentence: the
    same claim, so a "not"/"never" that only the source has is a contradiction, not a side clause."""
    mine = {w for w in content_words(sentence) if not negated(w)}
    return len(mine) >= 3 and mine <= content_words(source)


def _flipped(sentence: str, source: str, cosine: float) -> bool:
    """The answer adds a negation its closest source sentence lacks, drops one from a near copy
    or a restatement, or swaps a word for its opposite (enabled/disabled, optional/mandatory)."""
    if _opposite_words(sentence, source):
        return True
    if negated(sentence) == negated(source):
        return False
    return negated(sentence) or _near_copy(sentence, source, cosine) or _restates(sentence, source)


_ANSWER_WORDS = frozenset({"yes", "no", "none", "never", "always", "nobody"})


def states_something(text: str) -> bool:
    """Whether a draft says anything at all: a content word or a yes/no, beyond list numbers,
    citations and filler ("The answer is:", "The passage says")."""
    words = {w.lower() for w in _WORD.findall(_clean(text)) if not w.isdigit()}
    return bool(content_words(" ".join(words)) - {""} or words & _ANSWER_WORDS)


def _checkable(sentence: str) -> bool:
    return len(content_words(sentence)) >= MIN_CONTENT_WORDS or bool(_NUMBER.search(sentence))


def _clean(text: str) -> str:
    import html

    return html.unescape(_CITATION.sub("", text)).replace("*", "").replace("_", " ").replace("`", "")


@dataclass
class SentenceSupport:
    sentence: str
    semantic: float
    lexical: float
    support: float
    passage: int | None = None  # 1-based number of the passage that supports it best


_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()
_CACHE_SIZE = 4096
_cache_lock = threading.Lock()


def cached_embed(texts: list[str]) -> np.ndarray:
    """The packaged embedder with a small LRU: groundedness and citation repair embed the same
    sentences one after the other, and passages repeat across questions."""
    from retrieval.embedder import get_embedder

    with _cache_lock:
        missing = [t for t in dict.fromkeys(texts) if t not in _CACHE]
    if missing:
        vectors = get_embedder().encode(missing)
        with _cache_lock:
            for text, vector in zip(missing, vectors):
                _CACHE[text] = vector
                while len(_CACHE) > _CACHE_SIZE:
                    _CACHE.popitem(last=False)
    with _cache_lock:
        out = []
        for t in texts:
            vector = _CACHE.get(t)
            if vector is None:  # evicted meanwhile by another thread
                vector = get_embedder().encode([t])[0]
            out.append(vector)
    return np.stack(out)


def score_support(answer: str, passages: list[str], question: str = "", embed=None) -> list[SentenceSupport]:
    """Support of every checkable answer sentence (two or more content words, or a number)."""
    raw = [s for s in split_sentences(answer) if _checkable(_clean(s))]
    if not raw:
        return []
    sentences = [_LEADING_MARKER.sub("", _clean(s)) for s in raw]
    source_text = "\n".join(passages)
    source_words = content_words(source_text) | {_stem(w) for w in map(str, numbers_in(source_text))}
    source_numbers = numbers_in(source_text)
    question_words = content_words(question)
    located = [(n, s) for n, p in enumerate(passages, 1) for s in split_sentences(_clean(p))][:MAX_PASSAGE_SENTENCES]
    passage_sentences = [s for _, s in located]
    embed = embed or cached_embed
    if passage_sentences:
        vectors = embed(sentences + passage_sentences)
        cosines = vectors[: len(sentences)] @ vectors[len(sentences):].T
        best = cosines.max(axis=1)
        nearest = cosines.argmax(axis=1)
        where = [located[i][0] for i in nearest]
        closest = [passage_sentences[i] for i in nearest]
    else:
        best = np.zeros(len(sentences))
        where = [None] * len(sentences)
        closest = [""] * len(sentences)
    polarity_known = not negated(question)  # a negative question makes either polarity a fair answer
    asks_for_content = bool(_WH_QUESTION.match(question.strip()))
    out = []
    for original, sentence, cosine, passage, source in zip(raw, sentences, best, where, closest):
        words = content_words(sentence)
        claim = words - question_words
        if claim:
            lexical = len(claim & source_words) / len(claim)
        else:  # only the question's own words: an answer to "is/can/does ...?", nothing to "what/who/when ...?"
            lexical = 0.0 if asks_for_content else len(words & source_words) / max(1, len(words))
        semantic = float(np.clip((cosine - 0.2) / 0.5, 0.0, 1.0))
        support = 0.5 * semantic + 0.5 * lexical
        if numbers_in(sentence) - source_numbers:
            support *= 0.5
        if polarity_known and source and _flipped(sentence, source, cosine):
            support *= FLIPPED_POLARITY_FACTOR
        out.append(SentenceSupport(original, round(semantic, 4), round(lexical, 4), round(support, 4), passage))
    return out


class GroundednessValidator:
    """Fails when any answer sentence is below ``groundedness_threshold``; its score (the mean
    sentence support) caps the answer's confidence (see ``OutputGuardStage``). ``fix`` drops the unsupported
    sentences when some supported ones remain (else it refrains)."""

    name = "groundedness"
    action_setting = "groundedness_action"

    def __init__(self, embed=None) -> None:
        self.embed = embed

    def validate(self, text: str, context: CheckContext) -> Verdict:
        supports = score_support(text, context.source_texts, context.question, self.embed)
        if not supports:
            if states_something(text):  # "Yes [1].", "PagerDuty.": too short to score
                return Verdict(self.name, True, None)
            # "5.\n\nThe answer is.\n\nThe passage is [1]": words, but no claim at all
            return Verdict(self.name, False, 0.0, "The answer states nothing the sources could support.", fixed=None)
        threshold = context.settings.groundedness_threshold
        # the score (which caps confidence) is the mean support; any sentence below the
        # threshold fails the check, so one invented claim is never averaged away
        score = round(sum(s.support for s in supports) / len(supports), 4)
        if min(s.support for s in supports) >= threshold:
            return Verdict(self.name, True, score)
        weak = [s.sentence for s in supports if s.support < threshold]
        kept = text
        for sentence in weak:  # the fix: keep only what the sources support
            kept = kept.replace(sentence, "")
        kept = re.sub(r"[ \t]{2,}", " ", kept).strip()
        if kept:
            # what is left must itself hold a supported claim: cutting a weak "4. Color printing"
            # also cut it out of "The answer is: 4. Color printing", leaving "The answer is:"
            left = score_support(kept, context.source_texts, context.question, self.embed)
            if not left or min(s.support for s in left) < threshold:
                kept = ""
        return Verdict(
            self.name, False, score,
            f"{len(weak)} of {len(supports)} sentence(s) of the answer are not clearly supported by the sources.",
            fixed=kept or None,
        )


_CITED = re.compile(r"\[(\d+)\]")
_END = re.compile(r"([.!?:;]*)(\s*)$")
_FENCED = re.compile(r"```.*?(?:```|$)", re.DOTALL)


class CitationValidator:
    """Supported sentences that cite nothing get the number of the passage that supports them
    best (small models often forget the ``[n]``); uses ``format_action``."""

    name = "citations"
    action_setting = "format_action"

    def __init__(self, embed=None) -> None:
        self.embed = embed

    def validate(self, text: str, context: CheckContext) -> Verdict:
        if not context.n_sources or not context.source_texts:
            return Verdict(self.name, True, 0.0)
        threshold = context.settings.groundedness_threshold
        parts, cursor, added = [], 0, 0
        fences = [m.span() for m in _FENCED.finditer(text)]
        for s in score_support(text, context.source_texts, context.question, self.embed):
            # sentences come in order: find each after the previous one, never inside an earlier
            # sentence that merely starts the same way (a truncated repeat, say)
            at = text.find(s.sentence, cursor)
            if at < 0:
                continue
            parts.append(text[cursor:at])
            cursor = at + len(s.sentence)
            in_code = any(start <= at < end for start, end in fences)  # a [1] there would break the command
            cited = [int(n) for n in _CITED.findall(s.sentence)]
            if in_code or any(1 <= n <= context.n_sources for n in cited) or s.passage is None or s.support < threshold or s.passage > context.n_sources:
                parts.append(s.sentence)
                continue
            # only citations to passages that were not given ("[2]" of one): the format check would
            # delete them and leave the sentence uncited, so they give way to the supporting one
            sentence = re.sub(r"\s*\[\d+\]", "", s.sentence) if cited else s.sentence
            parts.append(_END.sub(lambda m: f" [{s.passage}]{m.group(1)}{m.group(2)}", sentence, count=1))
            added += 1
        if not added:
            return Verdict(self.name, True, 0.0)
        fixed = "".join(parts) + text[cursor:]
        return Verdict(self.name, False, float(added), f"{added} supported sentence(s) had no citation; added.", fixed=fixed)
