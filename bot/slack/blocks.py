"""Block Kit for everything ragbot posts, kept within Slack's limits: a section's text at
most 3,000 characters, a message at most 50 blocks (longer answers become several messages)."""

from __future__ import annotations

import re
from typing import Any

from bot.answer import Answer, Outcome, Source
from guardrails.format.slack import escape_entities

SECTION_LIMIT = 3000
BLOCK_LIMIT = 50
NOTIFY_TEXT_LIMIT = 300  # the plain `text` used for notifications and screen readers

ACTION_HELPFUL = "ragbot_helpful"
ACTION_NOT_HELPFUL = "ragbot_not_helpful"
ACTION_ASK_HUMAN = "ragbot_ask_human"
ACTION_CLAIM = "ragbot_escalation_claim"
ACTION_ANSWER = "ragbot_escalation_answer"
ANSWER_MODAL = "ragbot_escalation_answer_modal"
ANSWER_INPUT_BLOCK = "human_answer"
ANSWER_INPUT_ACTION = "text"

_BUTTON_HINT = re.compile(r"\s+(?:You can ask a human|A human can help) with the button below\.|;\s+(?:if it keeps happening, )?a human can help with the button below(?=\.)")
ESCALATED_NOTE = ":raising_hand: I've also asked a human to check this; they'll reply in this thread."
HELD_TEXT = (
    "I'm not sure enough of my answer to send it, so I've passed your question to a human. "
    "They'll reply in this thread."
)


def escape(text: str) -> str:
    """Slack's three control characters, escaped as its docs require, and only once: answers
    arrive already escaped by the format check (guardrails/format/slack.py)."""
    return escape_entities(text)


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")


def to_mrkdwn(text: str) -> str:
    """Model Markdown to Slack mrkdwn: escape, ``**b**`` -> ``*b*``, ``[t](url)`` -> ``t (<url>)``.
    The address is shown, never hidden behind a label: a document's ``[Handbook](https://evil)``
    must not reach Slack as a link that reads "Handbook"."""
    text = _BOLD.sub(r"*\1*", escape(text))
    return _LINK.sub(lambda m: f"<{m.group(2)}>" if m.group(1).strip() == m.group(2) else f"{m.group(1)} (<{m.group(2)}>)", text)


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at paragraph, then line, then word boundaries."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = _outside_markup(window, limit)  # no good boundary in the second half: a hard cut beats tiny pieces
        for boundary in ("\n\n", "\n", " "):
            position = window.rfind(boundary)
            if position >= limit // 2:
                cut = position
                break
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces or [""]


def _outside_markup(window: str, cut: int) -> int:
    """``cut`` moved back before an entity (``&amp;``) or a ``<link|label>`` it would split:
    Slack showed "&a" and "mp;" on either side of a hard cut."""
    amp, lt = window.rfind("&", 0, cut), window.rfind("<", 0, cut)
    if amp > cut - 8 and ";" not in window[amp:cut]:
        cut = amp
    if lt > window.rfind(">", 0, cut) and lt > 0:
        cut = lt
    return cut if cut > 0 else len(window)


def note(channel: str, thread_ts: str, text: str) -> dict[str, Any]:
    """A short plain message in a thread (a failure note, "I couldn't reach a human"), as a reply payload."""
    return {"channel": channel, "thread_ts": thread_ts, "text": text, "blocks": [section(escape(text))]}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def sections(text: str) -> list[dict[str, Any]]:
    return [section(piece) for piece in split_text(text)]


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_LIMIT]}]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    element = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, "value": value}
    if style:
        element["style"] = style
    return element


def confidence_words(confidence: float) -> str:
    if confidence >= 0.75:
        return "high"
    if confidence >= 0.5:
        return "medium"
    if confidence >= 0.25:
        return "low"
    return "very low"


def source_line(n: int, heading: str, location: str, score: float | None = None, url: str = "", *, short_path: bool = True) -> str:
    """``n. <url|heading>`` for web locations, ``n. *heading* (path)`` otherwise; ``short_path``
    shows only a file's folder and name (askers need not see where the server keeps files)."""
    shown = escape(heading or location or "untitled")
    link = url or (location if location.startswith(("http://", "https://")) else "")
    if link:
        line = f"{n}. <{link}|{shown}>"
    else:
        path = _short_path(location) if short_path else location
        line = f"{n}. *{shown}*" + (f" ({escape(path)})" if path and location != heading else "")
    return line + (f" · score {score:.2f}" if score is not None else "")


def _short_path(location: str) -> str:
    """``/home/deploy/kb/it/vpn.md`` -> ``it/vpn.md``; relative or one-part locations unchanged."""
    if not location.startswith(("/", "~")) and not re.match(r"[A-Za-z]:[\\/]", location):
        return location
    parts = [part for part in re.split(r"[\\/]", location) if part]
    return "/".join(parts[-2:])


def source_blocks(sources: list[Any], with_scores: bool = False) -> list[dict[str, Any]]:
    """Sources for the asker, or with scores and full paths for the humans in the escalation channel."""
    if not sources:
        return []
    lines = [source_line(s.n, s.heading, s.location, s.score if with_scores else None, s.url, short_path=not with_scores) for s in sources]
    return sections("*Sources*\n" + "\n".join(lines))


