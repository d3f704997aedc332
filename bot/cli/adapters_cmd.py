"""`ragbot adapters list | use NAME | rollback`: which LoRA adapter the generator applies.

Switching writes the registry's active pointer; a running bot reads it on its next
request, so no restart is needed. ``settings.adapter`` (env, TOML or ``/ragbot set
adapter NAME``) still wins over the pointer; ``list`` says when it does.
"""

from __future__ import annotations

import typer
from rich.table import Table

from bot.cli.common import console, fail, settings_or_fail
from bot.cli.main import app

adapters_app = typer.Typer(help="List, switch and roll back the generator's LoRA adapters.", no_args_is_help=True)
app.add_typer(adapters_app, name="adapters")


def _registry():
    from adapters.registry import AdapterRegistry

    settings = settings_or_fail()
    return settings, AdapterRegistry(settings.adapters_dir)


@adapters_app.command("list")
def list_adapters() -> None:
    """Adapters with their base model, eval loss and training data; the active one is starred."""
    settings, registry = _registry()
    active = registry.active()
    table = Table("", "name", "where", "base model", "eval loss", "trained", "examples")
    for info in registry.list():
        metrics = info.metadata.get("metrics", {})
        loss = f"{metrics.get('initial_eval_loss')} -> {metrics.get('best_eval_loss')}" if metrics else "?"
        where = "built-in" if info.builtin else ("trained (unfinished: time limit)" if info.metadata.get("unfinished") else "trained")
        table.add_row("*" if info.name == active else "", info.name, where,
                      str(info.metadata.get("base_model", "?")), loss, str(info.metadata.get("created_at", "?")),
                      str(info.metadata.get("data_counts", {}).get("train", "?")))
    console.print(table)
    console.print(f"active: {active or 'none (base model)'}", highlight=False)
    if settings.adapter is not None and settings.adapter != (active or "none"):
        console.print(f"note: the setting adapter={settings.adapter!r} overrides the active pointer", highlight=False)


@adapters_app.command("use")
def use(name: str = typer.Argument(..., help="Adapter name, or 'none' for the base model.")) -> None:
    """Make NAME the active adapter (a running bot picks it up on its next request)."""
    from adapters.registry import AdapterError

    from adapters.model_store import configured_base_hash

    settings, registry = _registry()
    try:
        previous = registry.use(name, configured_base_hash(settings))
    except AdapterError as error:
        fail(str(error))
    console.print(f"active adapter: {name} (was {previous or 'none'}); `ragbot adapters rollback` undoes this", highlight=False)


@adapters_app.command("rollback")
def rollback() -> None:
    """Go back to the adapter that was active before the last `use`."""
    from adapters.registry import AdapterError

    _, registry = _registry()
    try:
        now = registry.rollback()
    except AdapterError as error:
        fail(str(error))
    console.print(f"rolled back; active adapter: {now}", highlight=False)
