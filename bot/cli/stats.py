"""`ragbot stats`: the `/ragbot stats` summary on the command line, and a plot over time.

The numbers come from the Slack bot's own summary query (``state.questions.summary``) and
rows (``state.questions.list``), so the terminal and Slack can never disagree.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from bot.cli.common import bot_state_or_fail, console, fail, settings_or_fail
from bot.cli.main import app
from bot.observability.log_format import first_line
from bot.state.questions import OUTCOME_BUSY

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
OUTCOMES = ("answered", "fallback", "blocked", OUTCOME_BUSY)
MAX_WINDOW = timedelta(days=3653)


def parse_window(text: str) -> timedelta:
    """'24h', '7d', '90m', '1w', '45s' -> a timedelta; anything else is a one-line error."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"--since {text!r} is not a duration like 30m, 24h or 7d")
    try:
        window = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    except OverflowError:
        window = MAX_WINDOW + MAX_WINDOW
    if window > MAX_WINDOW:
        raise ValueError(f"--since {text!r} is longer than ten years")
    return window


def summary_lines(summary: Any, window: str) -> list[str]:
    """The same figures `/ragbot stats` shows, as plain lines."""
    return [f"ragbot, last {window} (since {summary.since:%Y-%m-%d %H:%M} UTC)", *summary.lines()]


def bucket_width(span: timedelta) -> timedelta:
    """About 24-100 buckets whatever the window: 5 min up to 8 h, hourly up to 4 days, then daily."""
    if span <= timedelta(hours=8):
        return timedelta(minutes=5)
    if span <= timedelta(days=4):
        return timedelta(hours=1)
    return timedelta(days=1)


def _floor(moment: datetime, width: timedelta, origin: datetime) -> datetime:
    return origin + ((moment - origin) // width) * width


def plot_over_time(rows: list[Any], since: datetime, until: datetime, path: Path) -> int:
    """Outcomes (stacked bars) and p50/p95 latency per time bucket into ``path``; returns buckets drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bot.state.questions import percentile

    width = bucket_width(until - since)
    counts: dict[datetime, Counter] = defaultdict(Counter)
    latencies: dict[datetime, list[float]] = defaultdict(list)
    for row in rows:
        bucket = _floor(row.created_at, width, since)
        counts[bucket][row.outcome] += 1
        if row.outcome != OUTCOME_BUSY:  # turned away at once: no latency to speak of
            latencies[bucket].append(row.latency_ms / 1000)
    buckets = sorted(counts)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, constrained_layout=True)
    bar_width = width / timedelta(days=1) * 0.9  # matplotlib dates are in days
    base = [0] * len(buckets)
    for outcome, color in zip(OUTCOMES, ("#2e7d32", "#f9a825", "#c62828", "#757575")):
        values = [counts[b][outcome] for b in buckets]
        top.bar(buckets, values, width=bar_width, bottom=base, color=color, label=outcome, align="edge")
        base = [x + y for x, y in zip(base, values)]
    top.set_ylabel("questions")
    top.set_title(f"ragbot questions per {_describe(width)}, {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC")
    top.legend(loc="upper left")
    middles = [b + width / 2 for b in buckets]
    bottom.plot(middles, [percentile(latencies[b], 50) for b in buckets], marker="o", label="p50")
    bottom.plot(middles, [percentile(latencies[b], 95) for b in buckets], marker="o", label="p95")
    bottom.set_ylabel("latency (s)")
    bottom.set_xlim(since, until)
    bottom.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return len(buckets)


def _describe(width: timedelta) -> str:
    minutes = int(width.total_seconds() // 60)
    return f"{minutes} min" if minutes < 60 else ("hour" if minutes == 60 else "day")


@app.command()
def stats(
    since: str = typer.Option("24h", "--since", help="How far back: 30m, 24h, 7d, 2w."),
    plot: Path | None = typer.Option(None, "--plot", help="Also draw outcomes and latency over time into this PNG file."),
) -> None:
    """Questions, outcomes, escalations, feedback and latency, as `/ragbot stats` shows them."""
    try:
        window = parse_window(since)
    except ValueError as error:
        fail(str(error))
    if plot is not None and plot.suffix.lower() != ".png":
        fail(f"--plot {plot} must be a .png file")
    if plot is not None and not plot.resolve().parent.is_dir():
        fail(f"--plot {plot}: folder {plot.resolve().parent} does not exist")
    settings = settings_or_fail()
    state = bot_state_or_fail(settings, "no questions recorded yet: there is no database at {path} (run `ragbot serve` first)")
    from bot.state.models import utcnow

    try:
        until = utcnow()
        start = until - window
        summary = state.questions.summary(since=start)
        rows = state.questions.list(since=start) if plot is not None else []
    except Exception as error:  # noqa: BLE001 - a broken database is one line, not a traceback
        fail(f"cannot read the bot's database ({type(error).__name__}): {first_line(error)}")
    for line in summary_lines(summary, since.strip()):
        console.print(line, highlight=False, soft_wrap=True)
    if plot is not None:
        drawn = plot_over_time(rows, start, until, plot)
        console.print(f"Plot: {plot} ({drawn} time buckets with questions)", highlight=False, soft_wrap=True)
