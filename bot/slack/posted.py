"""Finding a post Slack may already have made, so that a retry after an unclear failure does
not post the same answer twice.

chat.postMessage has no idempotency key. When the call times out, the connection drops, or
Slack answers 5xx, the message may be in the thread all the same, and the outbox's retry posted
it a second time (a review measured it: Slack answering after the client's 15 s deadline gave
two identical replies). So every post from the outbox carries message metadata naming its row,
and before a row whose last try ended unclearly is tried again, the thread (or the channel, for
an escalation post) is read for a message carrying that name. Reading needs the history scopes
the manifest asks for; when the read fails the row is posted again: a duplicate is better than
silence.
"""

from __future__ import annotations

import time
from datetime import timedelta, timezone
from typing import Any

from bot.slack.incoming import read_page
from bot.state.models import OutboxMessage

METADATA_TYPE = "ragbot_outbox"
CLOCK_SLACK = timedelta(minutes=5)  # Slack's clock against ours: read a little before the row was written
PAGE_SIZE = 200
MAX_PAGES = 5  # a thousand messages since the row was written; a busier place is posted to again
READ_BUDGET_S = 45.0  # well inside the outbox's 120 s lease, so no other sender takes the row meanwhile


def tag(row: OutboxMessage) -> dict[str, Any]:
    """The message metadata that names ``row`` (``chat.postMessage(metadata=...)``)."""
    return {"event_type": METADATA_TYPE, "event_payload": {"outbox_id": row.id, "request_id": row.request_id or ""}}


def find_post(client: Any, row: OutboxMessage, channel: str, thread_ts: str | None) -> str | None:
    """The ts of the message Slack holds for ``row`` in ``channel`` (in the thread ``thread_ts``,
    or the channel itself when None); None when there is none. Raises what the Web API raises
    (no history scope, not in the channel, rate limited): the caller decides what then."""
    oldest = f"{row.created_at.replace(tzinfo=timezone.utc).timestamp() - CLOCK_SLACK.total_seconds():.6f}"
    cursor, started = None, time.monotonic()
    for _ in range(MAX_PAGES):
        if time.monotonic() - started > READ_BUDGET_S:
            raise TimeoutError(f"reading {channel} for an earlier post took over {READ_BUDGET_S:.0f} s")
        query = {"oldest": oldest, "include_all_metadata": True, "limit": PAGE_SIZE}
        if cursor:
            query["cursor"] = cursor
        response = read_page(client, channel, thread_ts, **query)
        for message in response.get("messages") or []:
            if names_row(message, row):
                return message.get("ts")
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
    return None


def names_row(message: dict, row: OutboxMessage) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return (
        metadata.get("event_type") == METADATA_TYPE
        and str(payload.get("outbox_id")) == str(row.id)
        and str(payload.get("request_id") or "") == (row.request_id or "")
    )
