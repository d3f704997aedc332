"""`ragbot ask`: one question through the whole pipeline, printed for people or as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from bot.answer import Answer, Outcome
from bot.cli.common import check_adapter_or_fail, check_knowledge_base_or_fail, cli_logging, console, err_console, fail, settings_or_fail, slack_overrides
from bot.cli.main import app
from bot.state.overrides import GLOBAL
from guardrails.normalize import normalize_text

_OUTCOME_STYLE = {Outcome.ANSWERED: "green", Outcome.FALLBACK: "yellow", Outcome.BLOCKED: "red"}


@app.command()
def ask(
    question: str = typer.Argument("", help="The question to answer."),
    questions_file: Path | None = typer.Option(None, "--file", "-f", help="Answer every line of this file instead."),
    as_json: bool = typer.Option(False, "--json", help="Print the Answer as one JSON object (one per line with --file)."),
    trace: bool = typer.Option(False, "--trace", help="Also print each stage's timing and scores."),
) -> None:
    """Answer QUESTION from the ingested knowledge base, with numbered sources."""
    questions = _questions(question, questions_file)
    settings, overrides = slack_overrides(settings_or_fail())  # answer as the bot would, with /ragbot set's global values
    if overrides.get(GLOBAL):
        err_console.print(f"note: with settings changed in Slack: {', '.join(f'{k}={v}' for k, v in sorted(overrides[GLOBAL].items()))}", highlight=False)
    check_adapter_or_fail(settings)
    check_knowledge_base_or_fail(settings)
    cli_logging(settings)
    from bot.factory import build_pipeline
    from retrieval.factory import knowledge_base_size

    try:
        size = knowledge_base_size(settings)
    except Exception as error:  # noqa: BLE001 - a broken store is reported in one line
        fail(f"cannot open the knowledge base in {settings.knowledge_base_label}: {error}")
    if size == 0:
        fail(f"the knowledge base in {settings.knowledge_base_label} is empty: run `ragbot ingest PATH...` first")
    pipeline = build_pipeline(settings)
    for n, text in enumerate(questions):
        answer = pipeline.run(text)
        if as_json:
            print(json.dumps(answer.public_json(), ensure_ascii=False), flush=True)
            continue
        if len(questions) > 1:
            shown = normalize_text(text)  # a line of the file must not drive the terminal (escape sequences)
            console.print(f"{'' if n == 0 else chr(10)}[bold]Q: {escape(shown)}[/]", highlight=False)
        render(answer, show_trace=trace)


def _questions(question: str, questions_file: Path | None) -> list[str]:
    if questions_file is not None:
        try:
            lines = questions_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            fail(f"cannot read questions from {questions_file}: {error}")
        questions = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        if not questions:
            fail(f"{questions_file} holds no questions")
        return questions
    if not question:
        fail('no question given: ragbot ask "How long is a VPN profile valid?"')
    return [question]


def terminal_text(text: str) -> str:
    """The reply is Slack mrkdwn (``&``, ``<``, ``>`` escaped); a terminal shows the plain characters,
    and has no "Ask a human" button for the fallback texts to point at."""
    return text.replace(" with the button below", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render(answer: Answer, *, show_trace: bool = False) -> None:
    style = _OUTCOME_STYLE[answer.outcome]
    console.print(escape(terminal_text(answer.text)), highlight=False)
    console.print(
        f"[{style}]{answer.outcome.value}[/] · confidence {answer.confidence:.2f}"
        + (f" · escalate: {escape(answer.escalation_reason or '')}" if answer.escalate else ""),
        highlight=False,
    )
    if answer.outcome is Outcome.ANSWERED and answer.sources:
        console.print("Sources:")
        for source in answer.sources:
            console.print(f"  [{source.n}] {escape(source.heading)} ({escape(source.url or source.location)}) score {source.score:.2f}", highlight=False)
    if show_trace:
        for stage in answer.trace:
            details = ", ".join(f"{k}={v}" for k, v in stage.details.items() if not isinstance(v, dict))
            console.print(f"  {stage.stage:<15} {stage.duration_ms:8.1f} ms  {stage.decision:<10} {escape(details)}", highlight=False)