def answer_blocks(answer: Answer, *, escalated: bool, held: bool) -> list[dict[str, Any]]:
    """The reply in the asker's thread, buttons last. ``held``: the draft went to a human instead."""
    blocks: list[dict[str, Any]] = []
    if held:
        blocks.append(section(escape(HELD_TEXT)))
    else:
        # escalated: the note below says a human was asked, so "ask one with the button" goes
        text = _BUTTON_HINT.sub("", answer.text) if escalated else answer.text
        blocks.extend(sections(to_mrkdwn(text)))
        if answer.outcome is Outcome.ANSWERED:
            blocks.extend(source_blocks(answer.sources))
            blocks.append(context(f"Confidence: {confidence_words(answer.confidence)} ({answer.confidence:.2f}) · request `{answer.request_id}`"))
        else:
            blocks.append(context(f"request `{answer.request_id}`"))
    if escalated and not held:
        blocks.append(context(ESCALATED_NOTE))
    buttons = [button("Ask a human", ACTION_ASK_HUMAN, answer.request_id)]
    if answer.outcome is Outcome.ANSWERED and not held:
        buttons = [
            button("Helpful", ACTION_HELPFUL, answer.request_id, "primary"),
            button("Not helpful", ACTION_NOT_HELPFUL, answer.request_id),
            *buttons,
        ]
    blocks.append({"type": "actions", "block_id": f"ragbot_feedback:{answer.request_id}", "elements": buttons})
    return blocks


def messages(blocks: list[dict[str, Any]], fallback_text: str, **address: Any) -> list[dict[str, Any]]:
    """chat.postMessage payloads of at most 50 blocks each, in order."""
    chunks = [blocks[i : i + BLOCK_LIMIT] for i in range(0, len(blocks), BLOCK_LIMIT)] or [[]]
    text = fallback_text.strip()
    text = text if len(text) <= NOTIFY_TEXT_LIMIT else text[: NOTIFY_TEXT_LIMIT - 1] + "…"
    payloads = []
    for i, chunk in enumerate(chunks):
        suffix = f" ({i + 1}/{len(chunks)})" if len(chunks) > 1 else ""
        payloads.append({**address, "text": text + suffix, "blocks": chunk, "unfurl_links": False, "unfurl_media": False})
    return payloads


def thread_link(channel_id: str, ts: str) -> str:
    return f"https://slack.com/archives/{channel_id}/p{ts.replace('.', '')}"


def person(user_id: str | None) -> str:
    """A mention, or "someone" for a name removed at that person's request."""
    return f"<@{user_id}>" if user_id else "someone"


def escalation_blocks(esc: Any) -> list[dict[str, Any]]:
    """The escalation channel's post, re-rendered from the stored escalation on every change."""
    asker = f" from <@{esc.asker_id}>" if esc.asker_id else ""  # unknown when someone else pressed Ask a human
    state = {"open": ":red_circle: Open", "claimed": f":large_yellow_circle: Claimed by {person(esc.claimed_by)}",
             "resolved": f":white_check_mark: Answered by {person(esc.answered_by)}"}[esc.status]
    blocks = [
        section(f"*Escalation #{esc.id}* · {state}\n*Question*{asker} in <#{esc.channel_id}> (<{thread_link(esc.channel_id, esc.thread_ts)}|thread>):"),
        *sections("> " + escape(esc.question or "(question not stored)").replace("\n", "\n> ")),
        context(f"Why: {escape(esc.reason or 'unknown')} · confidence {esc.confidence:.2f} · request `{esc.request_id}`"),
    ]
    if esc.draft:
        label = "Draft answer (sent to the asker)" if esc.draft_sent else "Draft answer (NOT sent to the asker)"
        blocks.extend(sections(f"*{label}:*\n{to_mrkdwn(esc.draft)}"))
    else:
        blocks.append(context("No draft answer was produced."))
    blocks.extend(source_blocks(_stored_sources(esc.sources), with_scores=True))
    if esc.status == "resolved":
        blocks.extend(sections(f"*Human answer:*\n{to_mrkdwn(esc.human_answer or '')}"))
    else:
        elements = [button("Answer", ACTION_ANSWER, str(esc.id), "primary")]
        if esc.status == "open":
            elements.insert(0, button("Claim", ACTION_CLAIM, str(esc.id)))
        blocks.append({"type": "actions", "block_id": f"ragbot_escalation:{esc.id}", "elements": elements})
    return blocks[:BLOCK_LIMIT]


def human_answer_blocks(esc: Any) -> list[dict[str, Any]]:
    return [
        *sections(f"*{person(esc.answered_by)} (a human) answered:*\n{to_mrkdwn(esc.human_answer or '')}"),
        context(f"Escalation #{esc.id} · request `{esc.request_id}`"),
    ][:BLOCK_LIMIT]


def answer_modal(esc: Any) -> dict[str, Any]:
    question = esc.question or "(question not stored)"
    return {
        "type": "modal",
        "callback_id": ANSWER_MODAL,
        "private_metadata": str(esc.id),
        "title": {"type": "plain_text", "text": f"Answer escalation #{esc.id}"[:24]},
        "submit": {"type": "plain_text", "text": "Send answer"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section("*Question:*\n" + escape(question)[: SECTION_LIMIT - 20]),
            {
                "type": "input",
                "block_id": ANSWER_INPUT_BLOCK,
                "label": {"type": "plain_text", "text": "Your answer (posted in the asker's thread)"},
                "element": {"type": "plain_text_input", "action_id": ANSWER_INPUT_ACTION, "multiline": True, "max_length": 3000},
            },
        ],
    }


def _stored_sources(items: list[dict[str, Any]] | None) -> list[Source]:
    """Stored sources are dicts (older rows lack the later fields)."""
    return [Source.model_validate({"n": 0, "title": "", "location": "", "score": 0.0, **{k: v for k, v in item.items() if v is not None}}) for item in items or []]
