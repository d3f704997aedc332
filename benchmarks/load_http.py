"""Load test of ragbot's HTTP path with the real pipeline, bounded in count and time.

``ragbot serve --http`` as ``serve`` wires it (real Bolt app, ``HttpServer`` on 127.0.0.1,
the serving pipeline: input checks, answer cache, hybrid search over the ingested sample
handbook, relevance gate, SmolLM2 in its restartable child process, output checks, JSON
question log and metrics), warmed up until ``/ready``. A local fake Web API stands in for
Slack and timestamps every reply. ``--events`` distinct, correctly signed ``app_mention``
events are sent at once (``--concurrency`` connections), cycling through the sample
questions; the run reports throughput, ack and end-to-end latency percentiles, peak memory
(bot process and generator child), and checks that every question got exactly one reply.
The same burst runs twice: with the answer cache and without it (``cache_ttl_s=0``).

    .venv/bin/python benchmarks/load_http.py --events 48 --concurrency 16
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "bot" / "slack")]

import psutil  # noqa: E402
from slack_fakes import SECRET, FakeSlackApi, SlackClientSim  # noqa: E402

from bot.settings import load_settings  # noqa: E402

ACK_LIMIT_S = 3.0
QUESTIONS = [q.strip() for q in (REPO / "examples" / "questions.txt").read_text().splitlines() if q.strip()]


class TimedSlackApi(FakeSlackApi):
    """The fake Web API, also noting when each thread's first reply arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.first_reply: dict[str, float] = {}

    def _answer(self, method: str, args: dict) -> tuple[int, dict]:
        status, body = super()._answer(method, args)
        if method == "chat.postMessage" and status == 200 and args.get("thread_ts"):
            self.first_reply.setdefault(args["thread_ts"], time.perf_counter())
        return status, body


class MemoryPeak:
    """Samples RSS of this process and its children every 50 ms."""

    def __init__(self) -> None:
        self.me = psutil.Process()
        self.peak_self = self.peak_children = self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            own = self.me.memory_info().rss
            children = 0
            for child in self.me.children(recursive=True):
                try:
                    children += child.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_self, self.peak_children = max(self.peak_self, own), max(self.peak_children, children)
            self.peak_total = max(self.peak_total, own + children)
            self._stop.wait(0.05)

    def __enter__(self) -> "MemoryPeak":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def prepare(work: Path) -> None:
    """Ingest the sample handbook once into ``work`` (the converted model is cached there too)."""
    settings = load_settings(data_dir=work)
    from retrieval.factory import build_ingestor, knowledge_base_size

    if knowledge_base_size(settings) == 0:
        build_ingestor(settings).ingest([REPO / "examples" / "handbook"])


def run_variant(name: str, args, work: Path, cache_ttl_s: int) -> dict:
    from bot.cli.serve import make_bot
    from bot.runtime.lifecycle import ServingRuntime
    from bot.slack import HttpServer, build_wsgi_app

    api = TimedSlackApi()
    db = work / f"load-{name}-{int(time.time())}.db"
    settings = load_settings(
        data_dir=work, database_url=f"sqlite:///{db}", slack_api_url=api.url, escalation_channel="CESC",
        max_concurrency=args.workers, queue_size=max(args.events, 1), cache_ttl_s=cache_ttl_s, outbox_retry_interval_s=3600,
        device="cpu", generation_timeout_s=args.generation_timeout,
    )
    bot = make_bot(settings, bot_token="xoxb-load", signing_secret=SECRET)
    bot.start_background()
    runtime = ServingRuntime(bot, bot.serving_parts, settings).start(json_log=False)
    warm_started = time.perf_counter()
    if not runtime.wait_ready(600):
        raise SystemExit(f"{name}: not ready: {bot.serving_parts.readiness.snapshot()}")
    warm_s = time.perf_counter() - warm_started
    server = HttpServer(build_wsgi_app(bot.app, extra_routes=runtime.routes), "127.0.0.1", 0).start()
    slack = SlackClientSim(server.url)
    sent: dict[str, float] = {}
    acks: list[float] = []

    def one(i: int) -> None:
        ts = f"1700000000.{i:06d}"
        sent[ts] = time.perf_counter()
        question = QUESTIONS[i % len(QUESTIONS)]
        response, _ = slack.mention(f"{question} (#{i})" if args.distinct else question, ts=ts, event_id=f"Ev{name}{i:06d}")
        if response.status != 200:
            raise RuntimeError(f"event {i}: HTTP {response.status}")
        acks.append(response.seconds)

    before = _scrape(server.url)  # the metrics are process-wide: report this variant's increase
    try:
        with MemoryPeak() as memory:
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                list(pool.map(one, range(args.events)))
            drained = bot.drain(timeout=args.timeout)
            total = time.perf_counter() - started
        after = _scrape(server.url)
        outcomes: dict[str, int] = {}
        for record in bot.state.questions.list():
            outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
    finally:
        server.stop()
        runtime.shutdown()
        bot.close(wait=False)
        bot.state.close()
        api.close()
    replies = api.find("chat.postMessage")
    per_thread: dict[str, int] = {}
    for call in replies:
        if call.args.get("channel") != "CESC":
            per_thread[call.args.get("thread_ts")] = per_thread.get(call.args.get("thread_ts"), 0) + 1
    e2e = [api.first_reply[ts] - sent[ts] for ts in sent if ts in api.first_reply]
    delta = lambda name: after.get(name, 0.0) - before.get(name, 0.0)  # noqa: E731
    hits = delta('ragbot_cache_requests_total{result="hit"}')
    generations = delta('ragbot_stage_duration_seconds_count{stage="generate"}')
    return {
        "name": name, "drained": drained, "total_s": total, "warm_s": warm_s, "acks": acks, "e2e": e2e,
        "exactly_one": sum(1 for ts in sent if per_thread.get(ts) == 1), "events": len(sent),
        "memory": (memory.peak_self, memory.peak_children, memory.peak_total), "cache_hits": hits,
        "loads": bot.serving_parts.readiness.snapshot()["loaded"], "generations": generations, "outcomes": outcomes,
        "busy": delta("ragbot_rejected_busy_total"),
    }


