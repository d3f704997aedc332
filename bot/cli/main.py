"""`ragbot` entry point: one typer app; each command group lives in its own module."""

from __future__ import annotations

import sys

import typer

from bot.cli.common import fail
from bot.settings import SettingsError

app = typer.Typer(
    name="ragbot",
    help="Answer questions from your team's documents, with sources, in Slack and on the command line.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
eval_app = typer.Typer(help="Measure retrieval, answers and guardrails on labelled data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

# Command modules register themselves on `app` / `eval_app` when imported.
from bot.cli import ask as _ask  # noqa: E402,F401
from bot.cli import ingest as _ingest  # noqa: E402,F401
from bot.cli import reranker as _reranker  # noqa: E402,F401
from bot.cli import eval_retrieval as _eval_retrieval  # noqa: E402,F401
from bot.cli import serve as _serve  # noqa: E402,F401
from bot.cli import stats as _stats  # noqa: E402,F401
from bot.cli import guard as _guard  # noqa: E402,F401
from bot.cli import finetune as _finetune  # noqa: E402,F401
from bot.cli import eval_answers as _eval_answers  # noqa: E402,F401
from bot.cli import adapters_cmd as _adapters_cmd  # noqa: E402,F401
from bot.cli import settings_cmd as _settings_cmd  # noqa: E402,F401
from bot.cli import privacy as _privacy  # noqa: E402,F401


def run() -> None:
    """Console-script entry: known errors become one line on stderr and exit code 2."""
    try:
        app()
    except SettingsError as error:
        fail(f"bad setting: {error}")
    except KeyboardInterrupt:
        sys.exit(130)
