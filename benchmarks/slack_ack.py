"""Ack time of ragbot's HTTP path under a burst of concurrent signed Slack events.

The real Bolt app (``SlackBot``) is served by ``HttpServer`` on 127.0.0.1; a local fake
Web API records the replies. Each question takes ``--work-ms`` in a stand-in pipeline (the
real one is benchmarked end to end in issue 6's load test). The same burst is then sent to
the obvious alternative, a Bolt listener that answers BEFORE acking, to show why the work
happens after the ack.

    .venv/bin/python benchmarks/slack_ack.py --events 200 --concurrency 50 --work-ms 300
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "bot" / "slack")]

from slack_bolt import App  # noqa: E402
from slack_fakes import SECRET, FakeSlackApi, SlackClientSim, simple_pipeline  # noqa: E402
from slack_sdk import WebClient  # noqa: E402

from bot.settings import load_settings  # noqa: E402
from bot.slack import HttpServer, SlackBot, build_wsgi_app  # noqa: E402
from bot.state import open_state  # noqa: E402

ACK_LIMIT_S = 3.0


class SlowPipeline:
    """The deterministic pipeline plus a fixed amount of work per question (the model's time).
    At most ``capacity`` answers are worked on at once, as a model on 2 CPU cores allows,
    whichever server design calls it."""

    def __init__(self, inner, work_s: float, capacity: int) -> None:
        self.inner, self.work_s = inner, work_s
        self.capacity = threading.Semaphore(capacity)

    def run(self, question, request, *, settings=None):
        with self.capacity:
            time.sleep(self.work_s)
        return self.inner.run(question, request, settings=settings)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


def burst(url: str, events: int, concurrency: int, prefix: str) -> list[float]:
    """Send ``events`` distinct signed app_mention events at once; returns each ack's seconds."""
    slack = SlackClientSim(url, timeout=600)

    def one(i: int) -> float:
        response, _ = slack.mention(f"how do I use the vpn? #{i}", ts=f"1650000000.{i:06d}", event_id=f"Ev{prefix}{i:06d}")
        if response.status != 200:
            raise RuntimeError(f"event {i}: HTTP {response.status}")
        return response.seconds

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, range(events)))


def summary(name: str, acks: list[float], extra: str = "") -> str:
    ms = [a * 1000 for a in acks]
    late = sum(1 for a in acks if a >= ACK_LIMIT_S)
    return (f"| {name} | {len(acks)} | {statistics.median(ms):.1f} | {percentile(ms, 95):.1f} | {max(ms):.1f} | "
            f"{late} |{extra}")


def run_ragbot(args, api: FakeSlackApi, data_dir: Path) -> tuple[list[float], float, int, int]:
    settings = load_settings(data_dir=data_dir, slack_api_url=api.url, escalation_channel=None, min_relevance=0.3,
                             max_concurrency=args.workers, queue_size=max(args.events, 64), outbox_retry_interval_s=3600)
    state = open_state(settings.effective_database_url)
    pipeline = SlowPipeline(simple_pipeline(settings)[0], args.work_ms / 1000, args.workers)
    bot = SlackBot(settings, pipeline, state, signing_secret=SECRET, client=WebClient(token="xoxb-bench", base_url=api.url)).start_background()
    server = HttpServer(build_wsgi_app(bot.app), "127.0.0.1", 0).start()
    try:
        started = time.perf_counter()
        acks = burst(server.url, args.events, args.concurrency, "R")
        if not bot.drain(timeout=args.events * args.work_ms / 1000 + 120):
            raise RuntimeError("questions were still queued at the deadline")
        total = time.perf_counter() - started
        threads = {c.args.get("thread_ts") for c in api.find("chat.postMessage")}
        replies = len(api.find("chat.postMessage"))
        return acks, total, replies, len(threads)
    finally:
        server.stop()
        bot.close()
        state.close()


def run_inline(args, api: FakeSlackApi) -> list[float]:
    """The alternative: answer inside the request, then ack (what a naive listener does)."""
    settings = load_settings(data_dir=Path(tempfile.mkdtemp()), slack_api_url=api.url, min_relevance=0.3)
    pipeline = SlowPipeline(simple_pipeline(settings)[0], args.work_ms / 1000, args.workers)
    client = WebClient(token="xoxb-bench", base_url=api.url)
    app = App(client=client, signing_secret=SECRET, process_before_response=True)

    @app.event("app_mention")
    def answer_then_ack(event, ack):
        from bot.turn import RequestContext

        result = pipeline.run(event["text"], RequestContext())
        client.chat_postMessage(channel=event["channel"], thread_ts=event["ts"], text=result.text)
        ack()

    server = HttpServer(build_wsgi_app(app), "127.0.0.1", 0).start()
    try:
        return burst(server.url, args.events, args.concurrency, "I")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50, help="client connections sending at once")
    parser.add_argument("--work-ms", type=float, default=300, help="time each answer takes in the stand-in pipeline")
    parser.add_argument("--workers", type=int, default=2, help="ragbot's max_concurrency")
    parser.add_argument("--skip-inline", action="store_true")
    args = parser.parse_args()

    api = FakeSlackApi()
    with tempfile.TemporaryDirectory() as tmp:
        acks, total, replies, threads = run_ragbot(args, api, Path(tmp))
    print(f"{args.events} signed app_mention events, {args.concurrency} at once, {args.work_ms:.0f} ms of work per answer, "
          f"max_concurrency {args.workers}\n")
    print("| server | events | ack p50 ms | ack p95 ms | ack max ms | acks >= 3 s | notes |")
    print("|---|---|---|---|---|---|---|")
    print(summary("ragbot (ack, then queue)", acks, f" all answered in {total:.1f} s; {replies} replies in {threads} threads |"))
    if not args.skip_inline:
        inline_api = FakeSlackApi()
        inline = run_inline(args, inline_api)
        print(summary("answer inside the request, then ack", inline, " Slack would retry every late one |"))
        inline_api.close()
    api.close()
    if max(acks) >= ACK_LIMIT_S or replies != args.events or threads != args.events:
        sys.exit("FAILED: an ack took 3 s or more, or a question did not get exactly one reply")


if __name__ == "__main__":
    main()
