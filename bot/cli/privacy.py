"""`ragbot forget-user` and `ragbot prune`: a data-subject request, and retention on demand.

``serve`` applies ``retention_days`` hourly by itself; ``prune`` is for a bot that is not
running (or an operator who wants it now). Both work on the bot's database only: messages in
Slack are Slack's to delete.
"""

from __future__ import annotations

import re
from datetime import timedelta

import typer

from bot.cli.common import bot_state_or_fail, console, fail, settings_or_fail, slack_overrides
from bot.cli.main import app
from bot.observability.log_format import first_line

NOTHING_STORED = "nothing stored: there is no database at {path}"


@app.command("forget-user")
def forget_user(
    user_id: str = typer.Argument(..., help="The person's Slack member id (profile > ⋮ > Copy member ID), e.g. U012ABCDEF."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Delete one person's question records, feedback and escalations (and their name on escalations they handled)."""
    from bot.slack.admin import USER_ID

    user_id = user_id.strip()
    if not re.fullmatch(USER_ID, user_id):
        fail(f"{user_id!r} is not a Slack member id (like U012ABCDEF)")
    settings = settings_or_fail()
    state = bot_state_or_fail(settings, NOTHING_STORED)
    from bot.observability.hashing import IdHasher

    if not yes and not typer.confirm(f"Delete everything ragbot stored about {user_id}'s questions? This cannot be undone"):
        fail("nothing deleted", code=1)
    try:
        removed = state.retention.forget_user(user_id, IdHasher.from_settings(settings, state.db)(user_id))
    except Exception as error:  # noqa: BLE001
        fail(f"could not delete ({type(error).__name__}): {first_line(error)}")
    console.print(f"Deleted {removed}.", highlight=False, soft_wrap=True)


@app.command()
def prune(
    days: int = typer.Option(None, "--days", min=1, help="Keep this many days (default: the retention_days setting)."),
) -> None:
    """Delete question records, feedback and answered escalations older than the retention period now."""
    settings = settings_or_fail()
    state = bot_state_or_fail(settings, NOTHING_STORED)
    if days is None:  # as `serve` would: an admin's `/ragbot set retention_days` counts
        days = slack_overrides(settings)[0].retention_days
        if days <= 0:
            fail("retention_days is 0 (keep everything); pass --days N to prune anyway")
    try:
        removed = state.retention.prune(timedelta(days=days))
    except Exception as error:  # noqa: BLE001
        fail(f"could not prune ({type(error).__name__}): {first_line(error)}")
    console.print(f"Kept {days} days; deleted {removed}.", highlight=False, soft_wrap=True)
