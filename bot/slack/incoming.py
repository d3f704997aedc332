"""A Slack message's text as a person wrote it: Slack sends ``R&D`` as ``R&amp;D``, links as
``<https://…|label>``, channels as ``<#C123|name>``. Search, the checks and the prompt need
the words, not the markup (an escaped question found worse passages)."""

from __future__ import annotations

import html
import re
from typing import Any

from retrieval.relevance import content_words

# No piece runs past a "<": on text full of unclosed "<http:" each try stops at the next one
# (linear time; they ran quadratically, seconds on 40,000 characters, before the ack).
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^<>]*)?>")  # the bot's (and others') mentions
_CHANNEL = re.compile(r"<#[A-Z0-9]+(?:\|([^<>]*))?>")
_SPECIAL = re.compile(r"<!(?:here|channel|everyone)(?:\|[^<>]*)?>|<!subteam\^[A-Z0-9]+(?:\|([^<>]*))?>|<!date\^[^|<>]*\|([^<>]*)>")
_LINK = re.compile(r"<((?:https?|mailto|tel):[^|<>\s]+)(?:\|([^<>]*))?>")


def _link(match: re.Match) -> str:
    target, label = match.group(1), match.group(2)
    if target.startswith(("mailto:", "tel:")):
        return label or target.split(":", 1)[1]
    return f"{label} ({target})" if label and label != target else target


def question_text(text: str) -> str:
    """Mentions removed, channels and user groups as ``#name``/``@name``, links as their label
    and address, entities decoded."""
    text = _MENTION.sub("", text or "")
    text = _CHANNEL.sub(lambda m: f"#{m.group(1)}" if m.group(1) else "", text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(1)}" if m.group(1) else (m.group(2) or ""), text)
    text = _LINK.sub(_link, text)
    return html.unescape(text).strip()


# what "@ragbot can you answer this?" / "any idea?" / "thoughts?" say beyond pointing at a message
_POINTING_WORDS = frozenset({"answer", "help", "idea", "look", "know", "thought", "question", "check", "ragbot", "bot", "doc", "docs", "say"})


def asks_nothing_of_its_own(text: str) -> bool:
    """Words that only point at another message (the thread's first, or one forwarded with them)."""
    return content_words(text) <= _POINTING_WORDS


def forwarded_text(message: dict[str, Any]) -> str:
    """The words of what ``message`` carries in attachments: a forwarded message (``is_share``),
    or another app's post that puts its text there (Workflow Builder, alerts)."""
    parts = [a.get("text") or a.get("fallback") or "" for a in message.get("attachments") or [] if isinstance(a, dict)]
    return question_text("\n".join(part for part in parts if part))


def message_question(message: dict[str, Any]) -> str:
    """The question a message asks: its own words, or what it forwards when its words only point
    at that ("@ragbot can you answer this?" above a forwarded message, or no words at all)."""
    own = question_text(message.get("text") or "")
    if asks_nothing_of_its_own(own):
        return forwarded_text(message) or own
    return own


def from_a_person(message: dict[str, Any], bot_user: str | None = None) -> bool:
    """Whether a person wrote ``message``: not a bot (another app, or ragbot's own posts)."""
    return not (message.get("bot_id") or message.get("subtype") == "bot_message") and message.get("user") not in (None, "", bot_user)


def read_page(client: Any, channel: str, thread_ts: str | None, **query: Any) -> Any:
    """One page of a thread's replies (``thread_ts``), or of the channel itself when None."""
    if thread_ts:
        return client.conversations_replies(channel=channel, ts=thread_ts, **query)
    return client.conversations_history(channel=channel, **query)


def read_message(client: Any, channel: str, message_ts: str, thread_ts: str) -> dict[str, Any] | None:
    """The message at ``message_ts`` as Slack holds it now; None when it is gone. Raises what the
    Web API raises (no history scope, not in the channel)."""
    in_thread = thread_ts if thread_ts and thread_ts != message_ts else None
    response = read_page(client, channel, in_thread, oldest=message_ts, latest=message_ts, inclusive=True, limit=5)
    return next((m for m in response.get("messages") or [] if m.get("ts") == message_ts), None)


def read_question(client: Any, channel: str, message_ts: str, thread_ts: str) -> str:
    """The question at ``message_ts`` as Slack holds it now, for a question whose process died
    before answering (ragbot never stores the raw text); "" when it is gone or says nothing."""
    message = read_message(client, channel, message_ts, thread_ts)
    return message_question(message) if message else ""
