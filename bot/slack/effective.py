"""Effective settings for a channel: base settings + global overrides + channel overrides,
read from the database on every question so a `/ragbot set` applies to the next message."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from bot.settings import Settings, SettingsError
from bot.state.overrides import OverrideRepository

log = logging.getLogger(__name__)

NONE_WORDS = {"none", "null", "unset"}
# settings for which "none" is a value of its own: the adapter "none" is the base model, while
# no adapter setting means the registry's active pointer (`ragbot adapters use`)
NONE_IS_A_VALUE = frozenset({"adapter"})


def parse_value(value: str, key: str | None = None) -> str | None:
    """Slack text to an override value: ``none`` clears an optional setting, ``<#C1|name>`` is C1."""
    stripped = value.strip()
    if stripped.lower() in NONE_WORDS:
        return stripped.lower() if key in NONE_IS_A_VALUE else None
    if stripped.startswith("<#") and stripped.endswith(">"):
        return stripped[2:-1].split("|", 1)[0]
    if stripped.startswith("<@") and stripped.endswith(">"):
        return stripped[2:-1].split("|", 1)[0]
    return stripped


class EffectiveSettings:
    def __init__(self, base: Settings, overrides: OverrideRepository) -> None:
        self.base = base
        self.overrides = overrides

    def for_channel(self, channel_id: str | None) -> Settings:
        try:
            stored = {key: parse_value(value, key) for key, value in self.overrides.for_channel(channel_id).items()}
        except SQLAlchemyError as error:  # the database is down: answer with the start-up settings
            log.warning("cannot read setting overrides (%s); using the start-up settings", type(error).__name__)
            return self.base
        try:
            return self.base.with_overrides(stored)
        except SettingsError:
            return self._skipping_bad(stored)

    def _skipping_bad(self, stored: dict[str, str | None]) -> Settings:
        """A stored value the model no longer accepts (e.g. after an upgrade) is skipped and logged,
        never allowed to stop the bot from answering."""
        settings = self.base
        for key, value in stored.items():
            try:
                settings = settings.with_overrides({key: value})
            except SettingsError as error:
                log.warning("ignoring stored override %s=%r: %s", key, value, error)
        return settings
