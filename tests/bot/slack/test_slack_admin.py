"""`/ragbot` from Slack: admins change settings for the next message (globally or per
channel), others are refused, values are validated by the settings model, every change
is audited and survives a restart."""

from __future__ import annotations

import json
import logging

from bot.state import GLOBAL
from slack_fakes import TEAM


def _shown(call) -> str:
    return json.dumps(call.args.get("blocks", [])) + call.args.get("text", "")


def _said(response) -> str:
    return json.dumps(response.json())


def test_admin_set_changes_the_next_answer_and_is_audited(start_bot):
    h = start_bot()
    _, before = h.slack.mention("How do I order a laptop?")  # relevance 0.6 >= min_relevance 0.3
    h.settle()
    assert "IT portal" in _shown(h.replies("C1", before["ts"])[0])

    response = h.slack.command("set min_relevance 0.7", user="UADMIN")
    assert response.status == 200 and response.seconds < 3
    assert "`min_relevance` is now `0.7` everywhere (was `0.3`)" in _said(response)  # the value in effect, not "its default"

    _, after = h.slack.mention("How do I order a laptop?")  # same question, no restart
    h.settle()
    shown = _shown(h.replies("C1", after["ts"])[0])
    assert "IT portal" not in shown and "couldn't find this" in shown

    [row] = h.state.overrides.audit()
    assert (row.user_id, row.action, row.key, row.scope, row.old_value, row.new_value) == ("UADMIN", "set", "min_relevance", GLOBAL, None, "0.7")
    assert row.at is not None

    h.slack.command("set min_relevance 0.2", user="UADMIN")
    h.slack.command("reset min_relevance", user="UADMIN")
    audit = h.state.overrides.audit()
    assert [(a.action, a.old_value, a.new_value) for a in audit] == [("reset", "0.2", None), ("set", "0.7", "0.2"), ("set", None, "0.7")]
    assert "nothing to reset" in _said(h.slack.command("reset min_relevance", user="UADMIN"))
    assert len(h.state.overrides.audit()) == 3  # no-op resets are not audited


def test_non_admin_cannot_change_settings(start_bot):
    h = start_bot()
    for text in ("set min_relevance 0.9", "reset min_relevance"):
        refused = h.slack.command(text, user="UNOBODY")
        assert refused.status == 200 and "only ragbot admins" in _said(refused)
        assert refused.json()["response_type"] == "ephemeral"
    assert h.state.overrides.for_scope(GLOBAL) == {} and h.state.overrides.audit() == []


def test_workspace_admins_count_when_enabled(start_bot):
    h = start_bot(workspace_admins_are_admins=True)
    h.api.users["UWSADMIN"] = {"id": "UWSADMIN", "team_id": TEAM, "is_admin": True}
    assert "is now" in _said(h.slack.command("set top_k 3", user="UWSADMIN"))
    assert "only ragbot admins" in _said(h.slack.command("set top_k 2", user="UREGULAR"))
    assert h.api.find("users.info", user="UWSADMIN")
    h2 = start_bot(workspace_admins_are_admins=False)
    assert "only ragbot admins" in _said(h2.slack.command("set top_k 3", user="UWSADMIN"))


def test_an_admin_of_a_connected_organization_is_no_admin_here(start_bot):
    """Slack Connect: users.info shows a partner's admin with their own team's role."""
    h = start_bot(workspace_admins_are_admins=True, member_teams="TSISTER,EOURORG")
    h.api.users["UPARTNER"] = {"id": "UPARTNER", "team_id": "TPARTNER", "is_admin": True, "is_owner": True}
    h.api.users["USTRANGER"] = {"id": "USTRANGER", "team_id": TEAM, "is_admin": True, "is_stranger": True}
    h.api.users["USISTER"] = {"id": "USISTER", "team_id": "TSISTER", "is_admin": True}
    h.api.users["UGRID"] = {"id": "UGRID", "team_id": "TOTHER", "is_admin": True, "enterprise_user": {"enterprise_id": "EOURORG"}}
    for user in ("UPARTNER", "USTRANGER"):
        assert "only ragbot admins" in _said(h.slack.command("set top_k 3", user=user))
    assert h.state.overrides.audit() == []
    assert "is now" in _said(h.slack.command("set top_k 3", user="USISTER"))  # member_teams lists their team
    assert "is now" in _said(h.slack.command("set top_k 2", user="UGRID"))  # or their Grid org
    assert len(h.api.find("auth.test")) >= 1


