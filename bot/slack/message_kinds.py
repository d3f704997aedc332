"""What kind of message a Slack event carries besides a question: thanks for an answer, an
edit worth a second look, a deletion. The Bolt app (``bot.slack.app``) decides with these."""

from __future__ import annotations

import re
import time
from typing import Any

EDIT_WINDOW_S = 24 * 3600  # edits of messages older than this are not taken as questions
_EMOJI = r":[a-z0-9_+'-]+:"
# "thanks", "great, thanks!", "ok :thumbsup:", ":+1::skin-tone-3:": a reply to an answer, not a
# question. One loop of pieces that cannot match the same text two ways: no backtracking blow-up.
_ACK_WORDS = (
    r"thanks?|thank(?: you| u)|thx|ty|tysm|cheers|ok(?:ay)?|kk?|cool|great|perfect|got it|nice|awesome|excellent|"
    r"will do|sounds good|makes sense|that helps|that helped|that works|that worked|(?:much )?appreciated|"
    r"so much|very much|a lot|again|many|all good|no worries|yes|yep|lol"
)
ACKNOWLEDGEMENT = re.compile(rf"^(?=.*\w)(?:(?:{_ACK_WORDS})\b|[\s!.,)]|:\)|{_EMOJI})*$", re.IGNORECASE)
_EMOJI_CODE = re.compile(_EMOJI)


def is_acknowledgement(text: str) -> bool:
    return bool(ACKNOWLEDGEMENT.match(text))


def is_thanks(text: str) -> bool:
    """An acknowledgement in words ("@ragbot thanks!"); an emoji alone (":wave:") gets the
    question check's note instead, since it may open a conversation."""
    return is_acknowledgement(text) and any(c.isalpha() for c in _EMOJI_CODE.sub("", text))


def deleted_ts(event: dict[str, Any]) -> str | None:
    """The ts of the message a ``message`` event says was deleted: ``message_deleted``, or, for a
    message with thread replies, ``message_changed`` into a tombstone; None for anything else."""
    if event.get("subtype") == "message_deleted":
        return event.get("deleted_ts") or (event.get("previous_message") or {}).get("ts")
    message = event.get("message") or {}
    if event.get("subtype") == "message_changed" and message.get("subtype") == "tombstone":
        return message.get("ts")
    return None


def edited_message(event: dict[str, Any]) -> dict[str, Any] | None:
    """The message of a ``message_changed`` event as edited, when its words changed lately (the
    caller also checks it was refused as no question); None for link previews (same words) and
    edits of messages older than a day."""
    message, before = event.get("message") or {}, event.get("previous_message") or {}
    if not message or message.get("text") == before.get("text"):
        return None
    try:
        if float(message.get("ts") or 0) < time.time() - EDIT_WINDOW_S:
            return None
    except ValueError:
        return None
    return {**message, "channel": event.get("channel", ""), "channel_type": event.get("channel_type")}


# how a message that does not address ragbot still asks something: a question mark, or the
# way questions start ("how do I", "can someone", "does anyone know")
_ASKS = re.compile(
    r"\?|^\W*(?:how|what|where|when|why|who|whom|which|can|could|do|does|did|is|are|was|were|should|shall|may|"
    r"will|would|has|have|anyone|any idea|help|need help)\b",
    re.IGNORECASE,
)


def reads_as_question(text: str) -> bool:
    """In a channel that answers without a mention: announcements and chatter are left alone."""
    return bool(_ASKS.search(text))
