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


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error (never a traceback) and exit non-zero."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


class _OneLineFormatter(logging.Formatter):
    """Log lines for people at a terminal: an exception becomes its type and message, not a
    traceback (``RAGBOT_LOG_LEVEL=DEBUG`` keeps tracebacks)."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}"
            record.args = None
        return super().format(record)


def cli_logging(settings: Settings) -> None:
    """Warnings and errors on stderr, one line each unless the log level is DEBUG."""
    handler = logging.StreamHandler(sys.stderr)
    fmt = "%(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt) if settings.log_level == "DEBUG" else _OneLineFormatter(fmt))
    logging.basicConfig(level=logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING, handlers=[handler])


def output_folder_or_fail(path: Path | None, option: str) -> None:
    """Check a folder the command will write into before any work (a file in its place, or no
    permission, used to surface as a traceback after minutes of work)."""
    if path is None:
        return
    if path.exists() and not path.is_dir():
        fail(f"{option} {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        fail(f"{option} {path}: cannot create the folder ({error.strerror or error})")
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
    if settings.adapter is None or settings.generator_backend != "transformers":
        return
    from adapters.registry import AdapterError, AdapterRegistry

    try:
        AdapterRegistry(settings.adapters_dir).resolve(settings.adapter)
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
