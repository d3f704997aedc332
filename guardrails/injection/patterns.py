"""Fast patterns for well-known injection and jailbreak phrasings (the first, cheap layer).

Patterns describe *kinds* of phrasing ("forget/ignore + previous + instructions", "you are
now ...", "reveal your prompt") in English, German and a few other languages seen in attacks,
not particular attack strings. Anything subtler is left to the learned detector.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PREVIOUS = r"(?:all\s+|any\s+|the\s+|your\s+|of\s+)*(?:previous|prior|above|earlier|preceding|foregoing|former|initial|original|old|given|system)?"
_THINGS = r"(?:instructions?|prompts?|rules?|directions?|tasks?|assignments?|context|guidelines?|orders?|commands?|information|messages?|inputs?|text)"

_ENGLISH = [
    rf"\b(?:ignore|disregard|forget|skip|override|bypass|drop|abandon)\s+{_PREVIOUS}\s*{_THINGS}\b",
    r"\b(?:ignore|disregard|forget)\s+(?:all|everything|anything)\b(?:\s+(?:you|that|before|above|previously|i|we|else|said))?",
    r"\bforget\s+(?:about\s+)?(?:everything|all\s+that|what\s+(?:i|you|we))",
    r"\b(?:now|instead)\s*,?\s*(?:focus\s+on\s+)?(?:your|a)\s+new\s+(?:task|instructions?|role|assignment|job)\b",
    r"\bnew\s+(?:task|instructions?|rules?)\s*(?::|follow|are|is)",
    r"\b(?:you\s+are\s+(?:now|no\s+longer)|from\s+now\s+on,?\s+you|pretend\s+(?:to\s+be|you\s+are|that\s+you)|(?:^|[.!?:]\s*|please\s+|now\s+)act\s+as\s+(?:if|a|an|my|the)\b|roleplay\s+as|role-play\s+as|play\s+the\s+role\s+of|i\s+want\s+you\s+to\s+act\s+as)",
    r"\b(?:show|reveal|print|repeat|tell|give|display|output|leak|dump)\s+(?:me\s+)?(?:all\s+)?(?:of\s+)?"
    r"(?:your\s+(?:system\s+|initial\s+|hidden\s+|secret\s+|original\s+)?|the\s+(?:system\s+|initial\s+|hidden\s+|secret\s+|original\s+))"
    r"(?:prompts?|instructions|prompt\s+texts?|rules|configuration)\b(?!\s+(?:on|for|about|regarding|of|to|when|in)\b)",
    r"\bsystem\s+prompt\b",
    r"\b(?:jailbreak|jailbroken|developer\s+mode|dan\s+mode|do\s+anything\s+now|no\s+(?:restrictions|filters|limitations|rules)\s+(?:apply|mode))\b",
    r"\b(?:what\s+is|what's|tell\s+me|give\s+me|send\s+me|reveal|share|print)\s+(?:me\s+)?(?:the\s+)?(?:admin(?:istrator)?|root)\s+password\b(?!\s+(?:policy|rules?|reset|requirements?|rotation|change|manager))",
    r"\bdo\s+not\s+(?:tell|inform|reveal\s+to)\s+the\s+user\b",
    r"(?:^|[.!?:]\s*)(?:now\s+|please\s+)?(?:respond|reply|answer)\s+(?:only\s+)?with\s+[\"'“]",
    r"^\s*(?:stop|attention|halt)\b[\s\-–—:!,.]+(?:write|say|print|ignore|forget|now|i\s+urgently)",
    r"\b(?:ignore|disregard)\s+(?:the\s+)?(?:above|previous|preceding)\b",
    # role changes at the start of a sentence: "You are X.", "Now you are X", "Imagine you are X"
    r"(?:^|[.!?:\"]\s*)(?:ok(?:ay)?[.,]?\s*)?(?:now\s+)?you\s+are\s+(?:now\s+)?(?:a|an|the|my|no|three|two)\b",
    r"\b(?:imagine|suppose)\s+(?:that\s+)?you\s+(?:are|were)\s+(?:a|an|the|my|no\s+longer|not\s+an?)\b",
    r"\b(?:you\s+are|you're)\s+(?:role-?playing|playing\s+the\s+role|in\s+(?:your|a)\s+role)",
    r"\bpretend\s+(?:you|that)\b",
    # answering against the system's own sources or rules
    r"\b(?:not|don'?n?t|do\s+not|without)\s+(?:look(?:ing)?\s+(?:in|at)|us(?:e|ing)|according\s+to|based\s+on|answer(?:ing)?\s+(?:by|from|according\s+to))\s+(?:the\s+)?(?:provided\s+)?(?:documents?|articles?|context|sources?|texts?)",
    r"\bdisregarding\s+(?:the\s+)?(?:documents?|articles?|context|sources?|instructions?)",
    r"\b(?:by|from)\s+your\s+own\s+knowledge\b",
    r"\bdo\s+not\s+answer\s+(?:this|the)\s+question\b",
    r"\b(?:just|only)\s+(?:output|say|print|write)\s+[\"'“]",
    r"\b(?:your|the)\s+instructions\s+are\s+now\b",
    r"\b(?:what|tell\s+me)\s+(?:are|is)\s+your\s+(?:instructions|prompt|rules)\b",
    r"\b(?:in|from)\s+(?:the|your)\s+(?:system\s+)?prompt\s+(?:above|you\s+(?:were|got|have))\b",
    r"\brepeat\s+after\s+me\b",
    r"\b(?:abandon|remove|erase|clear)\s+all\s+(?:your|the|of\s+your)?\s*(?:previous\s+)?(?:thoughts|tasks|instructions|memory|information)",
    r"\bleave\s+all\s+(?:the\s+)?previous\b",
    r"\b(?:say|state|include)\s+that\s+you\s+(?:hate|love|are)\b",
    r"^\s*state\s+that\b",
    r"\bsay\s+yes\b\s*[.!]?\s*$",
    r"\bif\s+you\s+don'?t\s+know,?\s+make\s+(?:something|it)\s+up\b",
    # praise, then a fresh task: "Very good. That is done. Now write ..."
    r"\b(?:well\s+done|very\s+good|very\s+well\s+done|excellent(?:\s+performance)?|simply\s+great|great\s+job|congratulations[^.!?]*)[.!]\s*(?:[^.!?]{0,60}[.!]\s*){0,2}(?:now|but\s+now)\b",
    r"\b(?:that\s+is|that's)\s+(?:enough|done)[.!]\s*(?:[^.!?]{0,40}[.!]\s*)?(?:now|please)\b(?!,?\s+(?:how|what|where|when|who|which|can|could|do|does|is|are|should)\b)",
    r"\b(?:new|another|further)\s+(?:challenge|task|tasks)\s+(?:for\s+you|are\s+followed|follow)",
    r"^\s*(?:human|system|assistant)\s*:",
    r"(?:^|\n)\s*(?:instruction|additional\s+instruction)s?\s*[:\-–]",
]

_OTHER_LANGUAGES = [
    # German
    r"\bvergiss\s+(?:alles|alle|sämtliche|die|deine|was)\b",
    r"\bignorier(?:e|en|t)?\s+(?:alle|alles|die|deine|sämtliche|vorherige|bisherige|obige)",
    r"\b(?:alle|sämtliche)\s+(?:bisherigen|vorherigen|vorangegangenen|obigen)\s+(?:anweisungen|informationen|aufgaben|befehle|instruktionen|eingaben)",
    r"\b(?:bisherigen|vorherigen|vorangegangenen|obigen)\s+(?:anweisungen|informationen|aufgaben|befehle|instruktionen)\s+(?:sind|waren|ignorieren|vergessen)",
    r"\bneue\s+(?:aufgabe|anweisung|anweisungen|rolle|herausforderung)\b",
    r"\b(?:nun|jetzt)\s+(?:bist\s+du|sind\s+sie)\b",
    r"(?:^|[.!?:]\s*)(?:ok(?:ay)?[.,]?\s*)?(?:du\s+bist|sie\s+sind)\s+(?:ein|eine|der|die|das|jetzt|nun)\b",
    r"\b(?:ignorieren?|vergessen)\s+(?:sie\s+)?(?:die|alle)\s+(?:obigen|vorherigen|bisherigen)",
    r"\b(?:die\s+)?obigen\s+(?:ausführungen|anweisungen)\s+(?:ignorieren|vergessen)",
    r"\babweichend\s+(?:zu|von)\s+(?:den\s+)?(?:vorherigen|bisherigen|obigen)",
    r"\b(?:vergiss|vergessen\s+sie)\s+(?:nun|jetzt|bitte)?\s*(?:alle|alles)\b",
    r"\b(?:antworte|antworten\s+sie)\s+im\s+stil\b",
    r"\b(?:sehr\s+gut|gut\s+gemacht|einfach\s+großartig|super|toll)[^.!?]{0,30}[.!]\s*(?:[^.!?]{0,60}[.!]\s*){0,2}(?:jetzt|nun|bitte|aber\s+jetzt)\b",
    r"\bwas\s+sie\s+sich\s+merken\s+müssen\b",
    r"\bsag(?:e|en\s+sie)?\s+(?:mir\s+)?(?:nur|einfach)\s+[\"'„]",
    r"\b(?:tu|tue|tun\s+sie)\s+so,?\s+als\s+(?:ob|wärst|wären)",
    r"\b(?:du\s+bist|sie\s+sind)\s+(?:jetzt|nun|ab\s+(?:jetzt|sofort)|keine?)\b",
    r"\b(?:stell|stellen)\s+(?:dir|sie\s+sich)\s+vor,?\s+(?:du\s+bist|sie\s+sind|du\s+wärst)",
    r"\b(?:ich\s+möchte,?\s+dass\s+(?:du|sie)\s+als|fungiere\s+als|agiere\s+als|handle\s+als)\b",
    r"\b(?:zeig|zeige|gib)\s+(?:mir\s+)?(?:deine|ihre|alle)\s+(?:prompt|anweisungen|instruktionen)",
    # French, Spanish, Italian, Croatian
    r"\boubliez?\s+(?:toutes?|tout|les)\b",
    r"\bignorez?\s+(?:toutes?\s+)?les\s+instructions\b",
    r"\bolvida\s+(?:todo|todas?|las)\b",
    r"\bignora\s+(?:todo|todas?|las|tutte|le)\b",
    r"\bdimentica\s+(?:tutto|tutte)\b",
    r"\bzaboravi\s+(?:sve|sva)\b",
    r"\b(?:olvide|olvidar|olvida)\s+todo\b",
    r"\bзабудьте\s+все\b|\bзабудь\s+все\b|\bигнорируй",
]

_COMPILED = [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in _ENGLISH + _OTHER_LANGUAGES]


@dataclass(frozen=True)
class PatternHit:
    pattern: int
    start: int
    end: int
    text: str


def pattern_hits(text: str) -> list[PatternHit]:
    """Every known injection phrasing in ``text`` (index of the pattern, and where it matched)."""
    hits = []
    for i, regex in enumerate(_COMPILED):
        match = regex.search(text)
        if match:
            hits.append(PatternHit(i, match.start(), match.end(), match.group(0)))
    return hits


def pattern_score(text: str) -> float:
    """0.95 when a known phrasing appears, else 0.0 (a match is strong evidence, not proof)."""
    return 0.95 if any(regex.search(text) for regex in _COMPILED) else 0.0