def test_the_admin_check_asks_slack_once_per_person_not_who_ragbot_is(start_bot):
    """Slack allows 3 s for the ack: the installation is learnt from Bolt's own auth.test."""
    h = start_bot(workspace_admins_are_admins=True)
    h.api.users["UWSADMIN"] = {"id": "UWSADMIN", "team_id": TEAM, "is_admin": True}
    assert "is now" in _said(h.slack.command("set top_k 3", user="UWSADMIN"))
    assert len(h.api.find("auth.test")) == 1 and len(h.api.find("users.info")) == 1


def test_a_slow_admin_lookup_does_not_miss_slacks_ack_deadline(start_bot):
    h = start_bot(workspace_admins_are_admins=True)
    h.api.delays["users.info"] = 4.0  # Slack allows 3 s for the ack, which carries the reply
    response = h.slack.command("set top_k 3", user="UWSADMIN")
    assert response.status == 200 and response.seconds < 3
    assert "couldn't check with Slack whether you are a workspace admin" in _said(response)  # refused, and told why
    assert h.state.overrides.audit() == []


def test_values_are_validated_by_the_settings_model(start_bot):
    h = start_bot()
    out_of_range = _said(h.slack.command("set min_relevance 1.5"))
    assert "Not changed" in out_of_range and "min_relevance" in out_of_range and "less than or equal to 1" in out_of_range
    assert "Not changed" in _said(h.slack.command("set top_k lots"))
    assert "Not changed" in _said(h.slack.command("set injection_action explode"))
    assert "Unknown setting `colour`" in _said(h.slack.command("set colour blue"))
    assert "Did you mean `min_relevance`?" in _said(h.slack.command("set min_relevence 0.4"))
    assert "only be set in the environment" in _said(h.slack.command("set admin_users UEVIL"))
    assert "Usage" in _said(h.slack.command("set top_k"))
    # values each in range that cannot work, or that would never take effect
    assert "leaves under 80 of max_context_tokens" in _said(h.slack.command("set max_new_tokens 2000"))
    assert "not a channel id" in _said(h.slack.command("set escalation_channel <@UADMIN>"))
    assert "not a channel id" in _said(h.slack.command("set escalation_channel help-desk"))
    assert "unknown adapter 'tpyo'" in _said(h.slack.command("set adapter tpyo"))
    assert "only be set in the environment" in _said(h.slack.command("set store_retries 5"))
    assert "only be set in the environment" in _said(h.slack.command("set weaviate_grpc_host attacker.example"))
    assert h.state.overrides.audit() == []
    assert "I don't know `frobnicate`" in _said(h.slack.command("frobnicate"))


def test_channel_override_changes_only_that_channel(start_bot):
    h = start_bot()
    response = h.slack.command("set mention_only false <#C2|random>")
    assert "in <#C2>" in _said(response)
    _, in_c2 = h.slack.message("vpn is down?", channel="C2")
    _, in_c1 = h.slack.message("vpn is down?", channel="C1")
    h.settle()
    assert len(h.replies("C2", in_c2["ts"])) == 1 and not h.replies("C1", in_c1["ts"])
    config_c2 = _said(h.slack.command("config <#C2|random>", user="UANYONE"))
    assert "`mention_only` = `False` _(set for this channel)_" in config_c2
    config_all = _said(h.slack.command("config", user="UANYONE"))
    assert "`mention_only` = `True`" in config_all and "set for this channel" not in config_all
    assert "openai_api_key" not in config_all  # start-up-only and secret settings are not listed


