"""Salted hashes of Slack user and channel ids, so logs can be joined without naming anyone."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from bot.settings import Settings
from bot.state.db import Database

SALT_FILE = "log_salt"
SALT_NAME = "id_hash_salt"


def _file_salt(data_dir: Path) -> bytes | None:
    try:
        return bytes.fromhex((data_dir / SALT_FILE).read_text().strip()) or None
    except (FileNotFoundError, ValueError):
        return None


def _load_or_create_salt(data_dir: Path) -> bytes:
    """A random salt kept next to the data (0600), so hashes stay stable across restarts."""
    salt = _file_salt(data_dir)
    if salt:
        return salt
    # missing, empty or not hex (hand-edited): a new one; nothing could be matched with it anyway
    path = data_dir / SALT_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(salt.hex())
    os.replace(tmp, path)
    return salt


class IdHasher:
    """HMAC-SHA256 of an id under a secret salt, shortened to 16 hex chars (64 bits)."""

    def __init__(self, salt: bytes) -> None:
        if not salt:
            raise ValueError("the log salt must not be empty")
        self._salt = salt

    @classmethod
    def from_settings(cls, settings: Settings, db: Database | None = None) -> "IdHasher":
        """``log_salt`` when set; else the salt stored in the bot's database ``db``, which every
        instance on it shares: thread keys and user hashes are matched across instances (a
        follow-up in a thread another instance answered, "Ask a human", an edited question).
        The first instance seeds it with its old ``data_dir`` salt, so hashes stay stable."""
        if settings.log_salt is not None and settings.log_salt.get_secret_value():
            return cls(settings.log_salt.get_secret_value().encode())
        if db is not None:
            seed = _file_salt(settings.data_dir) or secrets.token_bytes(32)
            return cls(bytes.fromhex(db.shared_value(SALT_NAME, seed.hex())))
        return cls(_load_or_create_salt(settings.data_dir))

    def __call__(self, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        return hmac.new(self._salt, value.encode(), hashlib.sha256).hexdigest()[:16]
