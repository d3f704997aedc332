"""`ragbot settings`: every setting's effective value, where it came from, and what it does.

The environment and the config file are what the CLI and `ragbot serve` start from; runtime
overrides made in Slack (`/ragbot set`) live in the database: global ones are shown as the
value in effect (origin ``slack``), channel ones under ``channels``.
"""

from __future__ import annotations

import json
import os
import tomllib

import typer
from pydantic import SecretStr
from rich.table import Table

from bot.cli.common import console, err_console, settings_or_fail, slack_overrides
from bot.cli.main import app
from bot.settings import Settings, config_file, shown_url
from bot.state.overrides import GLOBAL


def _origin(name: str, file_keys: set[str]) -> str:
    if f"RAGBOT_{name.upper()}" in {key.upper() for key in os.environ}:
        return "env"
    return "file" if name in file_keys else "default"


def _value(value, name: str = "") -> str | int | float | bool | list | None:
    if name == "database_url" and value:
        return shown_url(value)
    if isinstance(value, SecretStr):
        return "(hidden)" if value.get_secret_value() else None
    if isinstance(value, (str, int, float, bool, list)) or value is None:
        return value
    return str(value)


@app.command("settings")
def settings_cmd(as_json: bool = typer.Option(False, "--json", help="One JSON object: name -> {value, origin}.")) -> None:
    """Show every setting's effective value and whether it comes from the environment, the file or the default."""
    settings = settings_or_fail()
    path = config_file()
    file_keys = set(tomllib.loads(path.read_text()).keys()) if path else set()
    effective, overrides = slack_overrides(settings)
    global_overrides = overrides.pop(GLOBAL, {})
    rows = [(name, _value(getattr(effective, name), name), "slack" if name in global_overrides else _origin(name, file_keys), field.description or "")
            for name, field in Settings.model_fields.items()]
    channels = {name: {scope: value for scope, values in overrides.items() for key, value in values.items() if key == name} for name, *_ in rows}
    if as_json:
        console.print_json(json.dumps({
            name: {"value": value, "origin": origin, **({"channels": channels[name]} if channels[name] else {})} for name, value, origin, _ in rows
        }))
        return
    table = Table(title=f"ragbot settings (file: {path or 'none'}; env: RAGBOT_<NAME>)", title_justify="left")
    table.add_column("setting", no_wrap=True)
    for column in ("value", "from", "what it does"):
        table.add_column(column, overflow="fold")
    for name, value, origin, description in rows:
        shown = "none" if value is None else str(value)
        if channels[name]:
            shown += " (" + ", ".join(f"{scope}: {v}" for scope, v in sorted(channels[name].items())) + ")"
        table.add_row(name, shown, origin, description)
    console.print(table)
    if global_overrides or overrides:
        console.print("slack: set with `/ragbot set` (stored in the database; `/ragbot reset KEY` removes one)", highlight=False)