def test_escalation_channel_can_be_set_from_slack(start_bot):
    h = start_bot(escalation_channel=None)
    assert "is now <#CNEW> everywhere" in _said(h.slack.command("set escalation_channel <#CNEW|help-desk>"))
    h.slack.mention("Where do I file expenses?")
    h.settle()
    assert len(h.api.find("chat.postMessage", channel="CNEW")) == 1
    assert "`escalation_channel` = <#CNEW> _(set globally)_" in _said(h.slack.command("config"))  # a link, as `set` shows it
    assert "override removed everywhere" in _said(h.slack.command("unset escalation_channel"))  # reset's other name


def test_overrides_survive_a_restart(start_bot):
    h = start_bot()
    h.slack.command("set min_relevance 0.7")
    h.bot.close()
    h2 = start_bot(data_dir=h.settings.data_dir)
    assert h2.bot.effective.for_channel("C1").min_relevance == 0.7
    _, event = h2.slack.mention("How do I order a laptop?")
    h2.settle()
    assert "couldn't find this" in _shown(h2.replies("C1", event["ts"])[0])


def test_only_admins_can_list_escalations(start_bot):
    h = start_bot()
    _, event = h.slack.message("Where do I file expenses?", channel="D1", channel_type="im")  # escalated: relevance 0.4 < 0.5
    h.settle()
    assert "only ragbot admins can list escalations" in _said(h.slack.command("escalations", user="UANYONE"))
    assert "Open escalations (1)" in _said(h.slack.command("escalations", user="UADMIN"))


def test_help_and_stats_answer_anyone(start_bot):
    h = start_bot()
    assert "/ragbot set KEY VALUE" in _said(h.slack.command("help", user="UANYONE"))
    assert "/ragbot config" in _said(h.slack.command("", user="UANYONE"))
    stats = _said(h.slack.command("stats", user="UANYONE"))
    assert "Questions: 0" in stats and "no feedback yet" in stats


def test_a_stored_value_the_model_no_longer_accepts_is_skipped_not_fatal(start_bot):
    h = start_bot()
    h.state.overrides.set(GLOBAL, "top_k", "999", "UADMIN")  # e.g. written by an older version
    h.state.overrides.set(GLOBAL, "min_relevance", "0.7", "UADMIN")
    effective = h.bot.effective.for_channel("C1")
    assert effective.top_k == h.settings.top_k and effective.min_relevance == 0.7


def test_a_scope_with_a_stale_override_still_checks_new_values(start_bot):
    """Once one stored override stopped validating, every later set in that scope was accepted
    unchecked ("min_relevance is now 7") while the bot went on using the old value."""
    h = start_bot()
    h.state.overrides.set(GLOBAL, "top_k", "999", "UOLD")  # e.g. written by an older version
    refused = _said(h.slack.command("set min_relevance 7", user="UADMIN"))
    assert "Not changed" in refused and "less than or equal to 1" in refused
    assert "Not changed" in _said(h.slack.command("set mention_only maybe", user="UADMIN"))
    assert "is now `0.6`" in _said(h.slack.command("set min_relevance 0.6", user="UADMIN"))  # a good value still goes in
    assert h.bot.effective.for_channel("C1").min_relevance == 0.6


def test_stored_and_shown_values_are_what_the_bot_uses(start_bot):
    h = start_bot()
    assert "`top_k` is now `3` everywhere" in _said(h.slack.command("set top_k 3.0", user="UADMIN"))
    assert "`mention_only` is now `false`" in _said(h.slack.command("set mention_only no <#C2|two>", user="UADMIN"))
    assert "already `3`" in _said(h.slack.command("set top_k 3", user="UADMIN"))  # a no-op is said, and not audited
    assert [(a.key, a.new_value) for a in h.state.overrides.audit()] == [("mention_only", "false"), ("top_k", "3")]
    assert "applies to the whole bot" in _said(h.slack.command("set dm_follow_up_minutes 0 <#C2|two>", user="UADMIN"))
    assert "only be set in the environment" in _said(h.slack.command('set source_links {"/a":"https://x.example"}', user="UADMIN"))


def test_adapter_none_means_the_base_model_over_the_active_pointer(start_bot):
    """`set adapter none` stored "no setting", so the pointer's adapter went on answering."""
    from adapters.registry import AdapterRegistry

    h = start_bot()
    registry = AdapterRegistry(h.settings.adapters_dir)
    assert "`adapter` = `none` _(not set" in _said(h.slack.command("config", user="UADMIN"))
    assert "is now `none`" in _said(h.slack.command("set adapter none", user="UADMIN"))
    adapter = h.bot.effective.for_channel("C1").adapter
    assert adapter == "none" and registry.resolve(adapter) is None  # the base model, whatever the pointer says
    assert "`adapter` = `none` _(set globally)_" in _said(h.slack.command("config", user="UADMIN"))


def test_pairs_of_values_are_checked_in_every_scope_a_change_reaches(start_bot):
    """A change is validated with the other overrides it meets: its own scope's, and for a
    global change every channel's; a reset is checked the same way."""
    h = start_bot()
    h.slack.command("set max_question_chars 20", user="UADMIN")
    refused = _said(h.slack.command("set min_question_chars 50", user="UADMIN"))
    assert "Not changed: min_question_chars 50 must be below max_question_chars 20" in refused
    h.slack.command("reset max_question_chars", user="UADMIN")
    # a reset that leaves an invalid pair is refused
    h.slack.command("set max_context_tokens 4096", user="UADMIN")
    h.slack.command("set max_new_tokens 3000", user="UADMIN")
    refused = _said(h.slack.command("reset max_context_tokens", user="UADMIN"))
    assert "Not changed: max_new_tokens 3000 leaves under 80" in refused and h.state.overrides.for_scope(GLOBAL)["max_context_tokens"] == "4096"
    for key in ("max_new_tokens", "max_context_tokens"):
        assert "override removed everywhere" in _said(h.slack.command(f"reset {key}", user="UADMIN"))
    # a global change that breaks a channel's own override names the channel
    h.slack.command("set max_new_tokens 1000 <#C2|two>", user="UADMIN")
    refused = _said(h.slack.command("set max_context_tokens 1024", user="UADMIN"))
    assert "Not changed (with the overrides of <#C2>): max_new_tokens 1000 leaves under 80" in refused
    assert h.bot.effective.for_channel("C2").max_new_tokens == 1000
    # the next unrelated change is not blocked by anything the refusals left behind
    assert "is now `2`" in _said(h.slack.command("set top_k 2", user="UADMIN"))


def test_reset_says_what_the_value_is_now(start_bot):
    h = start_bot()
    h.slack.command("set min_relevance 0.9", user="UADMIN")
    said = _said(h.slack.command("reset min_relevance", user="UADMIN"))
    assert "`min_relevance` override removed everywhere: it is now `0.3` (was `0.9`)" in said  # 0.3: the start-up value, not the default 0.5


def test_config_hides_secrets_but_not_token_counts(start_bot):
    shown = _said(start_bot().slack.command("config", user="UADMIN"))
    assert "`max_new_tokens` = `96`" in shown and "`max_context_tokens` = `2048`" in shown


