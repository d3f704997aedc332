"""The Bolt app: which Slack events, commands and buttons ragbot listens to, and what each does.

Listeners only decide and queue: questions go to :class:`QuestionWorker` (after the ack),
state changes are committed together with the Slack posts they owe (the outbox), and the
posts are then sent by :class:`OutboxDeliverer`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_bolt import App, BoltRequest
from sqlalchemy.exc import SQLAlchemyError
from slack_sdk import WebClient

from adapters.registry import AdapterRegistry
from bot.runtime.resilience import slack_client
from bot.settings import Settings
from bot.slack import blocks as bk
from bot.slack.admin import AdminCheck, AdminCommands
from bot.slack.delivery import OutboxDeliverer, RetryLoop
from bot.slack.effective import EffectiveSettings
from bot.slack.incoming import from_a_person, message_question, question_text
from bot.slack.members import Installation, shared_refusal
from bot.slack.message_kinds import deleted_ts, edited_message, is_acknowledgement, is_thanks, reads_as_question
from bot.slack.payloads import (
    BOLT_LOG_FILTER, ack_rate_limit_notice, escalation_id_of, message_place, on_listener_error, request_id_of, retry_number,
)
from bot.slack.worker import (
    Hasher, QuestionJob, QuestionWorker, default_hasher, deletion_mark, message_claim, refusal_mark, thread_key,
)
from bot.state import Escalation, EscalationError, StateStore
from bot.state.outbox import KIND_EPHEMERAL

log = logging.getLogger(__name__)

SLASH_COMMAND = "/ragbot"
ANSWERED_SUBTYPES = {None, "thread_broadcast", "file_share"}
_SOMEONE = re.compile(r"<@([UW][A-Z0-9]+)")  # a mention of a person


# how the answer form names what it refuses (guardrails.pii.HIGH_RISK)
HIGH_RISK_NAMES = {"CREDIT_CARD": "card number", "US_SSN": "social security number", "IBAN_CODE": "bank account number",
                   "CRYPTO": "crypto wallet address", "SECRET": "password or key"}


class SlackBot:
    """Owns the Bolt ``App`` and the parts its listeners drive. Pass any object with
    ``run(question, RequestContext, settings=...) -> Answer`` as the pipeline."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Any,
        state: StateStore,
        *,
        bot_token: str | None = None,
        signing_secret: str | None = None,
        client: WebClient | None = None,
        hasher: Hasher | None = None,
        redactor: Callable[[str], str] | None = None,
        answer_screen: Callable[[str], list[str]] | None = None,
        metrics: Any = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.client = client or slack_client(settings, bot_token)  # deadline per call, waits out 429s
        self.hasher = hasher or default_hasher
        self.answer_screen = answer_screen  # high-risk PII types in a human's answer, which the form refuses
        self.effective = EffectiveSettings(settings, state.overrides)
        self.deliverer = OutboxDeliverer(state, self.client, redactor=redactor, metrics=metrics)
        self.installation = Installation(self.client, settings.member_teams)  # who ragbot is; learnt from Bolt
        self.worker = QuestionWorker(pipeline, self.effective, state, self.client, self.deliverer, hasher=self.hasher, redactor=redactor, metrics=metrics,
                                     installation=self.installation)
        self.admin = AdminCommands(self.effective, state, AdminCheck(settings, self.client, installation=self.installation),
                                   AdapterRegistry(settings.adapters_dir), hasher=self.hasher)
        chores = [state.events.prune, state.outbox.prune, self._apply_retention]
        if redactor is not None:
            chores.append(lambda: state.escalations.redact_recent_answers(redactor))
        self.retry_loop = RetryLoop(self.deliverer, settings.outbox_retry_interval_s, chores=chores)
        for name in ("slack_bolt.App", "slack_bolt.RequestVerification"):
            logging.getLogger(name).addFilter(BOLT_LOG_FILTER)
        self.app = App(
            client=self.client,
            signing_secret=signing_secret,
            request_verification_enabled=signing_secret is not None,  # Socket Mode needs no signature
            # Listeners only touch the database and queue work, so the ack can wait for them:
            # a question is queued (and a retry recognised) before Slack hears back.
            process_before_response=True,
        )
        self._register()

    # --- lifecycle --------------------------------------------------------------------------
    def start_background(self) -> "SlackBot":
        """Retry what a previous run left undelivered, then keep retrying in the background
        (pruning week-old processed event ids at start and hourly)."""
        self.retry_loop.start()
        return self

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until queued questions are answered and owed posts sent (tests, shutdown)."""
        return self.worker.drain(timeout) and self.retry_loop.wait_idle(timeout)

    def close(self, wait: bool = True) -> None:
        self.retry_loop.stop()
        self.worker.shutdown(wait=wait)

    def _apply_retention(self) -> None:
        """Housekeeping: delete records older than ``retention_days`` (read each time: an admin may change it)."""
        days = self.effective.for_channel(None).retention_days
        if days > 0:
            removed = self.state.retention.prune(timedelta(days=days))
            if removed.questions or removed.escalations or removed.feedback:
                log.info("retention (%d days): deleted %s", days, removed)

    # --- wiring -------------------------------------------------------------------------------
    def _register(self) -> None:
        app = self.app
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        app.command(SLASH_COMMAND)(self._on_command)
        app.action(bk.ACTION_HELPFUL)(self._on_feedback)
        app.action(bk.ACTION_NOT_HELPFUL)(self._on_feedback)
        app.action(bk.ACTION_ASK_HUMAN)(self._on_ask_human)
        app.action(bk.ACTION_CLAIM)(self._on_claim)
        # views.open may take a while: the button is acked at once and the form opened lazily
        app.action(bk.ACTION_ANSWER)(ack=self._ack_only, lazy=[self._on_answer_button])
        app.view(bk.ANSWER_MODAL)(self._on_answer_submitted)
        # Slack switches an app's events off when too few deliveries get a 200: events nobody
        # listens to (a subscription added later) and Slack's rate-limit notice are acked
        app.event(re.compile(r".*"))(self._ack_only)
        app.middleware(ack_rate_limit_notice)
        app.error(on_listener_error)

    # --- questions ------------------------------------------------------------------------------
    def _on_mention(self, body: dict, event: dict, context: dict, request: BoltRequest) -> None:
        if event.get("channel", "").startswith("D"):  # DMs arrive as message.im too; answer once
            return
        if is_thanks(question_text(event.get("text") or "")):  # thanked, not asked: stay quiet
            return
        self._take(body, event, context, request)

    def _on_message(self, body: dict, event: dict, context: dict, request: BoltRequest) -> None:
        deleted = deleted_ts(event)
        if deleted:
            self._withdraw(event.get("channel", ""), deleted)
            return
        if event.get("subtype") == "message_changed":
            # a message refused as no question (empty, a greeting, too long) and then fixed is
            # taken again; edits of anything else (an old reply to a colleague) are not questions
            event = edited_message(event)
            if event is None or not self.state.events.seen(refusal_mark(self.hasher, event["channel"], event.get("ts", ""))):
                return
        if event.get("subtype") not in ANSWERED_SUBTYPES or event.get("bot_id"):
            return
        text = event.get("text") or ""
        if event.get("channel_type") == "im":
            # a file with no words gets told to type; ":wave:" opening a DM is answered (the
            # guard asks for words), "thanks" or ":+1:" after an answer is not a question
            if text.strip() and is_acknowledgement(text) and self._asked_before(event.get("channel", "")):
                return
            self._take(body, event, context, request)
            return
        if not text.strip() or is_acknowledgement(text):  # "thanks!" after an answer is not a question
            return
        bot_user = context.get("bot_user_id")
        if bot_user and f"<@{bot_user}" in text:  # app_mention answers it
            return
        channel, thread = event.get("channel", ""), event.get("thread_ts")
        if thread and thread != event.get("ts"):
            # a follow-up is theirs who asked ragbot here; others mention it, and a reply to a
            # person ("@Alice I think it's 20 weeks") is for that person
            if not _SOMEONE.search(text) and self._follow_up(channel, thread, event.get("user", ""), event.get("parent_user_id")):
                self._take(body, event, context, request)
            return
        if not self.effective.for_channel(channel).mention_only and reads_as_question(text):
            self._take(body, event, context, request, addressed=False)

    def _home(self, context: dict) -> frozenset[str]:
        """The team and org ids whose people are members; with Slack unable to say, none (the
        event's own authorizations still count)."""
        self.installation.learn(context)
        try:
            return self.installation.teams()
        except Exception as error:  # noqa: BLE001 - auth.test failed: refuse outsiders rather than guess
            log.warning("cannot learn ragbot's workspace from Slack (%s)", type(error).__name__)
            return frozenset()

    def _withdraw(self, channel: str, deleted: str) -> None:
        """A deleted message's question, if still queued or being answered, is dropped (the worker
        looks for the mark before it starts and before it stores the answer)."""
        if channel:
            self.state.events.claim(deletion_mark(self.hasher, channel, deleted))

    def _asked_before(self, channel: str) -> bool:
        """Whether this DM has had a question before; with the database down, yes (stay quiet)."""
        try:
            return self.state.questions.asked_in_channel(self.hasher(channel))
        except SQLAlchemyError as error:
            log.warning("cannot check the DM's earlier questions (%s); taking it as an acknowledgement", type(error).__name__)
            return True

    def _follow_up(self, channel: str, thread: str, user: str, starter: str | None) -> bool:
        """Whether ``user`` asked ragbot in this thread, or started a thread it answered (someone
        pointed it at their question): their replies there are follow-ups. With the database
        down, no: a reply in someone else's thread must not draw an answer."""
        if not user:
            return False
        key = thread_key(self.hasher, channel, thread)
        try:
            return self.state.questions.asked_in_thread(key, self.hasher(user)) or (user == starter and self.state.questions.asked_in_thread(key))
        except SQLAlchemyError as error:
            log.warning("cannot check thread %s (%s); not treating the reply as a question", thread, type(error).__name__)
            return False

    def _take(self, body: dict, event: dict, context: dict, request: BoltRequest | None = None, *, addressed: bool = True) -> None:
        """Ignore bots; drop Slack's retries of an event already taken; in a channel shared with
        another organization, answer only whom `shared_channels` allows; queue the question.
        ``addressed``: the message is to ragbot (a mention, a DM, a follow-up), so a refusal is said."""
        if not from_a_person(event, context.get("bot_user_id")):
            return
        event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
        if not self.state.events.claim(event_id):
            log.info("event %s already taken (retry %s); not answering again", event_id, retry_number(request))
            return
        # Editing a message that mentions the bot sends a new app_mention (new event id, same ts):
        # one message gets one answer.
        if not self.state.events.claim(message_claim(self.hasher, event.get("channel", ""), event.get("ts", ""))):
            log.info("message of event %s was already answered (an edit); not answering again", event_id)
            return
        settings = self.effective.for_channel(event.get("channel"))
        refusal = shared_refusal(body, event, self._home(context), settings.shared_channels) if body.get("is_ext_shared_channel") else None
        if refusal is not None:
            log.info("event %s is in a channel shared with another organization; not answered (shared_channels %s)", event_id, settings.shared_channels)
            if addressed:
                self._tell(event.get("channel", ""), event["user"], event.get("thread_ts"), refusal)
            return
        text = message_question(event)
        job = QuestionJob(
            text=text, user_id=event["user"], channel_id=event["channel"], message_ts=event["ts"],
            thread_ts=event.get("thread_ts") or event["ts"], team_id=body.get("team_id") or event.get("team", ""),
            event_id=event_id, is_dm=event.get("channel_type") == "im", addressed=addressed,
        )
        self.worker.submit(job)

    # --- /ragbot ----------------------------------------------------------------------------------
    def _on_command(self, ack, command: dict, context: dict) -> None:
        self.installation.learn(context)  # the admin check needs no auth.test of its own
        try:
            reply = self.admin.handle(command.get("text", ""), command["user_id"], command.get("channel_id"))
        except Exception as error:  # noqa: BLE001 - the text may name a person (forget @someone): only its first word
            log.error("/ragbot %s failed: %s", (command.get("text", "").split() or ["help"])[0][:20], type(error).__name__)
            log.debug("/ragbot failure", exc_info=error)
            ack(response_type="ephemeral", text="Sorry, that command failed on my side; it has been logged.")
            return
        ack(**reply.ack_kwargs())

    # --- buttons on answers -----------------------------------------------------------------------
    def _on_feedback(self, ack, body: dict, action: dict) -> None:
        ack()
        helpful = action["action_id"] == bk.ACTION_HELPFUL
        user = body["user"]["id"]
        stored = self.state.questions.add_feedback(request_id_of(action["value"]), self.hasher(user), helpful)
        text = ("Thanks, glad it helped!" if helpful else "Thanks for telling me. If you still need an answer, press *Ask a human*.") if stored else "Sorry, I no longer have that answer on record."
        self._ephemeral(body, text)

    def _on_ask_human(self, ack, body: dict, action: dict) -> None:
        ack()
        request_id, user = request_id_of(action["value"]), body["user"]["id"]
        channel, thread = message_place(body)
        if not channel or not thread:  # nowhere to escalate from, nor to confirm in
            raise ValueError("an Ask a human press without its message")
        settings = self.effective.for_channel(channel)
        if not settings.escalation_channel:
            self._ephemeral(body, "No escalation channel is configured yet. An admin can set one with `/ragbot set escalation_channel #channel`.")
            return
        record = self.state.questions.get(request_id)
        if record is None:  # deleted by retention or a forget: nothing left to hand over
            self._ephemeral(body, "Sorry, I no longer have that answer on record. Ask your question again, or ask a person directly.")
            return
        asker = self._asker(record, user, body)
        # the reason is also kept on the question record, where user ids are only stored hashed
        presser = "the asker" if asker == user else "someone in the thread"
        answered = [esc.id for esc in self.state.escalations.for_request(request_id) if esc.status == "resolved"]
        again = f" again, after escalation #{answered[-1]} was answered (see the thread)" if answered else ""
        escalation = Escalation(
            request_id=request_id, reason=f"{presser} pressed Ask a human{again}", channel_id=channel, thread_ts=thread, asker_id=asker,
            question=record.question if record else "", draft=record.answer_text if record and record.outcome == "answered" else "",
            draft_sent=bool(record and record.answer_sent), confidence=record.confidence if record else 0.0,
            sources=record.sources if record else [], escalation_channel=settings.escalation_channel,
        )
        _, created = self.state.escalations.create(escalation)
        self._ephemeral(body, "I've asked a human; they'll reply in this thread." if created else "A human has already been asked; they'll reply in this thread.")

    def _asker(self, record: Any, presser: str, body: dict) -> str:
        """The asker's Slack id, which the question record keeps only hashed: the presser or the
        thread's starter when their hash matches, else "" (unknown; never the presser by default)."""
        if record is None:
            return ""
        candidates = (presser, (body.get("message") or {}).get("parent_user_id"))
        return next((user for user in candidates if user and self.hasher(user) == record.user_hash), "")

    # --- the escalation channel --------------------------------------------------------------------
    def _on_claim(self, ack, body: dict, action: dict) -> None:
        ack()
        esc = self._pressed_escalation(body, action)
        if esc is None:
            self._ephemeral(body, "This escalation no longer exists.")
            return
        try:
            self.state.escalations.claim(esc.id, body["user"]["id"])
        except EscalationError as error:
            self._ephemeral(body, str(error))
            return
        self.retry_loop.kick()

    def _pressed_escalation(self, body: dict, action: dict) -> Escalation | None:
        """The escalation a post's button is about, None when it is gone. The post is checked as
        well as the number: SQLite hands a deleted row's number (retention, a forget) to the next
        escalation, and an old post's buttons must not claim or answer someone else's question."""
        esc = self.state.escalations.get(escalation_id_of(action["value"]))
        pressed_on = (body.get("message") or {}).get("ts") or (body.get("container") or {}).get("message_ts")
        if esc is not None and pressed_on and esc.message_ts != pressed_on:  # also a number whose own post is not out yet
            return None
        return esc

    @staticmethod
    def _ack_only(ack) -> None:
        ack()

    def _on_answer_button(self, body: dict, action: dict, client: WebClient) -> None:
        esc = self._pressed_escalation(body, action)
        if esc is None or esc.status == "resolved":
            self._ephemeral(body, "This escalation is already answered." if esc else "This escalation no longer exists.")
            return
        try:
            client.views_open(trigger_id=body["trigger_id"], view=bk.answer_modal(esc))  # triggers expire in 3 s: no outbox
        except Exception as error:  # noqa: BLE001 - the human gets told, the escalation stays open
            log.warning("views.open failed for escalation %s: %s", esc.id, error)
            self._ephemeral(body, "Sorry, Slack didn't open the answer form. Please press *Answer* again.")

    def _on_answer_submitted(self, ack, body: dict, view: dict) -> None:
        value = (view["state"]["values"].get(bk.ANSWER_INPUT_BLOCK, {}).get(bk.ANSWER_INPUT_ACTION, {}).get("value") or "").strip()
        if not value:
            ack(response_action="errors", errors={bk.ANSWER_INPUT_BLOCK: "Write an answer first."})
            return
        if refusal := self._screen_answer(value):
            ack(response_action="errors", errors={bk.ANSWER_INPUT_BLOCK: refusal})
            return
        try:
            self.state.escalations.resolve(escalation_id_of(view["private_metadata"]), body["user"]["id"], value)
        except EscalationError as error:
            ack(response_action="errors", errors={bk.ANSWER_INPUT_BLOCK: str(error)[:150]})
            return
        ack()
        self.retry_loop.kick()

    def _screen_answer(self, answer: str) -> str | None:
        """Why the form refuses ``answer``, or None. The answer is posted in the asker's thread,
        which the whole channel reads, and kept as training data: a card number or a password
        belongs in a direct message, and the person answering is the one who can move it there."""
        if self.answer_screen is None:
            return None
        try:
            found = self.answer_screen(answer)
        except Exception as error:  # noqa: BLE001 - the check failing must not lose the answer
            log.warning("could not check a human answer for high-risk personal data: %s", type(error).__name__)
            return None
        if not found:
            return None
        named = " and ".join(HIGH_RISK_NAMES.get(kind, kind.lower().replace("_", " ")) for kind in found)
        return f"Please remove the {named}: the channel can read this thread. Send it to the person directly."[:150]

    def _ephemeral(self, body: dict, text: str) -> None:
        """A button press's confirmation. A press with no channel (a malformed payload) has
        nowhere to be answered: logged, not queued."""
        channel, thread = message_place(body)
        if not channel:
            log.warning("a button press without a channel; its confirmation %r is not sent", text[:60])
            return
        self._tell(channel, body["user"]["id"], thread, text)

    def _tell(self, channel: str, user: str, thread: str | None, text: str) -> None:
        """Says ``text`` to ``user`` only. Stored first, then sent: not lost to a Slack hiccup."""
        payload = {"channel": channel, "user": user, "text": text}
        if thread:
            payload["thread_ts"] = thread
        self.state.outbox.enqueue(KIND_EPHEMERAL, payload)
        self.retry_loop.kick()
