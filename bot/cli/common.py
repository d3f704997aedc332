"""Helpers shared by CLI commands: settings loading and one-line errors."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

from rich.console import Console

from bot.settings import Settings, SettingsError, load_settings

console = Console()
err_console = Console(stderr=True)


# output folders this command created before its work: a refusal must not leave them behind empty
_created_folders: list[Path] = []


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error (never a traceback) and exit non-zero."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    while _created_folders:
        try:
            _created_folders.pop().rmdir()  # only when still empty
        except OSError:
            pass
    sys.exit(code)


def cli_logging(settings: Settings, *, level: str | None = None, fmt: str = "%(levelname)s %(name)s: %(message)s") -> logging.Handler:
    """Log lines on stderr (warnings and errors unless ``level``), one line each unless the log
    level is DEBUG, an error's message redacted: it can quote the question (a model or database
    error), and a terminal's stderr is often kept in a file or a CI log."""
    from bot.observability.log_format import install

    try:
        from guardrails.pii import redact
    except ImportError:
        redact = None
    chosen = "DEBUG" if settings.log_level == "DEBUG" else (level or "WARNING")
    return install(chosen, fmt, redactor=redact, stream=sys.stderr)


def output_folder_or_fail(path: Path | None, option: str) -> None:
    """Check a folder the command will write into before any work (a file in its place, or no
    permission, used to surface as a traceback after minutes of work)."""
    if path is None:
        return
    if path.exists() and not path.is_dir():
        fail(f"{option} {path} is a file, not a folder")
    existed = path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        fail(f"{option} {path}: cannot create the folder ({error.strerror or error})")
    if not existed:
        _created_folders.append(path)
    if not os.access(path, os.W_OK):
        fail(f"{option} {path}: the folder is not writable")


def no_overwrite_or_fail(folder: Path, names: tuple[str, ...], force: bool, what: str) -> None:
    """Refuse to replace earlier output (training data, a trained model) unless --force says so:
    it may be hours of work or the model the bot is running with."""
    found = [name for name in names if (folder / name).exists()]
    if found and not force:
        fail(f"{folder} already holds {what} ({', '.join(found)}); pass --force to replace it, or choose another folder")


def check_adapter_or_fail(settings: Settings) -> None:
    """Commands that answer questions refuse an unknown ``adapter`` at start rather than falling
    back on every question (commands that list adapters must still run with a typo set)."""
    from adapters.registry import BASE_MODEL, AdapterError, AdapterRegistry

    if settings.adapter in (None, BASE_MODEL) or settings.generator_backend != "transformers":
        return
    from adapters.model_store import configured_base_hash

    try:
        AdapterRegistry(settings.adapters_dir).check(settings.adapter, configured_base_hash(settings))
    except AdapterError as error:
        fail(f"bad setting: adapter: {error}")


def settings_or_fail() -> Settings:
    """The settings every command runs with (a clear one-line error when one is bad); the
    process-wide ones (torch threads) take effect here, before any model loads."""
    try:
        settings = load_settings()
    except SettingsError as error:
        fail(f"bad setting: {error}")
    from bot.model_loading import apply_torch_threads

    apply_torch_threads(settings.torch_threads)
    return settings


def check_knowledge_base_or_fail(settings: Settings) -> None:
    """Answering with another embedding model than the store was built with finds nothing
    (cosines near 0), so commands that search refuse to start with it."""
    from retrieval.manifest import mismatch

    changed = mismatch(settings)
    if changed:
        fail(f"the knowledge base was built with other settings ({changed}); set them back, "
             "or re-ingest everything with `ragbot ingest --rebuild PATH...`")


def missing_database(settings: Settings) -> Path | None:
    """The SQLite file the bot's database would be, when it does not exist yet (no `serve` ran)."""
    url = settings.effective_database_url
    path = Path(url.removeprefix("sqlite:///"))
    return path if url.startswith("sqlite:///") and not path.exists() else None


def bot_state_or_fail(settings: Settings, missing: str):
    """The bot's state database for a command that reads it; a one-line error when there is none
    yet (``missing``, with ``{path}``) or it cannot be opened."""
    path = missing_database(settings)
    if path is not None:
        fail(missing.format(path=path))
    from bot.observability.log_format import first_line
    from bot.state import open_state

    try:
        return open_state(settings.effective_database_url)
    except Exception as error:  # noqa: BLE001 - a broken database is one line, not a traceback
        fail(f"cannot open the bot's database ({type(error).__name__}): {first_line(error)}")


def slack_overrides(settings: Settings) -> tuple[Settings, dict[str, dict[str, str]]]:
    """The settings in effect everywhere with the overrides stored by `/ragbot set` (read as the
    bot reads them), and those overrides by scope; none when the bot has no database yet.
    `ragbot settings` shows them and `ragbot ask` answers with them, as the bot would."""
    if missing_database(settings) is not None:
        return settings, {}
    url = settings.effective_database_url
    try:
        from bot.slack.effective import EffectiveSettings
        from bot.state import open_state

        state = open_state(url)
        try:
            return EffectiveSettings(settings, state.overrides).for_channel(None), state.overrides.all_scopes()
        finally:
            state.close()
    except Exception as error:  # noqa: BLE001 - the file/env view is still worth showing
        err_console.print(f"warning: cannot read Slack overrides from the database ({type(error).__name__})", highlight=False)
        return settings, {}