def test_two_admins_setting_a_new_key_at_once_both_succeed(start_bot):
    import threading

    h = start_bot()
    results: list[str] = []
    barrier = threading.Barrier(6)

    def set_it(value: str) -> None:
        barrier.wait()
        results.append(h.state.overrides.set(GLOBAL, "top_k", value, "UADMIN").new_value)

    threads = [threading.Thread(target=set_it, args=(str(n),)) for n in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [str(n) for n in range(1, 7)] and len(h.state.overrides.audit()) == 6


def test_channel_ids_longer_than_slack_makes_are_refused(start_bot):
    """They would overflow the id columns on PostgreSQL and fail every escalated question later."""
    h = start_bot()
    long_id = "C" + "X" * 40
    assert "not a channel id" in _said(h.slack.command(f"set escalation_channel <#{long_id}|esc>", user="UADMIN"))
    assert "Not changed" in _said(h.slack.command(f"set mention_only false <#{long_id}|x>", user="UADMIN"))
    assert h.state.overrides.all_scopes() == {}


def test_anyone_can_have_their_own_questions_forgotten_after_confirming(start_bot):
    h = start_bot()
    h.slack.mention("How do I order a laptop?", user="UASKER")
    h.slack.mention("How do I order a laptop?", user="UOTHER")
    h.settle()
    asked = _said(h.slack.command("forget me", user="UASKER"))
    assert "cannot be undone" in asked and "forget me confirm" in asked and len(h.state.questions.list()) == 2
    done = _said(h.slack.command("forget me confirm", user="UASKER"))
    assert "Done (you): deleted 1 question record(s)" in done
    [left] = h.state.questions.list()
    assert left.user_hash == h.bot.hasher("UOTHER")
    assert h.state.overrides.audit() == []  # their own request leaves no trace of them


def test_only_admins_can_have_someone_else_forgotten(start_bot):
    h = start_bot()
    h.slack.mention("How do I order a laptop?", user="UASKER")
    h.settle()
    refused = _said(h.slack.command("forget <@UASKER|asker> confirm", user="UOTHER"))
    assert "only ragbot admins" in refused and len(h.state.questions.list()) == 1
    assert "is not a person" in _said(h.slack.command("forget bob", user="UADMIN"))
    done = _said(h.slack.command("forget <@UASKER|asker> confirm", user="UADMIN"))
    assert "deleted 1 question record(s)" in done and h.state.questions.list() == []
    [entry] = h.state.overrides.audit()
    assert (entry.user_id, entry.action) == ("UADMIN", "forget")


def test_housekeeping_runs_at_start_on_a_host_booted_minutes_ago(monkeypatch):
    """The monotonic clock counts from boot: a first round "an hour after 0" never came on a
    fresh VM or a pod restarted within its first hour."""
    from unittest import mock

    from bot.slack import delivery

    ran = []
    monkeypatch.setattr(delivery.time, "monotonic", lambda: 600.0)
    loop = delivery.RetryLoop(mock.MagicMock(), 3600, chores=[lambda: ran.append(1)])
    loop._flush()
    loop._flush()
    assert ran == [1]  # at start, then not again within the hour


def test_housekeeping_applies_retention_days_as_currently_set(start_bot):
    from datetime import timedelta

    from bot.state.models import QuestionRecord, utcnow

    h = start_bot()
    assert h.bot._apply_retention in h.bot.retry_loop.chores  # hourly, at start too
    with h.state.db.transaction() as session:
        for name, age in (("old", 40), ("new", 5)):
            record = QuestionRecord(request_id=name, outcome="answered", question="q")
            record.created_at = utcnow() - timedelta(days=age)
            session.add(record)
    h.bot._apply_retention()  # default 365 days: both kept
    assert len(h.state.questions.list()) == 2
    h.slack.command("set retention_days 30", user="UADMIN")
    h.bot._apply_retention()
    assert [r.request_id for r in h.state.questions.list()] == ["new"]


def test_retention_days_is_set_for_the_whole_bot_only(start_bot):
    h = start_bot()
    refused = _said(h.slack.command("set retention_days 7 <#C0123456|general>", user="UADMIN"))
    assert "whole bot" in refused and h.state.overrides.all_scopes() == {}


def test_a_failed_forget_does_not_log_whom_it_was_about(start_bot, caplog, monkeypatch):
    h = start_bot()

    def broken(*args, **kwargs):
        raise RuntimeError("database went away while deleting U0TARGET")

    monkeypatch.setattr(h.state.retention, "forget_user", broken)
    said = _said(h.slack.command("forget <@U0TARGET|alice> confirm", user="UADMIN"))
    assert "failed on my side" in said
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and "U0TARGET" in r.getMessage()]
