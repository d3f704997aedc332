"""Sends what the outbox owes: replies, escalation posts and updates, relayed human answers.

Every row was committed before this runs, so a Slack error or a crash only delays it: the
row goes back with exponential backoff and :class:`RetryLoop` tries again later. A row is
claimed before sending, so two workers (or two bot instances) never post it at once; a try
that ended without knowing whether Slack posted (timeout, 5xx, a sender that stopped) looks for
its post before posting again (``bot.slack.posted``). Slack's refusals that no retry fixes are
handled at once: refused blocks go again as plain text, a place the bot cannot post to is given
up (and logged as an ERROR).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.runtime.resilience import retry_after_s, slack_error_code, slack_maybe_done
from bot.slack import blocks as bk
from bot.slack import posted
from bot.state import StateStore
from bot.state.models import OutboxMessage
from bot.state.outbox import KIND_EPHEMERAL, KIND_ESCALATION_POST, KIND_ESCALATION_UPDATE, KIND_HUMAN_ANSWER, KIND_REPLY, marked, marks

log = logging.getLogger(__name__)

MAX_RATE_LIMIT_WAIT_S = 3600  # a Retry-After beyond this is not believed; the row tries again then
# Slack refused the message's blocks: the same text goes again without them.
BLOCKS_REFUSED = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_too_long", "too_many_attachments", "invalid_attachments"})
# Slack will never take it where it is addressed: retrying for a day helps nobody.
UNDELIVERABLE = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "channel_is_archived", "user_not_in_channel", "user_not_found",
    "restricted_action", "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
    "restricted_action_non_threadable_channel", "cannot_reply_to_message", "messages_tab_disabled", "no_permission",
    "ekm_access_denied", "team_access_not_granted", "message_not_found", "cant_update_message", "edit_window_closed",
    "thread_not_found",
})
PLAIN_TEXT_LIMIT = 3900
UNREACHED_TEXT = ("I couldn't reach the people who answer questions (Slack refused my post to the escalation channel). "
                  "Please ask a colleague directly, or press *Ask a human* again later; an admin can check `escalation_channel`.")
UNRELAYED_TEXT = ("Your answer to escalation #{id} could not be posted in the asker's thread ({reason}). "
                  "Please send it to {asker} directly.")
READ_TRIES = 5  # an unsure row whose look-up keeps failing is posted anyway from this attempt on


class NotYet(Exception):
    """The row depends on another that has not landed yet (an update before its post)."""


class GiveUp(Exception):
    """The row can never be sent (an update whose post was given up)."""


class OutboxDeliverer:
    def __init__(self, state: StateStore, client: WebClient, redactor: Callable[[str], str] | None = None, metrics: Any = None) -> None:
        self.state = state
        self.client = client
        self.redactor = redactor  # a human's answer is kept redacted once it has been delivered
        self.metrics = metrics

    def flush(self, now: datetime | None = None) -> int:
        """Try every due row once, oldest first; returns how many landed."""
        delivered = 0
        for message_id in self.state.outbox.due_ids(now):
            row = self.state.outbox.claim(message_id, now)
            if row is not None and self._deliver(row, now):
                delivered += 1
        return delivered

    def send(self, message_id: int) -> bool:
        """Try one row now (a note that should not wait behind a backlog); False when it did not
        land or another sender has it. What fails stays owed to the retry loop, marks and all."""
        row = self.state.outbox.claim(message_id)
        return row is not None and self._deliver(row, None)

    def _deliver(self, row: OutboxMessage, now: datetime | None) -> bool:
        plain, unsure = marks(row.last_error)
        try:
            ts = self._send(row, plain=plain, unsure=unsure)
        except NotYet as waiting:
            self.state.outbox.failed(row.id, marked(str(waiting), plain=plain, unsure=unsure), now, count_attempt=False)
            return False
        except GiveUp as reason:
            return self._failed(row, reason, now, give_up=True, plain=plain, unsure=unsure)
        except SlackApiError as error:
            wait, code = _rate_limited_for(error), slack_error_code(error)
            if wait is not None:  # rate limited, not failing: it does not use up the row's attempts
                log.info("outbox %s #%s rate limited by Slack; next try in %.0f s", row.kind, row.id, wait)
                note = marked(f"rate limited: {error}", plain=plain, unsure=unsure)
                self.state.outbox.failed(row.id, note, now, count_attempt=False, retry_in=timedelta(seconds=min(wait, MAX_RATE_LIMIT_WAIT_S)))
                return False
            if code in BLOCKS_REFUSED and not plain:
                log.warning("outbox %s #%s: Slack refused its blocks (%s); sending the text alone", row.kind, row.id, code)
                self.state.outbox.failed(row.id, marked(code, plain=True, unsure=unsure), now, count_attempt=False, retry_in=timedelta(0))
                return False
            give_up = code in UNDELIVERABLE or code in BLOCKS_REFUSED
            return self._failed(row, error, now, give_up=give_up, plain=plain, unsure=unsure or slack_maybe_done(error))
        except Exception as error:  # noqa: BLE001 - any Slack or network failure is retried
            return self._failed(row, error, now, plain=plain, unsure=unsure or slack_maybe_done(error))
        self.state.outbox.sent(row.id, ts)
        if row.kind == KIND_REPLY and row.request_id:
            self.state.questions.mark_delivery(row.request_id, "sent")
        if row.kind in (KIND_HUMAN_ANSWER, KIND_ESCALATION_UPDATE) and row.escalation_id and self.redactor is not None:
            self._redact_answer(row.escalation_id)
        return True

    def _failed(self, row: OutboxMessage, error: Exception, now: datetime | None, *, give_up: bool = False, plain: bool = False,
                unsure: bool = False) -> bool:
        """A Slack or network failure: the row goes back with backoff, or dies (``give_up``: Slack
        will never take it; otherwise after a day of attempts)."""
        if self.metrics is not None:  # an alert on this counter must see a Slack outage
            self.metrics.external_errors.labels("slack", type(error).__name__).inc()
        text = marked(f"{type(error).__name__}: {error}", plain=plain, unsure=unsure)
        failed = self.state.outbox.failed(row.id, text, now, give_up=give_up)
        level = logging.ERROR if failed.status == "dead" else logging.WARNING
        log.log(level, "outbox %s #%s (request %s) failed, attempt %s (%s): %s", row.kind, row.id, row.request_id, failed.attempts, failed.status, error)
        if failed.status == "dead" and row.kind == KIND_REPLY and row.request_id:
            self.state.questions.mark_delivery(row.request_id, "failed")
        if failed.status == "dead" and row.kind in (KIND_ESCALATION_POST, KIND_HUMAN_ANSWER) and row.escalation_id:
            self._not_delivered(row, error)
        return False

    def _not_delivered(self, row: OutboxMessage, error: Exception) -> None:
        """Someone must hear that a hand-over failed. An escalation post no human will see: the
        asker is told, and the escalation stops counting as open (asking again posts a new one
        to the escalation channel set now). A human's answer the thread refused: they are told."""
        esc = self.state.escalations.get(row.escalation_id or 0)
        if esc is None:
            return
        reason = slack_error_code(error) or type(error).__name__
        if row.kind == KIND_ESCALATION_POST:
            if self.state.escalations.unposted(esc.id, bk.note(esc.channel_id, esc.thread_ts, UNREACHED_TEXT)):
                log.error("escalation %s could not be posted to %s (%s); the asker is told", esc.id, esc.escalation_channel, reason)
        elif esc.answered_by:
            text = UNRELAYED_TEXT.format(id=esc.id, reason=reason, asker=f"<@{esc.asker_id}>" if esc.asker_id else "the asker")
            self.state.outbox.enqueue(KIND_EPHEMERAL, {"channel": esc.escalation_channel, "user": esc.answered_by, "text": text})

    def _redact_answer(self, escalation_id: int) -> None:
        try:
            self.state.escalations.redact_delivered_answer(escalation_id, self.redactor)
        except Exception as error:  # noqa: BLE001 - the hourly housekeeping tries again; the post itself landed
            log.warning("could not redact the human answer of escalation %s: %s", escalation_id, type(error).__name__)

    def _send(self, row: OutboxMessage, *, plain: bool = False, unsure: bool = False) -> str | None:
        """One Slack call for ``row``; ``plain``: Slack refused its blocks, so the text goes alone;
        ``unsure``: an earlier try may have posted it, so Slack is asked first."""
        if row.kind == KIND_REPLY:
            if self.state.outbox.has_earlier_unsent(row):
                raise NotYet("an earlier part of this answer is not sent yet")
            return self._post(row, _plain(row.payload) if plain else row.payload, unsure)
        if row.kind == KIND_EPHEMERAL:  # an ephemeral message cannot be looked up: at worst it shows twice
            self.client.chat_postEphemeral(**(_plain(row.payload) if plain else row.payload))
            return None
        esc = self.state.escalations.get(row.escalation_id or 0)
        if esc is None:
            raise LookupError(f"escalation {row.escalation_id} is missing")
        if row.kind == KIND_ESCALATION_POST:
            message = {"text": f"Escalation #{esc.id}: a question needs a human", "blocks": bk.escalation_blocks(esc)}
            ts = self._post(row, {"channel": esc.escalation_channel, "unfurl_links": False, **(_plain(message) if plain else message)}, unsure)
            self.state.escalations.set_message_ts(esc.id, ts)
            return ts
        if row.kind == KIND_ESCALATION_UPDATE:
            if not esc.message_ts:
                if self.state.outbox.escalation_post_dead(esc.id):
                    raise GiveUp(f"escalation {esc.id} was never posted")
                raise NotYet(f"escalation {esc.id} is not posted yet")
            message = {"text": f"Escalation #{esc.id} ({esc.status})", "blocks": bk.escalation_blocks(esc)}
            self.client.chat_update(channel=esc.escalation_channel, ts=esc.message_ts, **(_plain(message) if plain else message))
            return esc.message_ts
        if row.kind == KIND_HUMAN_ANSWER:
            if self.state.outbox.has_earlier_unsent(row, (KIND_REPLY,)):  # the bot's own reply first, then the human's
                raise NotYet(f"the bot's reply to request {row.request_id} is not sent yet")
            message = {"text": bk.escape(f"A human answered: {esc.human_answer or ''}"[:300]), "blocks": bk.human_answer_blocks(esc)}
            return self._post(row, {"channel": esc.channel_id, "thread_ts": esc.thread_ts, "unfurl_links": False, **(_plain(message) if plain else message)}, unsure)
        raise ValueError(f"unknown outbox kind {row.kind!r}")

    def _post(self, row: OutboxMessage, message: dict, unsure: bool) -> str:
        """chat.postMessage with the row's name in the message metadata; when an earlier try may
        have landed, the post Slack already holds is taken instead of posting twice."""
        if unsure and (ts := self._already_posted(row, message["channel"], message.get("thread_ts"))):
            return ts
        return self.client.chat_postMessage(metadata=posted.tag(row), **message)["ts"]

    def _already_posted(self, row: OutboxMessage, channel: str, thread_ts: str | None) -> str | None:
        try:
            ts = posted.find_post(self.client, row, channel, thread_ts)
        except Exception as error:
            if _rate_limited_for(error) is not None or (slack_maybe_done(error) and row.attempts < READ_TRIES):
                raise  # Slack is struggling (timeout, 5xx, 429): the row waits, still unsure
            # refused for good (no history scope, not a member of the channel) or failing for
            # READ_TRIES attempts while posts may work: a possible duplicate beats silence
            log.warning("outbox %s #%s: could not read Slack to see whether an earlier try posted it (%s); posting it, "
                        "which may show it twice", row.kind, row.id, slack_error_code(error) or type(error).__name__)
            return None
        if ts:
            log.info("outbox %s #%s was posted by an earlier try (ts %s); not posting it again", row.kind, row.id, ts)
        return ts


