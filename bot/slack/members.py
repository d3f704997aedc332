"""Who belongs to the organization that runs ragbot. Slack Connect brings people from other
companies into shared channels and DMs, and ragbot answers from internal documents: in a
shared channel its answer is read by everyone there, and a question may come from outside.

`shared_channels` decides what happens there (per channel): ``off`` (the default) answers
nobody and tells the asker why; ``members`` answers members of this organization;
``everyone`` answers anyone. A member is someone whose Slack team or Enterprise Grid org is the
installation's own (``auth.test``, the event's envelope) or listed in ``member_teams``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SHARED_OFF = (
    "This channel is shared with another organization, so I don't answer here: my answers come from internal "
    "documents, and everyone in the channel would see them. Ask me in a DM or in an internal channel. "
    "(An admin can allow it with `/ragbot set shared_channels members <#{channel}>`.)"
)
OUTSIDER = "Sorry, I only answer people of the organization that runs me: my answers come from its internal documents."


def _ids(*values: Any) -> set[str]:
    return {value for value in values if isinstance(value, str) and value}


def installation_ids(context: Mapping[str, Any] | None, body: Mapping[str, Any] | None = None) -> frozenset[str]:
    """The team and org ids of ragbot's own installation: ``auth.test``'s answer (Bolt's authorize
    result) and, for events, the envelope, which names the installation that receives them
    (a slash command's ``team_id`` is the invoker's team, so only events count)."""
    ids: set[str] = set()
    result = (context or {}).get("authorize_result")
    if result is not None:
        ids |= _ids(getattr(result, "team_id", None), getattr(result, "enterprise_id", None))
    if body and body.get("type") == "event_callback":
        ids |= _ids(body.get("team_id"), body.get("enterprise_id"))
        for authorization in body.get("authorizations") or []:
            ids |= _ids(authorization.get("team_id"), authorization.get("enterprise_id"))
    return frozenset(ids)


def sender_team(body: Mapping[str, Any], event: Mapping[str, Any]) -> str | None:
    """The team (``T…``) or Grid org (``E…``) of whoever wrote ``event`` in a channel shared with
    another organization; None outside such channels, where everyone is a member."""
    if not body.get("is_ext_shared_channel"):
        return None
    return event.get("user_team") or event.get("team") or None


def shared_refusal(
    body: Mapping[str, Any], event: Mapping[str, Any], context: Mapping[str, Any] | None, mode: str, member_teams: Iterable[str],
) -> str | None:
    """What to tell the asker instead of answering, or None to answer."""
    if not body.get("is_ext_shared_channel") or mode == "everyone":
        return None
    sender = sender_team(body, event)
    # no team named: Slack omits it for people of the installation's own side
    if sender is not None and sender not in installation_ids(context, body) | set(member_teams):
        return OUTSIDER
    if mode == "off":
        return SHARED_OFF.format(channel=event.get("channel", ""))
    return None


def is_member(user: Mapping[str, Any], home: Iterable[str]) -> bool:
    """Whether a ``users.info`` user belongs to one of the ``home`` teams or orgs. People from a
    connected organization keep their own team's roles (an admin there is no admin here)."""
    if user.get("is_stranger"):
        return False
    enterprise = (user.get("enterprise_user") or {}).get("enterprise_id")
    return bool(_ids(user.get("team_id"), enterprise) & set(home))
