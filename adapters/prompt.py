"""The chat prompt ragbot gives every generator, and the trimming that keeps it in budget.

Training data (``ragbot finetune build-data``) uses the same builder, so a tuned adapter
sees at inference exactly the shape it was taught with.
"""

from __future__ import annotations

from typing import Callable

from adapters.base import Passage

# The exact sentence the model must answer with when the passages lack the answer; the
# generate stage's ``is_abstention`` recognises it.
ABSTAIN_SENTENCE = "I don't know."

SYSTEM_PROMPT = (
    "You answer questions using only the numbered context passages. "
    "Give a short answer and cite the passage you used as [n]. "
    f'If the passages do not contain the answer, reply exactly "{ABSTAIN_SENTENCE}"'
)

# A passage is never trimmed below this many tokens (a stub is worse than dropping it).
_MIN_PASSAGE_TOKENS = 24
_HISTORY_TURNS = 4

Message = dict[str, str]
CountTokens = Callable[[str], int]


def format_passages(passages: list[Passage]) -> str:
    return "\n\n".join(f"[{p.n}] {p.title}\n{p.text}".strip() for p in passages)


def user_content(question: str, passages: list[Passage], history: list[str] | None = None) -> str:
    parts = [f"Context:\n{format_passages(passages)}" if passages else "Context:\n(no passages)"]
    if history:
        recent = "\n".join(f"- {line}" for line in history[-_HISTORY_TURNS:])
        parts.append(f"Earlier in this conversation:\n{recent}")
    parts.append(f"Question: {question.strip()}")
    return "\n\n".join(parts)


def build_messages(question: str, passages: list[Passage], history: list[str] | None = None) -> list[Message]:
    """System + user messages for a chat model (the assistant turn is the answer)."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_content(question, passages, history)},
    ]


def fit_passages(
    question: str,
    passages: list[Passage],
    budget_tokens: int,
    count_tokens: CountTokens,
    history: list[str] | None = None,
) -> list[Passage]:
    """Passages trimmed so the whole prompt stays within ``budget_tokens``.

    Earlier passages rank higher, so the last ones are shortened first and dropped when a
    stub would be all that is left; numbering is kept so citations still match sources.
    """
    kept = list(passages)

    def size(items: list[Passage]) -> int:
        return sum(count_tokens(m["content"]) + 4 for m in build_messages(question, items, history))

    while kept and size(kept) > budget_tokens:
        over = size(kept) - budget_tokens
        last = kept[-1]
        words = last.text.split()
        own = count_tokens(last.text)
        if own - over >= _MIN_PASSAGE_TOKENS and len(words) > 1:
            keep_ratio = max(0.0, (own - over - 2) / max(own, 1))
            cut = max(1, int(len(words) * keep_ratio))
            if cut >= len(words):
                cut = len(words) - 1
            kept[-1] = Passage(n=last.n, title=last.title, text=" ".join(words[:cut]) + " ...")
        else:
            kept.pop()
    return kept