def _plain(payload: dict) -> dict:
    """``payload`` without blocks: their text (or the notification text) cut to Slack's comfort."""
    sections = [block["text"]["text"] for block in payload.get("blocks") or [] if isinstance(block.get("text"), dict) and block["text"].get("text")]
    text = "\n".join(sections) or payload.get("text") or ""
    if len(text) > PLAIN_TEXT_LIMIT:
        text = text[: PLAIN_TEXT_LIMIT - 1] + "…"
    return {key: value for key, value in payload.items() if key not in ("blocks", "text")} | {"text": text}


def _rate_limited_for(error: SlackApiError) -> float | None:
    """Seconds Slack asked to wait when the call was rate limited (429), else None."""
    response = error.response
    if response is None or getattr(response, "status_code", None) != 429:
        return None
    return retry_after_s(getattr(response, "headers", None)) or 1.0


class RetryLoop:
    """Flushes the outbox in a daemon thread: every ``interval_s``, at start (rows a previous
    process left behind), and soon after :meth:`kick` (new rows), off the request path."""

    CHORE_EVERY_S = 3600.0

    def __init__(self, deliverer: OutboxDeliverer, interval_s: float, chores: list | None = None) -> None:
        self.deliverer = deliverer
        self.interval_s = interval_s
        self.chores = list(chores or [])  # hourly housekeeping, e.g. pruning old processed event ids
        self._last_chores = float("-inf")  # monotonic time counts from boot: run the first round at start
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "RetryLoop":
        self._thread = threading.Thread(target=self._run, name="ragbot-outbox", daemon=True)
        self._thread.start()
        return self

    def kick(self) -> None:
        """New rows are waiting: flush now (inline when the loop is not running)."""
        if self._thread is None:
            self._flush()
            return
        self._idle.clear()
        self._wake.set()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every kick so far has been flushed (tests, shutdown)."""
        return self._thread is None or self._idle.wait(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self._flush()
            if not self._wake.is_set():
                self._idle.set()
            self._wake.wait(self.interval_s)

    def _flush(self) -> None:
        try:
            self.deliverer.flush()
        except Exception:  # noqa: BLE001 - a database hiccup must not end the loop
            log.exception("outbox flush failed")
        if self.chores and time.monotonic() - self._last_chores >= self.CHORE_EVERY_S:
            self._last_chores = time.monotonic()
            for chore in self.chores:
                try:
                    chore()
                except Exception:  # noqa: BLE001
                    log.exception("housekeeping %r failed", chore)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
