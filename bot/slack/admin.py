"""`/ragbot` slash command: help, config, set, reset, stats, escalations, forget, with admin checks.

Replies are ephemeral and returned in the ack itself (everything here is a quick database
read or write), so the admin sees the result at once.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient

from adapters.model_store import configured_base_hash
from adapters.registry import BASE_MODEL, AdapterError, AdapterRegistry
from bot.settings import Settings, SettingsError, closest_setting, is_secret_name
from bot.slack import blocks as bk
from bot.slack.effective import EffectiveSettings, parse_value
from bot.slack.members import Installation, is_member
from bot.state import GLOBAL, StateStore

log = logging.getLogger(__name__)

# Settings that only take effect at start-up or guard secrets and access: env/TOML only.
NOT_SETTABLE = frozenset(
    {
        "data_dir", "database_url", "embedding_model", "generator_model", "reranker_model", "store", "weaviate_url",
        "weaviate_grpc_host", "weaviate_grpc_port", "weaviate_api_key", "weaviate_collection", "tenant", "generator_backend", "device",
        "openai_base_url", "openai_model", "openai_api_key", "admin_users", "workspace_admins_are_admins", "member_teams",
        "slack_api_url", "max_concurrency", "queue_size", "log_level", "log_salt", "metrics_host", "metrics_port",
        "outbox_retry_interval_s", "chunk_tokens", "chunk_overlap_tokens", "parent_max_chars",
        # read once when serving starts (store wrapper, generator child, shutdown), so a runtime
        # override would be shown as set while nothing changed
        "store_timeout_s", "store_retries", "store_cooldown_s", "generator_process", "torch_threads", "shutdown_grace_s", "max_vector_distance",
        "injection_detector",
        "source_links",  # a JSON mapping: a file setting, not a Slack one-liner
    }
)
# Settings that mean one thing for the whole bot: `/ragbot set` refuses a #channel for them.
GLOBAL_ONLY = frozenset({"retention_days", "dm_follow_up_minutes"})  # the latter is read in DMs, which no #channel names
ADMIN_CHECK_TIMEOUT_S = 2
NOT_ADMIN = "Sorry, only ragbot admins can change settings. Ask one of them, or see `/ragbot config`."
UNKNOWN_ADMIN = "I couldn't check with Slack whether you are a workspace admin just now; please try again in a moment."
ESCALATIONS_LISTED = 50  # the oldest first: the ones waiting longest

HELP = """*ragbot commands*
• `/ragbot config [#channel]`: the effective settings (overrides marked)
• `/ragbot set KEY VALUE [#channel]`: change a setting, everywhere or for one channel (admins)
• `/ragbot reset KEY [#channel]` (or `unset`): remove an override (back to the start-up value) (admins)
• `/ragbot stats`: the last 24 hours: questions, outcomes, escalations, feedback, latency
• `/ragbot escalations`: questions waiting for a human (admins)
• `/ragbot forget me`: delete what ragbot stored about your questions (`/ragbot forget @someone`: admins)
• `/ragbot help`: this message"""

# Slack ids are about 11 characters; the bound keeps them inside the database's id columns
_CHANNEL = re.compile(r"^<#([A-Z0-9]{2,20})(?:\|[^>]*)?>$|^#?([CGD][A-Z0-9]{6,20})$")
USER_ID = r"[UW][A-Z0-9]{2,20}"  # a Slack member id
_USER = re.compile(rf"^<@({USER_ID})(?:\|[^>]*)?>$")
FORGET_WHAT = ("the question records, feedback and escalations of {who} (the messages in Slack stay; "
               "delete those in Slack)")


@dataclass
class Reply:
    text: str

    def ack_kwargs(self) -> dict:
        return {"response_type": "ephemeral", "text": self.text[:300], "blocks": bk.sections(self.text)[: bk.BLOCK_LIMIT]}


def channel_of(token: str) -> str | None:
    match = _CHANNEL.match(token.strip())
    return (match.group(1) or match.group(2)) if match else None


class AdminCheck:
    """Admins: ``admin_users``, plus Slack workspace admins/owners when enabled (users.info, cached)."""

    def __init__(self, settings: Settings, client: WebClient, cache_s: float = 300.0, installation: Installation | None = None) -> None:
        self.settings = settings
        # The check runs before the slash command is acked (Slack allows 3 s), so it gets its own
        # client: a short deadline and no waiting out 429s. When Slack cannot tell in time, refuse.
        self.client = WebClient(token=client.token, base_url=client.base_url, timeout=ADMIN_CHECK_TIMEOUT_S)
        # whose admins count (the bot learns it from Bolt before a command reaches this check)
        self.installation = installation or Installation(self.client, settings.member_teams)
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, bool]] = {}

    def __call__(self, user_id: str) -> bool | None:
        """True or False; None when Slack could not tell in time (refused, and told why)."""
        if user_id in self.settings.admin_users:
            return True
        if not self.settings.workspace_admins_are_admins:
            return False
        cached = self._cache.get(user_id)
        if cached and time.monotonic() - cached[0] < self.cache_s:
            return cached[1]
        try:
            home = self.installation.teams()
            user = self.client.users_info(user=user_id)["user"]
            # an admin of a connected organization (Slack Connect) is no admin here
            allowed = bool(user.get("is_admin") or user.get("is_owner")) and is_member(user, home)
        except Exception as error:  # noqa: BLE001 - when Slack cannot tell, refuse
            log.warning("users.info or auth.test failed for an admin check: %s", error)
            return None
        self._cache[user_id] = (time.monotonic(), allowed)
        return allowed


class AdminCommands:
    def __init__(self, settings: EffectiveSettings, state: StateStore, is_admin: AdminCheck, adapters: AdapterRegistry | None = None,
                 hasher: Callable[[str], str] | None = None) -> None:
        self.settings = settings
        self.state = state
        self.is_admin = is_admin
        self.adapters = adapters  # to refuse an adapter name no generation could load
        self.hasher = hasher  # the bot's: question records carry hashed user ids

    def handle(self, text: str, user_id: str, channel_id: str | None = None) -> Reply:
        words = text.split()
        command, args = (words[0].lower(), words[1:]) if words else ("help", [])
        handler = {
            "help": self.help, "config": self.config, "set": self.set, "reset": self.reset, "unset": self.reset,
            "stats": self.stats, "escalations": self.escalations, "forget": self.forget,
        }.get(command)
        if handler is None:
            return Reply(f"I don't know `{bk.escape(command)}`.\n\n{HELP}")
        return handler(args, user_id)

    def help(self, args: list[str], user_id: str) -> Reply:
        return Reply(HELP)

    def config(self, args: list[str], user_id: str) -> Reply:
        channel = channel_of(args[0]) if args else None
        if args and channel is None:
            return Reply(f"`{bk.escape(args[0])}` is not a channel; use `/ragbot config #channel`.")
        effective = self.settings.for_channel(channel)
        global_keys = self.state.overrides.for_scope(GLOBAL)
        channel_keys = self.state.overrides.for_scope(channel) if channel else {}
        lines = []
        for key in type(effective).model_fields:
            if key in NOT_SETTABLE:
                continue
            mark = " _(set for this channel)_" if key in channel_keys else (" _(set globally)_" if key in global_keys else "")
            value = getattr(effective, key)
            if key == "adapter" and value is None and self.adapters is not None:  # not set: the registry's pointer decides
                mark = f" _(not set: the active adapter, `{bk.escape(self.adapters.active() or BASE_MODEL)}`, is used)_"
            lines.append(f"`{key}` = {_display(key, _shown(key, value))}{mark}")
        where = f"<#{channel}>" if channel else "all channels"
        return Reply(f"*Effective settings for {where}* (change with `/ragbot set KEY VALUE [#channel]`)\n" + "\n".join(lines))

    def _refused(self, user_id: str, refusal: str) -> Reply | None:
        """None for an admin; else why not (also when Slack could not say whether they are one)."""
        allowed = self.is_admin(user_id)
        if allowed:
            return None
        return Reply(UNKNOWN_ADMIN if allowed is None else refusal)

    def set(self, args: list[str], user_id: str) -> Reply:
        refused = self._refused(user_id, NOT_ADMIN)
        if refused:
            return refused
        if len(args) < 2:
            return Reply("Usage: `/ragbot set KEY VALUE [#channel]`")
        key, scope, value_words = args[0], GLOBAL, args[1:]
        if len(value_words) > 1 and channel_of(value_words[-1]):  # a trailing #channel is the scope
            scope, value_words = channel_of(value_words[-1]), value_words[:-1]
        raw = " ".join(value_words)
        problem = self._check(key, scope, raw)
        if problem:
            return Reply(problem)
        stored = self._canonical(key, scope, raw)  # <#C1|name> is stored as C1, "yes" as true, "3.0" as 3
        where = "everywhere" if scope == GLOBAL else f"in <#{scope}>"
        if self.state.overrides.for_scope(scope).get(key) == stored:
            return Reply(f"`{key}` is already {_display(key, stored)} {where}; nothing changed.")
        previous = getattr(self.settings.for_channel(None if scope == GLOBAL else scope), key)
        change = self.state.overrides.set(scope, key, stored, user_id)
        before = _display(key, _shown(key, previous)) if change.old_value is None else _display(key, change.old_value)
        return Reply(f"`{key}` is now {_display(key, stored)} {where} (was {before}). It applies from the next message.")

    def _canonical(self, key: str, scope: str, raw: str) -> str:
        """The (checked) value as the settings model reads it, written back as text: what is
        stored, shown and audited is what the bot uses."""
        parsed = parse_value(raw, key)
        if parsed is None:
            return "none"
        try:
            value = getattr(self.settings.for_channel(None if scope == GLOBAL else scope).with_overrides({key: parsed}), key)
        except SettingsError:  # fits only once stale overrides are skipped: as typed
            return parsed
        return str(value).lower() if isinstance(value, bool) else _shown(key, value)

    def reset(self, args: list[str], user_id: str) -> Reply:
        refused = self._refused(user_id, NOT_ADMIN)
        if refused:
            return refused
        if not args or len(args) > 2:
            return Reply("Usage: `/ragbot reset KEY [#channel]`")
        scope = GLOBAL
        if len(args) == 2:
            scope = channel_of(args[1])
            if scope is None:
                return Reply(f"`{bk.escape(args[1])}` is not a channel; use `/ragbot reset KEY #channel`.")
        key = args[0]
        where = "everywhere" if scope == GLOBAL else f"in <#{scope}>"
        if key not in self.state.overrides.for_scope(scope):
            return Reply(f"`{bk.escape(key)}` has no override {where}; nothing to reset.")
        problem = self._breaks_a_scope(key, scope, None)
        if problem:
            return Reply(problem)
        change = self.state.overrides.reset(scope, key, user_id)
        if change is None:  # another admin reset it meanwhile
            return Reply(f"`{bk.escape(key)}` has no override {where}; nothing to reset.")
        now = getattr(self.settings.for_channel(None if scope == GLOBAL else scope), key)
        return Reply(f"`{key}` override removed {where}: it is now {_display(key, _shown(key, now))} (was {_display(key, change.old_value or '')}).")

    def _check(self, key: str, scope: str, raw: str) -> str | None:
        """A one-line reason the change is refused, or None. The settings model itself validates."""
        fields = type(self.settings.base).model_fields
        if key not in fields:
            close = closest_setting(key)
            hint = f"Did you mean `{close}`? " if close else ""
            return f"Unknown setting `{bk.escape(key)}`. {hint}See `/ragbot config` for the list."
        if key in NOT_SETTABLE:
            return f"`{key}` can only be set in the environment or the config file (it is read at start-up or guards access)."
        if key in GLOBAL_ONLY and scope != GLOBAL:
            return f"`{key}` applies to the whole bot; set it without a channel."
        problem = self._breaks_a_scope(key, scope, raw)
        if problem:
            return problem
        value = parse_value(raw, key)
        if key == "adapter" and value not in (None, BASE_MODEL) and self.adapters is not None:
            try:
                self.adapters.check(value, configured_base_hash(self.settings.base))
            except AdapterError as error:
                return f"Not changed: {bk.escape(str(error))}"
        return None

    def _breaks_a_scope(self, key: str, scope: str, raw: str | None) -> str | None:
        """Validate the change (``raw`` None: a reset) everywhere it reaches: a global change
        also reaches every channel with overrides of its own, where a pair of values
        (max_new_tokens with max_context_tokens, say) may stop fitting. A scope that was
        already invalid (an override an upgrade no longer accepts) does not block the change,
        but the new value must still fit the overrides the bot goes on using there."""
        table = self.state.overrides.all_scopes()
        after = {name: dict(values) for name, values in table.items()}
        changed = after.setdefault(scope, {})
        if raw is None:
            changed.pop(key, None)
        else:
            changed[key] = raw
        reached = [GLOBAL, *sorted(name for name in after if name != GLOBAL)] if scope == GLOBAL else [scope]
        for name in reached:
            error = self._invalid(after, name)
            if error and self._invalid(table, name):  # already invalid: the bot skips its stale overrides, and the new value must fit the rest
                error = self._unusable(after, name, key) if raw is not None else None
            if error:
                where = "" if name == GLOBAL else f" (with the overrides of <#{name}>)"
                return f"Not changed{where}: {bk.escape(error)}"
        return None

    def _invalid(self, table: dict[str, dict[str, str]], scope: str) -> str | None:
        merged = dict(table.get(GLOBAL, {}))
        if scope != GLOBAL:
            merged.update(table.get(scope, {}))
        try:
            self.settings.base.with_overrides({k: parse_value(v, k) for k, v in merged.items()})
        except SettingsError as error:
            return str(error)
        return None

    def _unusable(self, table: dict[str, dict[str, str]], scope: str, key: str) -> str | None:
        """Why ``key``'s value in ``table`` does not fit the settings the bot would use in
        ``scope``: its other overrides applied one by one, those that fail skipped (as
        ``EffectiveSettings`` does with an override an upgrade no longer accepts)."""
        merged = dict(table.get(GLOBAL, {}))
        if scope != GLOBAL:
            merged.update(table.get(scope, {}))
        value = merged.pop(key)
        settings = self.settings.base
        for name, other in merged.items():
            try:
                settings = settings.with_overrides({name: parse_value(other, name)})
            except SettingsError:
                continue
        try:
            settings.with_overrides({key: parse_value(value, key)})
        except SettingsError as error:
            return str(error)
        return None

    def stats(self, args: list[str], user_id: str) -> Reply:
        return Reply("\n".join(["*ragbot, last 24 hours*", *self.state.questions.summary().lines()]))

    def escalations(self, args: list[str], user_id: str) -> Reply:
        refused = self._refused(user_id, "Sorry, only ragbot admins can list escalations; they hold questions asked in private.")
        if refused:  # the list holds questions asked in DMs and private channels
            return refused
        rows = self.state.escalations.open(limit=ESCALATIONS_LISTED)
        if not rows:
            return Reply("No open escalations. :tada:")
        total = self.state.escalations.count_open()
        lines = []
        for esc in rows:
            who = f"claimed by <@{esc.claimed_by}>" if esc.claimed_by else "unclaimed"
            question = bk.escape((esc.question or "(question not stored)")[:120])
            lines.append(f"• #{esc.id} ({who}, {esc.created_at:%Y-%m-%d %H:%M} UTC) <{bk.thread_link(esc.channel_id, esc.thread_ts)}|thread>: {question}")
        shown = f"{total}" if total == len(rows) else f"{total}; the {len(rows)} oldest shown"
        return Reply(f"*Open escalations ({shown})*\n" + "\n".join(lines))

    def forget(self, args: list[str], user_id: str) -> Reply:
        """``forget me [confirm]`` for anyone, ``forget @someone [confirm]`` for admins."""
        words = [word.lower() if word.lower() in ("me", "confirm") else word for word in args]
        if not words or len(words) > 2 or (len(words) == 2 and words[1] != "confirm"):
            return Reply("Usage: `/ragbot forget me` or, for admins, `/ragbot forget @someone`")
        mention = _USER.match(words[0])
        if words[0] != "me" and mention is None:
            return Reply(f"`{bk.escape(args[0])}` is not a person; use `/ragbot forget me` or `/ragbot forget @someone`.")
        target = user_id if words[0] == "me" else mention.group(1)
        who = "you" if target == user_id else f"<@{target}>"
        refused = self._refused(user_id, "Sorry, only ragbot admins can delete someone else's data; `/ragbot forget me` deletes yours.") if target != user_id else None
        if refused:
            return refused
        if self.hasher is None:
            return Reply("Sorry, this ragbot cannot match stored records to people (no id hasher); ask its operator to run `ragbot forget-user`.")
        if len(words) == 1:
            return Reply(f"This deletes {FORGET_WHAT.format(who=who)}. It cannot be undone. To go ahead: `/ragbot forget {args[0]} confirm`")
        removed = self.state.retention.forget_user(target, self.hasher(target), by=user_id if target != user_id else None)
        log.info("forget: deleted %s", removed)  # no id: the log must not name whom it was about
        return Reply(f"Done ({who}): deleted {removed}.")


def _display(key: str, value: str) -> str:
    """A stored value as the admin should see it: channels as links, the rest as code."""
    if key == "escalation_channel" and value and value != "none":
        return f"<#{value}>"
    return f"`{bk.escape(value)}`"


def _shown(key: str, value) -> str:
    if value is None:
        return "none"
    if is_secret_name(key):
        return "(hidden)"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)
