"""The adapter registry: trained LoRA adapters by name, which one is active, and rollback.

Adapters live in ``settings.adapters_dir/<name>/`` (trained here) or ship with ragbot in
``adapters/pretrained/<name>/``. The active pointer is a small JSON file that the
generator re-reads (by modification time) on every request, so ``ragbot adapters use``
switches a running bot without a restart. ``settings.adapter`` (environment, TOML or a
``/ragbot set adapter NAME`` override) wins over the pointer; ``none`` means the base model.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.base import GeneratorError

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
METADATA_FILE = "ragbot_adapter.json"
BASE_MODEL = "none"  # the name that selects the base model without an adapter
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_POINTER = "active.json"
_HISTORY_LIMIT = 20


class AdapterError(GeneratorError):
    """An unknown or malformed adapter name, or nothing to roll back to."""


@dataclass
class AdapterInfo:
    name: str
    path: Path
    builtin: bool
    metadata: dict[str, Any] = field(default_factory=dict)


def check_name(name: str) -> str:
    """A safe adapter name (it becomes a folder name), or a clear error."""
    if not _NAME.match(name or ""):
        raise AdapterError(f"bad adapter name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    if name == BASE_MODEL:
        raise AdapterError(f"{BASE_MODEL!r} is reserved: it selects the base model without an adapter")
    return name


def _missing_part(folder: Path) -> str | None:
    """What keeps ``folder`` from loading as a peft adapter, or None."""
    if not (folder / "adapter_config.json").is_file():
        return "no adapter_config.json"
    if not any((folder / weights).is_file() for weights in ("adapter_model.safetensors", "adapter_model.bin")):
        return "no adapter_model.safetensors"
    return None


def _unloadable(folder: Path) -> str | None:
    """What would make peft fail on ``folder``'s files (cheap: the config and the weights' header)."""
    missing = _missing_part(folder)
    if missing:
        return missing
    try:
        config = json.loads((folder / "adapter_config.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"adapter_config.json is not readable JSON ({error})"
    if not isinstance(config, dict) or "peft_type" not in config:
        return "adapter_config.json is not a peft adapter config (no peft_type)"
    weights = folder / "adapter_model.safetensors"
    if weights.is_file():
        from safetensors import safe_open

        try:
            with safe_open(str(weights), framework="pt") as handle:
                if not list(handle.keys()):
                    return "adapter_model.safetensors holds no tensors"
        except Exception as error:  # noqa: BLE001 - safetensors raises its own error types for a damaged file
            return f"adapter_model.safetensors is damaged ({type(error).__name__}: {str(error)[:120]})"
    return None


class AdapterRegistry:
    def __init__(self, adapters_dir: Path, pretrained_dir: Path = PRETRAINED_DIR) -> None:
        self.adapters_dir = Path(adapters_dir)
        self.pretrained_dir = Path(pretrained_dir)
        self._lock = threading.Lock()
        self._cache: tuple[float, dict[str, Any]] | None = None

    # --- what exists ------------------------------------------------------------------
    def list(self) -> list[AdapterInfo]:
        found: dict[str, AdapterInfo] = {}
        for root, builtin in ((self.pretrained_dir, True), (self.adapters_dir, False)):
            if not root.is_dir():
                continue
            for folder in sorted(root.iterdir()):
                if folder.is_dir() and _NAME.match(folder.name) and _missing_part(folder) is None:
                    found[folder.name] = AdapterInfo(folder.name, folder, builtin, _read_json(folder / METADATA_FILE))
        return sorted(found.values(), key=lambda a: a.name)

    def get(self, name: str) -> AdapterInfo:
        check_name(name)
        for info in self.list():
            if info.name == name:
                return info
        for root in (self.adapters_dir, self.pretrained_dir):
            folder = root / name
            missing = _missing_part(folder) if folder.is_dir() else None
            if missing:
                raise AdapterError(f"adapter {name!r} in {folder} is incomplete ({missing})")
        known = ", ".join(a.name for a in self.list()) or "none trained yet"
        raise AdapterError(f"unknown adapter {name!r} (known: {known}; '{BASE_MODEL}' = base model)")

    def default_builtin(self) -> str | None:
        """The shipped adapter used when nothing was chosen: the first pretrained one whose
        metadata does not say ``"default": false`` (shipped for opting in, e.g. a stricter one
        that did not beat the base model overall)."""
        builtin = [a.name for a in self.list() if a.builtin and a.metadata.get("default", True) is not False]
        return builtin[0] if builtin else None

    # --- the active pointer -------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        path = self.adapters_dir / _POINTER
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        cached = self._cache
        if cached and cached[0] == mtime:
            return cached[1]
        state = _read_json(path)
        self._cache = (mtime, state)
        return state

    def active(self) -> str | None:
        """The adapter name in force (``None`` = base model), without settings overrides."""
        state = self._state()
        if "active" in state:
            value = state["active"]
            return None if value in (None, BASE_MODEL) else str(value)
        return self.default_builtin()

    def chosen(self) -> bool:
        """Whether someone picked an adapter (``use``/``rollback``), rather than the built-in default."""
        return "active" in self._state()

    def resolve(self, requested: str | None) -> AdapterInfo | None:
        """The adapter to apply for one request: ``requested`` (a setting) or the pointer."""
        name = requested if requested is not None else self.active()
        if name is None or name == BASE_MODEL:
            return None
        return self.get(name)

    def check(self, name: str, base_hash: str | None = None) -> AdapterInfo:
        """``name``'s adapter if it would load: files whole, and trained on the base model whose
        weights hash is ``base_hash`` (when known). A switch to one that would not load sent every
        answer to a human until someone noticed."""
        info = self.get(name)
        problem = _unloadable(info.path)
        if problem:
            raise AdapterError(f"adapter {name!r} at {info.path} cannot be loaded: {problem}")
        trained_on = info.metadata.get("base_model_sha256")
        if base_hash and trained_on and trained_on != base_hash:
            raise AdapterError(
                f"adapter {name!r} was trained on another base model ({info.metadata.get('base_model', '?')}) than the one configured"
            )
        return info

    def use(self, name: str, base_hash: str | None = None) -> str | None:
        """Make ``name`` active (``none`` = base model) once it is known to load; returns the previous one."""
        if name != BASE_MODEL:
            self.check(name, base_hash)
        with self._lock:
            state = self._state()
            previous = self.active()
            history = _history(state)
            history.append(previous if previous is not None else BASE_MODEL)
            self._write({"active": name, "history": history[-_HISTORY_LIMIT:], "changed_at": time.time()})
        return previous

    def rollback(self) -> str:
        """Go back to the adapter active before the last ``use``; returns the one now active."""
        with self._lock:
            state = self._state()
            history = _history(state)
            if not history:
                raise AdapterError("nothing to roll back to: no earlier `ragbot adapters use` recorded")
            previous = history.pop()
            if previous != BASE_MODEL:
                self.check(previous)  # gone or broken since: refuse rather than fail every answer
            self._write({"active": previous, "history": history, "changed_at": time.time()})
        return previous

    def _write(self, state: dict[str, Any]) -> None:
        self.adapters_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".active-", dir=self.adapters_dir)
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle, indent=2)
        os.replace(tmp, self.adapters_dir / _POINTER)
        self._cache = None


def _history(state: dict[str, Any]) -> list[str]:
    """The pointer's history, ignoring anything that is not a list of names (a hand-edited file)."""
    history = state.get("history")
    return [h for h in history if isinstance(h, str)] if isinstance(history, list) else []


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):  # missing, unreadable, not UTF-8, not JSON: no metadata
        return {}
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if k not in ("metrics", "data_counts", "settings") or isinstance(v, dict)}
