"""Make a drafted answer safe and valid as Slack mrkdwn, with citations that point somewhere.

Slack reads ``<...>`` as links and mentions (``<!channel>``, ``<@U123>``), and ``&`` starts an
entity, so the three are escaped; plain ``@channel``/``@here``/``@everyone`` are defused too,
so neither the model nor a poisoned document can ping a whole channel.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from guardrails.base import CheckContext, Verdict

_BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt);)")
_MASS_MENTION = re.compile(r"(?<![\w.+-])@(channel|here|everyone)\b(?!\.\w)", re.IGNORECASE)  # not ops@here.io
# [1], [1, 2], [1-3], [Source 2], [source: 2], 【2】, [^2]
_CITATION = re.compile(r"[\[【]\s*(?:\^|sources?\s*:?\s*|doc(?:ument)?\s*:?\s*|passage\s*:?\s*)?(\d+(?:\s*(?:[,;–-]|and)\s*\d+)*)\s*[\]】]", re.IGNORECASE)
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([.,;:!?])")
_MULTI_SPACE = re.compile(r"[ \t]{2,}")
TRUNCATION_MARK = " …"
MAX_CITATION_NUMBER = 50  # top_k is at most 20; a larger number in brackets is a year or an amount


def escape_entities(text: str) -> str:
    """Escape ``& < >`` once: text already escaped (``&amp;``, ``&lt;``, ``&gt;``) is left as it is,
    so an answer that passed this check can be escaped again on its way into a message."""
    text = _BARE_AMPERSAND.sub("&amp;", text)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def slack_safe(text: str) -> str:
    """Escape ``& < >`` (once) and defuse mass mentions."""
    return _MASS_MENTION.sub(lambda m: m.group(1), escape_entities(text))


def _numbers(group: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*(?:[,;]|and)\s*", group):
        if re.fullmatch(r"\d+\s*[–-]\s*\d+", part):
            a, b = (int(x) for x in re.split(r"\s*[–-]\s*", part))
            out.extend(range(a, b + 1) if 0 < b - a < 20 else [a, b])
        elif part.strip().isdigit():
            out.append(int(part))
    return out


def repair_citations(text: str, n_sources: int) -> tuple[str, int]:
    """Rewrite citations as ``[n]`` for given sources only; returns the text and how many were dropped."""
    dropped = 0

    def fix(match: re.Match) -> str:
        nonlocal dropped
        numbers = _numbers(match.group(1))
        if all(n > MAX_CITATION_NUMBER for n in numbers):  # "[2024]", "[250] EUR": not a citation
            return match.group(0)
        valid = [n for n in dict.fromkeys(numbers) if 1 <= n <= n_sources]
        dropped += len(numbers) - len(valid)
        return "".join(f"[{n}]" for n in valid)

    repaired = _CITATION.sub(fix, text)
    repaired = _MULTI_SPACE.sub(" ", _SPACE_BEFORE_PUNCT.sub(r"\1", repaired))
    return repaired.strip(), dropped


# Lines a small model copies from its prompt ("Question: ...", "Context:") instead of answering;
# a leading "Answer:" label is dropped but its text is kept.
_ECHOED_LINE = re.compile(r"^\s*(?:question|context|earlier in this conversation)\s*:.*$", re.IGNORECASE | re.MULTILINE)
_ANSWER_LABEL = re.compile(r"^\s*(?:the\s+)?answer(?:\s+is)?\s*:\s*", re.IGNORECASE | re.MULTILINE)  # "The answer is: 30 days"
_EMPTY_FENCE = re.compile(r"^[ \t]*```[\w+-]*[ \t]*\n(?:[ \t]*\n)*[ \t]*```[ \t]*$", re.MULTILINE)  # a code block left empty


def drop_prompt_echo(text: str) -> str:
    """Remove prompt scaffolding the model echoed (question/context lines, an "Answer:" or "The
    answer is:" label, a code block with nothing in it)."""
    cleaned = _EMPTY_FENCE.sub("", _ANSWER_LABEL.sub("", _ECHOED_LINE.sub("", text)))
    return re.sub(r"\n{3,}", "\n\n", cleaned).strip()


_SEGMENT_SPLIT = re.compile(r"((?<=[.!?])[ \t]+|\n+)")
_PLACEHOLDER_OR_CITATION = re.compile(r"\[(?:\d+|[A-Z_]{2,})\]")


def _sentence_key(segment: str) -> str:
    """A sentence as compared for copies: no citations, placeholders, list marks, case or end mark."""
    text = _PLACEHOLDER_OR_CITATION.sub("", segment).lower().strip().lstrip("-*• ").strip(" .!?")
    return " ".join(text.split())


def _drop_sentences(text: str, drop: Callable[[str], bool]) -> str:
    """``text`` without the sentences (or lines) ``drop`` says to drop, in order; the separators
    of the sentences kept stay as they were."""
    parts = _SEGMENT_SPLIT.split(text)
    out: list[str] = []
    for i in range(0, len(parts), 2):
        if drop(parts[i]):
            continue
        if out and i > 0:
            out.append(parts[i - 1])
        out.append(parts[i])
    return "".join(out).strip()


def drop_echoed_questions(text: str, questions: list[str]) -> str:
    """Remove sentences that copy the question or an earlier one of the thread ("- What is the
    hotel limit per night [1]?"): the model read them in its prompt, the asker wrote them."""
    keys = {_sentence_key(q) for q in questions} - {""}
    if not keys:
        return text
    return _drop_sentences(text, lambda segment: _sentence_key(segment) in keys)


def drop_repeats(text: str) -> str:
    """Remove sentences that repeat an earlier one word for word (small models loop)."""
    seen: set[str] = set()

    def repeated(segment: str) -> bool:
        key = " ".join(re.sub(r"\[\d+\]", "", segment).lower().strip(" .!?").split())
        if len(key.split()) >= 3 and key in seen:
            return True
        seen.add(key)
        return False

    return _drop_sentences(text, repeated)


_SENTENCE_END = re.compile(r"[.!?](?:\s*\[\d+(?:\s*,\s*\d+)*\])*[\")\]*]*(?=\s|$)|```[ \t]*$", re.MULTILINE)
_CITATIONS_ONLY = re.compile(r"^[ \t\-*•]*(?:\[\d+\][ \t.,;]*)+$", re.MULTILINE)


def end_at_a_sentence(text: str) -> str:
    """A draft the model stopped writing at ``max_new_tokens``: what follows its last complete
    sentence or line (a list item, a code line) goes, and the cut is marked; a code block left
    open is closed. Without any boundary, the text stays, marked."""
    text = text.rstrip()
    if text.count("```") % 2:  # cut inside a code block: its lines are whole enough, the block is closed
        return text + "\n```\n…"
    ends = [m.end() for m in _SENTENCE_END.finditer(text)] + [m.start() for m in re.finditer(r"\n", text)]
    head = text[: max(ends)].rstrip() if ends else text
    if head.count("`") % 2:  # an inline code span left open: it would swallow what follows
        head = head[: head.rfind("`")].rstrip()
    return head + ("\n…" if head.endswith("```") else TRUNCATION_MARK)


def truncate(text: str, limit: int) -> str:
    """Cut at the last sentence end (or space) before ``limit``, marking the cut."""
    if len(text) <= limit:
        return text
    room = limit - len(TRUNCATION_MARK)
    head = text[:room]
    cut = max(head.rfind(". "), head.rfind(".\n"), head.rfind("! "), head.rfind("? "))
    if cut > room // 2:
        return head[: cut + 1] + TRUNCATION_MARK
    space = head.rfind(" ")
    return (head[:space] if space > room // 2 else head).rstrip() + TRUNCATION_MARK


class FormatValidator:
    """Non-empty, no echoed prompt lines, no repeated sentences, Slack-safe, within ``max_answer_chars``, citations
    only to given sources."""

    name = "format"
    action_setting = "format_action"

    def validate(self, text: str, context: CheckContext) -> Verdict:
        if not text or not text.strip():
            return Verdict(self.name, False, 0.0, "The drafted answer was empty.")
        problems = []
        answer = drop_echoed_questions(drop_prompt_echo(text), [context.question, *context.earlier_questions])
        if answer != text.strip():
            problems.append("prompt lines echoed")
        if not answer:
            return Verdict(self.name, False, 0.0, "The drafted answer only repeated the prompt.")
        bare = re.sub(r"\n{2,}", "\n\n", _CITATIONS_ONLY.sub("", answer)).strip()
        if bare != answer:  # lines of nothing but "[1]" (a small model looping)
            problems.append("lines of bare citations")
            answer = bare
        if context.cut_short and answer:
            answer = end_at_a_sentence(answer)
            problems.append("cut off at max_new_tokens")
        unique = drop_repeats(answer)
        if unique != answer:
            problems.append("repeated sentences")
        fixed, dropped = repair_citations(unique, context.n_sources)
        if dropped:
            problems.append(f"{dropped} citation(s) to sources that were not given")
        elif fixed != unique:
            problems.append("citations rewritten as [n]")
        safe = slack_safe(fixed)
        if safe != fixed:
            problems.append("Slack control characters or mentions")
        limit = context.settings.max_answer_chars
        if len(safe) > limit:
            problems.append(f"longer than {limit} characters")
            safe = truncate(safe, limit)
        if not safe.strip():
            return Verdict(self.name, False, 0.0, "The drafted answer was empty after cleaning.")
        if not problems:
            return Verdict(self.name, True, 0.0)
        return Verdict(self.name, False, float(len(problems)), "The answer was reformatted: " + "; ".join(problems) + ".", fixed=safe)