def _scrape(url: str) -> dict[str, float]:
    """GET /metrics: sample line (name with labels) -> value."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def row(result: dict) -> str:
    acks = [a * 1000 for a in result["acks"]]
    e2e = result["e2e"]
    mib = [m / 2**20 for m in result["memory"]]
    return (
        f"| {result['name']} | {result['events']} | {result['events'] / result['total_s']:.2f} | "
        f"{statistics.median(acks):.0f} / {pct(acks, 95):.0f} / {max(acks):.0f} | "
        f"{statistics.median(e2e):.1f} / {pct(e2e, 95):.1f} | {int(result['generations'])} | {int(result['cache_hits'])} | "
        f"{mib[0]:.0f} + {mib[1]:.0f} = {mib[2]:.0f} | {result['exactly_one']}/{result['events']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=16, help="client connections sending at once")
    parser.add_argument("--workers", type=int, default=2, help="max_concurrency (questions answered at once)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds the queue may take to drain, per variant")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/ragbot-load"), help="store + converted model (kept between runs)")
    parser.add_argument("--generation-timeout", type=float, default=60, help="generation_timeout_s (raise it on a contended machine)")
    parser.add_argument("--distinct", action="store_true", help="make every question text unique (no cache hits)")
    parser.add_argument("--only", choices=["cache", "no-cache"], default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    prepare(args.work_dir)

    variants = [("cache", 3600), ("no-cache", 0)]
    results = [run_variant(name, args, args.work_dir, ttl) for name, ttl in variants if args.only in (None, name)]
    cpu = psutil.cpu_count()
    print(f"{args.events} signed app_mention events, {args.concurrency} at once, questions cycling over {len(QUESTIONS)} "
          f"sample questions, max_concurrency {args.workers}, generation_timeout_s {args.generation_timeout:g}, {cpu} CPUs, "
          f"load average at the end: {psutil.getloadavg()[0]:.1f}\n")
    print("| variant | events | questions/s | ack p50 / p95 / max ms | end-to-end p50 / p95 s | generations | cache hits | peak RSS MiB (bot + generator = total) | exactly one reply |")
    print("|---|---|---|---|---|---|---|---|---|")
    for result in results:
        print(row(result))
    for result in results:
        print(f"\n{result['name']}: warm-up {result['warm_s']:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in result['loads'].items())}); "
              f"outcomes {result['outcomes']}; busy replies {int(result['busy'])}; drained: {result['drained']}; total {result['total_s']:.0f} s")
    failed = [r["name"] for r in results if not r["drained"] or r["exactly_one"] != r["events"] or max(r["acks"]) >= ACK_LIMIT_S]
    if failed:
        sys.exit(f"FAILED ({', '.join(failed)}): an ack took 3 s or more, the queue did not drain, or a question did not get exactly one reply")


if __name__ == "__main__":
    main()
