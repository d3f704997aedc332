"""Who ragbot is in Slack, and who belongs to the organization that runs it. Slack Connect
brings people from other companies into shared channels and DMs, and ragbot answers from
internal documents: in a shared channel its answer is read by everyone there, and a question
may come from outside.

`shared_channels` decides what happens there (per channel): ``off`` (the default) answers
nobody and tells the asker why; ``members`` answers members of this organization;
``everyone`` answers anyone. A member is someone whose Slack team or Enterprise Grid org is the
installation's own (``auth.test``, or the event's ``authorizations``) or listed in
``member_teams``. An event's envelope ``team_id`` is not used: in a shared channel it names the
workspace where the event happened, which may be the other company's.
"""

from __future__ import annotations

import threading
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


class Installation:
    """ragbot's own user and bot ids and its workspace and Grid org, from ``auth.test``: learnt
    from Bolt's authorize result (which Bolt got from the same call) or asked once, then kept."""

    def __init__(self, client: Any, member_teams: Iterable[str] = ()) -> None:
        self.client = client
        self.member_teams = frozenset(member_teams)
        self._answer: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def learn(self, context: Mapping[str, Any] | None) -> None:
        """Take what Bolt already knows (no Slack call) when nothing is known yet."""
        result = (context or {}).get("authorize_result")
        if self._answer is None and result is not None and getattr(result, "team_id", None):
            with self._lock:
                self._answer = self._answer or {
                    "team_id": result.team_id, "enterprise_id": getattr(result, "enterprise_id", None),
                    "user_id": getattr(result, "bot_user_id", None), "bot_id": getattr(result, "bot_id", None),
                }

    def _known(self) -> dict[str, Any]:
        """Raises what the Web API raises when it must be asked and cannot answer (not kept)."""
        if self._answer is None:
            answer = self.client.auth_test()
            with self._lock:
                self._answer = self._answer or {k: answer.get(k) for k in ("team_id", "enterprise_id", "user_id", "bot_id")}
        return self._answer

    def teams(self) -> frozenset[str]:
        """The team and org ids whose people are members: the installation's and ``member_teams``."""
        known = self._known()
        return frozenset(_ids(known["team_id"], known["enterprise_id"])) | self.member_teams

    def posted(self, message: Mapping[str, Any]) -> bool:
        """Whether ragbot itself posted ``message``."""
        known = self._known()
        return bool(_ids(message.get("user"), message.get("bot_id")) & _ids(known["user_id"], known["bot_id"]))


def sender_team(body: Mapping[str, Any], event: Mapping[str, Any]) -> str | None:
    """The team (``T…``) or Grid org (``E…``) of whoever wrote ``event`` in a channel shared with
    another organization; None outside such channels, where everyone is a member."""
    if not body.get("is_ext_shared_channel"):
        return None
    return event.get("user_team") or event.get("team") or None


def shared_refusal(body: Mapping[str, Any], event: Mapping[str, Any], home: Iterable[str], mode: str) -> str | None:
    """What to tell the asker instead of answering, or None to answer. ``home``: the team and
    org ids whose people are members."""
    if not body.get("is_ext_shared_channel") or mode == "everyone":
        return None
    sender = sender_team(body, event)
    authorized = {i for a in body.get("authorizations") or [] for i in _ids(a.get("team_id"), a.get("enterprise_id"))}
    # no team named: Slack omits it for people of the installation's own side
    if sender is not None and sender not in set(home) | authorized:
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
