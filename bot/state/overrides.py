"""Settings overrides set from Slack (global or per channel) and the audit log of every change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot.state.db import Database, once_more_on_conflict
from bot.state.models import AuditEntry, SettingOverride, utcnow

GLOBAL = "global"


@dataclass(frozen=True)
class Change:
    key: str
    scope: str
    old_value: str | None
    new_value: str | None


class OverrideRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def for_scope(self, scope: str) -> dict[str, str]:
        with self.db.transaction() as session:
            rows = session.scalars(select(SettingOverride).where(SettingOverride.scope == scope)).all()
            return {row.key: row.value for row in rows}

    def for_channel(self, channel_id: str | None) -> dict[str, str]:
        """Global overrides, then the channel's own on top (the channel wins)."""
        merged = self.for_scope(GLOBAL)
        if channel_id:
            merged.update(self.for_scope(channel_id))
        return merged

    def all_scopes(self) -> dict[str, dict[str, str]]:
        """Every stored override by scope (the global one and each channel's)."""
        table: dict[str, dict[str, str]] = {}
        with self.db.transaction() as session:
            for row in session.scalars(select(SettingOverride)).all():
                table.setdefault(row.scope, {})[row.key] = row.value
        return table

    def set(self, scope: str, key: str, value: str, user_id: str) -> Change:
        """Store ``value`` and its audit row in one transaction. Two admins setting the same new
        key at once: the second insert meets the first's row and becomes an update."""
        return once_more_on_conflict(lambda: self._set(scope, key, value, user_id))

    def _set(self, scope: str, key: str, value: str, user_id: str) -> Change:
        with self.db.transaction() as session:  # the row lock (PostgreSQL) keeps each audit row's old value true
            row = session.scalars(select(SettingOverride).where(SettingOverride.scope == scope, SettingOverride.key == key).with_for_update()).first()
            old = row.value if row else None
            if row is None:
                session.add(SettingOverride(scope=scope, key=key, value=value, updated_by=user_id))
            else:
                row.value, row.updated_by, row.updated_at = value, user_id, utcnow()
            session.add(AuditEntry(user_id=user_id, action="set", key=key, scope=scope, old_value=old, new_value=value))
        return Change(key, scope, old, value)

    def reset(self, scope: str, key: str, user_id: str) -> Change | None:
        """Remove an override; None (and no audit row) when there was none."""
        with self.db.transaction() as session:
            row = session.scalars(select(SettingOverride).where(SettingOverride.scope == scope, SettingOverride.key == key)).first()
            if row is None:
                return None
            old = row.value
            session.delete(row)
            session.add(AuditEntry(user_id=user_id, action="reset", key=key, scope=scope, old_value=old, new_value=None))
        return Change(key, scope, old, None)

    def audit(self, limit: int = 100, since: datetime | None = None) -> list[AuditEntry]:
        with self.db.transaction() as session:
            query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            if since is not None:
                query = query.where(AuditEntry.at >= since)
            return list(session.scalars(query).all())
