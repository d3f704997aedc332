"""Answer type: a "how long / how many / when" question needs an answer that states an amount or a time.

A small model often answers the passage instead of the question: asked "How long is a VPN
profile valid?", it copies the three steps that get one. Every sentence is supported, so
groundedness passes, yet nothing in the reply says how long. This check catches the plainest
case of that (a quantity or time question whose answer holds no number, amount or time word)
and is deliberately permissive: a word like "several", "weekly" or "after" is enough to pass.
"""

from __future__ import annotations

import re

from guardrails.base import CheckContext, Verdict
from guardrails.grounding.support import NUMBER_WORDS

# question forms that ask for an amount (count, size, duration, frequency, price) or a time
_QUANTITY = re.compile(
    r"\bhow\s+(many|much|long|often|old|far|big|large|small|tall|high|wide|deep|heavy|fast|quickly|soon|frequently|early|late)\b"
    r"|\bwhat\s+(percentage|percent|proportion|number|amount)\b",
    re.IGNORECASE,
)
_TIME = re.compile(
    r"^\W*when\b(?![^?]*,\s*(this|that|it|there)?\s*\w*\s*(what|which|who|whom|whose|how|where|why)\b)|\b(what|which)\s+(year|date|day|month|time(?!\s+zones?\b)|century|decade|era|season|hour)\b"
    r"|\bin\s+(what|which)\s+(year|century|decade|month|period)\b",
    re.IGNORECASE,
)

_WORDS = list(NUMBER_WORDS) + (
    # more numbers and amounts
    "seventy eighty hundreds thousand thousands million millions billion billions trillion dozen dozens half quarter third once twice thrice double "
    "triple few several many numerous multiple most none nothing unlimited percent free more less fewer least "
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth twentieth hundredth "
    # durations, times and frequencies
    "seconds minute minutes hour hours day days week weeks month months year years decade decades "
    "century centuries era period following prior upon today tomorrow yesterday tonight morning afternoon evening night noon "
    "midnight weekend weekends ago before after during until till since within early earlier late later "
    "immediately soon never always forever indefinitely permanently annually yearly monthly "
    "weekly daily hourly quarterly regularly "
    "january february march april june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday spring summer autumn fall winter"
).split()
_STATES = re.compile(r"\d|\b(" + "|".join(sorted(set(_WORDS), key=len, reverse=True)) + r")\b|\ba\s+single\b|\b(?-i:May)\b", re.IGNORECASE)
# digits that are not an answer's figures: list markers ("2019. It ..." is a year), citations,
# links and Slack mentions. A value in code counts: "`max_retries: 3`" answers "how many retries".
_NOT_FIGURES = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+|\[\d+\]|<[^>]*>|https?://[^\s`]+", re.MULTILINE)


def expected_type(question: str) -> str | None:
    """'amount' or 'time' when the question's form asks for one; None for every other question."""
    if _QUANTITY.search(question):
        return "amount"
    if _TIME.search(question):
        return "time"
    return None


def states_type(answer: str) -> bool:
    """True when the answer holds a figure, an amount word or a time word (list markers, citations and links aside)."""
    return bool(_STATES.search(_NOT_FIGURES.sub(" ", answer)))


class AnswerTypeValidator:
    """Fails a quantity or time question's answer that states no amount or time (see module docstring);
    there is nothing to repair with, so ``fix`` refrains like ``refrain``."""

    name = "answer_type"
    action_setting = "answer_type_action"

    def validate(self, text: str, context: CheckContext) -> Verdict:
        wanted = expected_type(context.question)
        if wanted is None or not text.strip():
            return Verdict(self.name, True, None)
        if states_type(text):
            return Verdict(self.name, True, 1.0)
        return Verdict(self.name, False, 0.0, f"the question asks for {'an amount' if wanted == 'amount' else 'a time'}, and the answer states none.")
