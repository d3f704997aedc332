"""Slack Connect: channels and DMs shared with other organizations. Everyone there reads
ragbot's answers, and a question may come from another company: `shared_channels` decides."""

from __future__ import annotations

from bot.slack.members import OUTSIDER, Installation, sender_team, shared_refusal
from bot.state import GLOBAL
from tests.bot.slack.slack_fakes import BOT_USER, TEAM

SHARED = {"is_ext_shared_channel": True}


def _ask(h, text: str, *, user: str = "UASKER", user_team: str | None = TEAM, channel: str = "CSHARED", mention: bool = True,
         channel_type: str = "channel", retry: int | None = None, event_id: str | None = None, ts: str | None = None) -> dict:
    event = {"type": "app_mention" if mention else "message", "user": user, "text": f"<@{BOT_USER}> {text}" if mention else text,
             "channel": channel, "ts": ts or h.slack.next_ts(), "team": user_team or TEAM}
    if user_team:
        event["user_team"] = user_team
    if not mention:
        event["channel_type"] = channel_type
    response, _ = h.slack.event(event, envelope=SHARED, retry=retry, event_id=event_id)
    assert response.status == 200
    return event


def _answered(h, event: dict) -> bool:
    return any(call.args.get("thread_ts") == event["ts"] for call in h.api.find("chat.postMessage", channel=event["channel"]))


def _told(h, user: str) -> list[str]:
    return [call.args["text"] for call in h.api.find("chat.postEphemeral", user=user)]


def test_by_default_nobody_is_answered_in_a_shared_channel_and_the_asker_is_told_why(start_bot):
    h = start_bot()
    event = _ask(h, "How do I connect to the VPN?", event_id="EvShared1")
    _ask(h, "How do I connect to the VPN?", event_id="EvShared1", ts=event["ts"], retry=1)  # Slack's retry: told once
    h.settle()
    assert not _answered(h, event)
    [told] = _told(h, "UASKER")
    assert "shared with another organization" in told and "<#CSHARED>" in told
    assert h.state.questions.list() == []  # nothing asked, nothing stored


def test_members_mode_answers_members_and_refuses_people_from_another_organization(start_bot):
    h = start_bot(shared_channels="members")
    member = _ask(h, "How do I connect to the VPN?")
    outsider = _ask(h, "How do I connect to the VPN?", user="UPARTNER", user_team="TPARTNER")
    h.settle()
    assert _answered(h, member) and not _answered(h, outsider)
    assert _told(h, "UPARTNER") == [OUTSIDER] and _told(h, "UASKER") == []
    assert len(h.state.questions.list()) == 1


def test_an_admin_opens_one_shared_channel_to_everyone_from_slack(start_bot):
    h = start_bot()
    reply = h.slack.command("set shared_channels everyone <#CSUPPORT|support-acme>", user="UADMIN").json()["text"]
    assert "everyone" in reply
    outsider = _ask(h, "How do I connect to the VPN?", user="UPARTNER", user_team="EPARTNERORG", channel="CSUPPORT")
    elsewhere = _ask(h, "How do I connect to the VPN?", user="UPARTNER", user_team="EPARTNERORG", channel="COTHER")
    h.settle()
    assert _answered(h, outsider) and not _answered(h, elsewhere)
    assert _told(h, "UPARTNER") == [OUTSIDER]
    assert h.state.overrides.for_scope(GLOBAL) == {}


def test_other_workspaces_of_the_organization_count_as_members(start_bot):
    h = start_bot(shared_channels="members", member_teams="TSISTER")
    sister = _ask(h, "How do I connect to the VPN?", user="USISTER", user_team="TSISTER")
    h.settle()
    assert _answered(h, sister) and _told(h, "USISTER") == []


def test_unaddressed_messages_in_a_shared_channel_get_no_refusal(start_bot):
    """A channel that answers without a mention would otherwise tell every passer-by."""
    h = start_bot(mention_only=False)
    event = _ask(h, "How do I connect to the VPN?", user="UPARTNER", user_team="TPARTNER", mention=False)
    h.settle()
    assert not _answered(h, event) and _told(h, "UPARTNER") == []


def test_a_dm_from_another_organization_is_refused(start_bot):
    h = start_bot(shared_channels="members")
    event = _ask(h, "How do I connect to the VPN?", user="UPARTNER", user_team="TPARTNER", channel="DPARTNER", mention=False, channel_type="im")
    h.settle()
    assert not _answered(h, event) and _told(h, "UPARTNER") == [OUTSIDER]


def test_channels_not_shared_are_answered_as_before(start_bot):
    h = start_bot()
    _, event = h.slack.mention("How do I connect to the VPN?", channel="CINTERNAL")
    h.settle()
    assert _answered(h, event) and h.api.find("chat.postEphemeral") == []


def test_a_partner_is_refused_though_the_envelope_names_the_partners_workspace(start_bot):
    """In a shared channel the envelope's team_id is where the event happened, which may be the
    other company's workspace; only auth.test and the authorizations say who ragbot is."""
    h = start_bot(shared_channels="members")
    event = {"type": "app_mention", "user": "UPARTNER", "text": f"<@{BOT_USER}> How do I connect to the VPN?", "channel": "CSHARED",
             "ts": h.slack.next_ts(), "team": "TPARTNER", "user_team": "TPARTNER"}
    h.slack.event(event, envelope={**SHARED, "team_id": "TPARTNER"})
    h.settle()
    assert not _answered(h, event) and _told(h, "UPARTNER") == [OUTSIDER]


# --- the decision itself --------------------------------------------------------------------

class _Authorized:
    team_id, enterprise_id, bot_user_id, bot_id = "TOURS", "EOURS", "UBOT", "BBOT"


class _NoSlack:
    def auth_test(self):
        raise AssertionError("learnt from Bolt: Slack is not asked again")


def test_the_installation_is_learnt_from_bolt_without_asking_slack_again():
    installation = Installation(_NoSlack(), member_teams=["TSISTER"])
    installation.learn({"authorize_result": _Authorized()})
    assert installation.teams() == {"TOURS", "EOURS", "TSISTER"}
    assert installation.posted({"user": "UBOT"}) and installation.posted({"bot_id": "BBOT"})
    assert not installation.posted({"user": "UALICE"}) and not installation.posted({"bot_id": "BWORKFLOW"})


def test_who_wrote_an_event_in_a_shared_channel():
    assert sender_team({}, {"user_team": "TPARTNER"}) is None  # not shared: everyone is a member
    assert sender_team(SHARED, {"user_team": "EPARTNER", "team": "TPARTNER"}) == "EPARTNER"
    assert sender_team(SHARED, {"team": "TPARTNER"}) == "TPARTNER"
    assert sender_team(SHARED, {}) is None  # Slack names no team for the installation's own people


def test_a_grid_member_named_by_the_org_id_is_a_member():
    home = {"TOURS", "EOURS"}
    event = {"user_team": "EOURS", "channel": "C1"}
    assert shared_refusal(SHARED, event, home, "members") is None
    assert shared_refusal(SHARED, {"user_team": "TELSE", "channel": "C1"}, home, "members") == OUTSIDER
    assert shared_refusal(SHARED, {"user_team": "TELSE", "channel": "C1"}, home, "everyone") is None
    assert "shared with another organization" in shared_refusal(SHARED, event, home, "off")
    authorized = {**SHARED, "authorizations": [{"team_id": "TAUTH", "enterprise_id": None}]}
    assert shared_refusal(authorized, {"user_team": "TAUTH", "channel": "C1"}, set(), "members") is None
