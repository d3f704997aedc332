"""Helpers shared by CLI commands: settings loading and one-line errors."""

from __future__ import annotations

import sys
from typing import NoReturn

from rich.console import Console

from bot.settings import Settings, SettingsError, load_settings

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error (never a traceback) and exit non-zero."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


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
