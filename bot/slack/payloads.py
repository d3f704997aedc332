"""Bolt's payloads and quirks, apart from what ragbot does with them: reading ids from button
and form payloads, acknowledging what no listener takes, and two of Bolt's log lines."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltRequest, BoltResponse

log = logging.getLogger(__name__)


class BoltLogFilter(logging.Filter):
    """Two of Bolt's log lines. A rejected request is logged with its whole body at INFO: a stale
    but genuine event carries the asker's words, raw; the line stays, the body goes (a level set
    on that logger did not hold: Bolt resets it when it builds the middleware). And every start
    warned that SLACK_BOT_TOKEN "will be unused" (Bolt reads it from the environment beside the
    client ragbot builds from it): dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "`token` will be unused" in message:
            return False
        if "body:" in message:
            record.msg, record.args = message.split("(signature:")[0].strip() + " (request body not logged)", ()
        return True


BOLT_LOG_FILTER = BoltLogFilter()


def on_listener_error(error: Exception) -> BoltResponse | None:
    """A payload missing the fields a listener reads (no ``channel``, a button without its
    value) is acknowledged and logged in one line: a retry would fail the same way. Anything
    else keeps Bolt's 500, so Slack retries an event that met a passing fault."""
    if isinstance(error, (KeyError, TypeError, ValueError, AttributeError)):
        log.warning("ignored a Slack payload a listener could not read: %s", type(error).__name__)
        return BoltResponse(status=200, body="")
    log.error("a Slack listener failed: %s", type(error).__name__)  # the message may quote a question
    log.debug("listener failure", exc_info=error)
    return None


def ack_rate_limit_notice(body: dict, next: Callable[[], Any]) -> BoltResponse | None:  # noqa: A002 - Bolt passes it by this name
    """Slack says it is dropping events (``app_rate_limited``, sent unsubscribed): acked, warned."""
    if isinstance(body, dict) and body.get("type") == "app_rate_limited":
        log.warning("Slack is rate-limiting ragbot's events (minute %s); some questions may not arrive", body.get("minute_rate_limited"))
        return BoltResponse(status=200, body="")
    return next()


def retry_number(request: BoltRequest | None) -> str:
    """Which delivery of the event this is (Bolt puts Socket Mode's retry_attempt in the same header)."""
    header = (request.headers.get("x-slack-retry-num") or [None])[0] if request is not None else None
    return header or "none"


def request_id_of(value: Any) -> str:
    """A button's request id as ragbot wrote it; anything else is a malformed payload (a
    ValueError: acknowledged and logged by ``on_listener_error``, not a database error's 500)."""
    if not isinstance(value, str) or not 0 < len(value) <= 32:
        raise ValueError("not a request id")
    return value


def escalation_id_of(value: Any) -> int:
    """An escalation number from a button or a form; a huge one overflowed the database (500)."""
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise ValueError("not an escalation id")
    return int(value)


def message_place(body: dict) -> tuple[str, str | None]:
    """(channel, thread ts) of the message whose button was pressed."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
    thread = message.get("thread_ts") or container.get("thread_ts") or message.get("ts") or container.get("message_ts")
    return channel, thread
