"""`ragbot ingest PATH... [--prune]`: add or refresh documents in the knowledge base."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.cli.common import console, fail, settings_or_fail
from bot.cli.main import app
from bot.observability.log_format import first_line
from retrieval.errors import RetrievalError
from retrieval.loaders import SUPPORTED_SUFFIXES


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="Files or folders: Markdown, text, HTML, PDF, SQuAD 2.0 JSON."),
    prune: bool = typer.Option(False, "--prune", help="Remove stored documents under PATH that no longer exist there."),
    forget_missing: bool = typer.Option(False, "--forget-missing", help="With --prune: also remove what was stored from a PATH that is gone or holds no supported file (kept otherwise: an unmounted share looks the same)."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Empty this tenant's knowledge base first (after changing the embedding model or chunk settings)."),
    adopt_settings: bool = typer.Option(False, "--adopt-settings", help="Record the current embedding model and chunk settings as the ones a knowledge base without that record was built with."),
) -> None:
    """Load, chunk, embed and store documents; unchanged ones are skipped.

    Files that fail are listed by name and skipped (what is already stored from them stays);
    the exit status is then 1, though everything else went in.
    """
    from retrieval import manifest
    from retrieval.factory import build_ingestor, build_store

    settings = settings_or_fail()
    lock = _one_ingest_at_a_time(settings.data_dir)
    try:
        changed = manifest.mismatch(settings)
        if changed and not rebuild:
            fail(f"the knowledge base was built with other settings ({changed}); chunks from both would be mixed. "
                 "Re-ingest everything with --rebuild, or set them back")
        if rebuild:
            build_store(settings).clear()
            manifest.forget(settings)
        if manifest.recorded(settings) is None:  # before the first write: a run cut off midway still says what its chunks were built with
            stored = 0 if rebuild or adopt_settings else build_store(settings).count()
            if stored:  # restored without the record, or built before ragbot kept one: its settings are unknown
                fail(f"the knowledge base holds {stored} chunks but no record of the embedding model and chunk settings they were "
                     f"built with ({manifest.MANIFEST_FILE} is missing from {settings.data_dir}); chunks from other settings would "
                     "be mixed in silently. Re-ingest everything with --rebuild, or pass --adopt-settings if they were built with the current ones")
            manifest.record(settings)
        ingestor = build_ingestor(settings)
        with Progress(
            TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.description}"),
            console=console, transient=True, disable=not console.is_terminal,  # piped: no bar, no stray blank line
        ) as bar:
            task = bar.add_task("", total=None)

            def show(done: int, total: int, name: str) -> None:
                bar.update(task, completed=done, total=total, description=name)

            report = ingestor.ingest(paths, progress=show, prune=prune, forget_missing=forget_missing)
    except RetrievalError as error:
        fail(str(error))
    except KeyboardInterrupt:
        fail("interrupted: the files stored so far stay; run the same command again to finish", code=130)
    except Exception as error:  # noqa: BLE001 - a store failure (read-only disk, a schema clash) is one line, not a traceback
        fail(f"ingest stopped: {type(error).__name__}: {first_line(error)} (files already stored stay; rerun after fixing it)")
    finally:
        lock.close()
    console.print(f"{report.summary()} in {report.seconds:.1f} s (tenant {settings.tenant!r}, store {settings.store})", highlight=False, soft_wrap=True)
    if report.files == 0 and not report.failures:
        console.print(f"  no supported files found ({', '.join(sorted(SUPPORTED_SUFFIXES))})", highlight=False, soft_wrap=True)
    for name, reason in sorted(report.failures.items()):
        console.print(f"  [red]failed[/] {name}: {reason}", highlight=False, soft_wrap=True)
    if report.failures:  # the rest went in; a scheduled ingest still has to notice
        raise typer.Exit(1)


def _one_ingest_at_a_time(data_dir: Path):
    """Hold an exclusive lock on the data dir's ingest for this run: two ingests at once each
    saw the other's documents as changed and stored every changed chunk twice."""
    import fcntl

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        handle = open(data_dir / "ingest.lock", "w")  # noqa: SIM115 - held until the run ends
    except OSError as error:
        fail(f"cannot write to data_dir {data_dir}: {error.strerror or error}")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        console.print("another ingest is running on this data dir; waiting for it to finish", highlight=False)
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle
