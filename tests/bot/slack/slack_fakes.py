"""Test doubles for the Slack side: a local Web API server that records calls, signed
request helpers, and a small deterministic pipeline built from the real stages."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from adapters.base import Generation
from bot.pipeline import Pipeline
from bot.stages import GenerateStage, InputGuardStage, RelevanceGateStage, RetrieveStage
from retrieval.types import Chunk, Hit

BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T0001"
SECRET = "test-signing-secret"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class Failure:
    method: str
    remaining: int
    status: int = 500
    error: str = "internal_error"
    when: Callable[[dict], bool] = lambda args: True
    retry_after: int | None = None  # seconds, sent as a Retry-After header
    took_effect: bool = False  # Slack did the work (posted) and still answered with the failure (a 5xx after posting)


class FakeSlackApi:
    """Answers Web API methods on 127.0.0.1 like Slack would, and records every call."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: list[Failure] = []
        self.users: dict[str, dict] = {}
        self.delays: dict[str, float] = {}  # method -> seconds to wait before answering (a slow Slack)
        self.socket_url: str | None = None  # what apps.connections.open hands out
        self.messages: list[dict] = []  # what chat.postMessage put in channels, oldest first (conversations.* read it)
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - conversations.history / .replies are GETs with a query string
                path, _, query = self.path.partition("?")
                self._reply(path, {k: v[0] for k, v in urllib.parse.parse_qs(query).items()})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    args = json.loads(raw or "{}")
                else:
                    args = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
                    for key in ("blocks", "view", "metadata"):
                        if isinstance(args.get(key), str):
                            args[key] = json.loads(args[key])
                self._reply(self.path, args)

            def _reply(self, path: str, args: dict) -> None:
                method = path.rsplit("/", 1)[-1]
                status, body, retry_after = outer._answer(method, args)
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    if retry_after is not None:
                        self.send_header("Retry-After", str(retry_after))
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a delay test)
                    pass

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/"

    def _answer(self, method: str, args: dict) -> tuple[int, dict, int | None]:
        time.sleep(self.delays.get(method, 0.0))
        with self._lock:
            for failure in self.failures:
                if failure.method == method and failure.remaining > 0 and failure.when(args):
                    failure.remaining -= 1
                    self.calls.append(Call(method + "!failed", args))
                    if failure.took_effect:
                        self.calls.append(Call(method, args, self._respond(method, args)))
                    error = "ratelimited" if failure.status == 429 else failure.error
                    return failure.status, {"ok": False, "error": error}, failure.retry_after
            call = Call(method, args)
            self.calls.append(call)
            call.response = self._respond(method, args)
            return 200, call.response, None

    def _respond(self, method: str, args: dict) -> dict:
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER, "bot_id": BOT_ID, "team_id": TEAM, "user": "ragbot", "team": "Test"}
        if method == "chat.postMessage":
            ts = f"{time.time():.0f}.{next(self._ts):06d}"  # Slack's ts is the posting time
            message = {"type": "message", "ts": ts, "text": args.get("text"), "bot_id": BOT_ID, "channel": args.get("channel")}
            if args.get("thread_ts"):
                message["thread_ts"] = args["thread_ts"]
            if args.get("metadata"):
                message["metadata"] = args["metadata"]
            self.messages.append(message)
            return {"ok": True, "channel": args.get("channel"), "ts": ts, "message": {}}
        if method in ("conversations.replies", "conversations.history"):
            return self._read(method, args)
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url} if self.socket_url else {"ok": False, "error": "invalid_auth"}
        if method == "users.info":
            user = self.users.get(args.get("user"), {"id": args.get("user"), "team_id": TEAM, "is_admin": False, "is_owner": False})
            return {"ok": True, "user": user}
        return {"ok": True, "ts": args.get("ts")}

    def _read(self, method: str, args: dict) -> dict:
        """A channel's messages (newest first) or a thread's (parent first), after ``oldest``; the
        metadata only with ``include_all_metadata``, like Slack."""
        channel, oldest = args.get("channel"), float(args.get("oldest") or 0)
        if method == "conversations.replies":
            found = [m for m in self.messages if m["channel"] == channel and args.get("ts") in (m["ts"], m.get("thread_ts"))]
        else:
            found = [m for m in reversed(self.messages) if m["channel"] == channel and m.get("thread_ts") in (None, m["ts"])]
        inclusive = str(args.get("inclusive")).lower() in ("1", "true")
        latest = float(args.get("latest") or "inf")
        found = [m for m in found if (oldest <= float(m["ts"]) <= latest if inclusive else oldest < float(m["ts"]) < latest)]
        if str(args.get("include_all_metadata")).lower() not in ("1", "true"):
            found = [{k: v for k, v in m.items() if k != "metadata"} for m in found]
        limit, start = int(args.get("limit") or 100), int(args.get("cursor") or 0)
        page = found[start:start + limit]
        more = start + limit < len(found)
        return {"ok": True, "messages": page, "has_more": more, "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def said(self, event: dict) -> None:
        """Slack holds a person's message (an event's ``text``) for conversations.* to read back."""
        with self._lock:
            self.messages.append({k: event[k] for k in ("type", "subtype", "ts", "text", "user", "bot_id", "channel", "thread_ts", "attachments") if k in event})
            self.messages.sort(key=lambda m: float(m["ts"]))

    def fail(self, method: str, times: int = 1, status: int = 500, when: Callable[[dict], bool] = lambda args: True, retry_after: int | None = None,
             error: str = "internal_error", took_effect: bool = False) -> None:
        """The next ``times`` calls of ``method`` fail; Slack's own refusals are HTTP 200 with an ``error`` code.
        ``took_effect``: the call did its work all the same (a post that landed, then a 5xx)."""
        with self._lock:
            self.failures.append(Failure(method, times, status, error=error, when=when, retry_after=retry_after, took_effect=took_effect))

    def find(self, method: str, **match: Any) -> list[Call]:
        with self._lock:
            calls = list(self.calls)
        return [c for c in calls if c.method == method and all(c.args.get(k) == v for k, v in match.items())]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0, **match: Any) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.find(method, **match)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"expected {count} {method} {match}, saw {[c.method for c in self.calls]}")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def sign(body: str, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Response:
    status: int
    body: str
    seconds: float

    def json(self) -> dict:
        return json.loads(self.body)


class SlackClientSim:
    """Sends what Slack would send to ``/slack/events``: events, slash commands, interactivity."""

    def __init__(self, base_url: str, secret: str = SECRET, timeout: float = 10.0) -> None:
        self.url = base_url.rstrip("/") + "/slack/events"
        self.timeout = timeout
        self.secret = secret
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)

    def post(self, body: str, content_type: str, headers: dict[str, str] | None = None, signed: bool = True, timestamp: int | None = None) -> Response:
        all_headers = {"Content-Type": content_type, **(sign(body, timestamp, self.secret) if signed else {}), **(headers or {})}
        request = urllib.request.Request(self.url, data=body.encode(), headers=all_headers, method="POST")
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Response(response.status, response.read().decode(), time.perf_counter() - started)
        except urllib.error.HTTPError as error:
            return Response(error.code, error.read().decode(), time.perf_counter() - started)

    def next_ts(self) -> str:
        return f"1600000000.{next(self._ts):06d}"

    def event(self, event: dict, *, event_id: str | None = None, retry: int | None = None, envelope: dict | None = None, **kwargs: Any) -> tuple[Response, str]:
        """``envelope``: more outer fields, e.g. ``is_ext_shared_channel`` (Slack Connect)."""
        event_id = event_id or f"Ev{next(self._ids):08d}"
        envelope = {"token": "x", "team_id": TEAM, "api_app_id": "A1", "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
                    "event": event, "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}], **(envelope or {})}
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return self.post(json.dumps(envelope), "application/json", headers=headers, **kwargs), event_id

    def mention(self, text: str, *, user: str = "UASKER", channel: str = "C1", ts: str | None = None, thread_ts: str | None = None, **kwargs: Any) -> tuple[Response, dict]:
        event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {text}", "channel": channel, "ts": ts or self.next_ts(), "team": TEAM}
        if thread_ts:
            event["thread_ts"] = thread_ts
        response, _ = self.event(event, **kwargs)
        return response, event

    def message(self, text: str, *, user: str = "UASKER", channel: str = "C1", channel_type: str = "channel", thread_ts: str | None = None, **extra: Any) -> tuple[Response, dict]:
        event = {"type": "message", "user": user, "text": text, "channel": channel, "channel_type": channel_type, "ts": self.next_ts(), "team": TEAM, **extra}
        if thread_ts:
            event["thread_ts"] = thread_ts
        response, _ = self.event(event)
        return response, event

    def command(self, text: str, *, user: str = "UADMIN", channel: str = "C1") -> Response:
        form = {"token": "x", "team_id": TEAM, "channel_id": channel, "user_id": user, "command": "/ragbot", "text": text,
                "response_url": "http://127.0.0.1:9/unused", "trigger_id": "trig.1"}
        return self.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded")

    def interact(self, payload: dict) -> Response:
        payload = {"team": {"id": TEAM}, "api_app_id": "A1", "token": "x", **payload}
        return self.post(urllib.parse.urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def press(self, action_id: str, value: str, *, user: str, channel: str, message_ts: str, thread_ts: str | None = None, parent_user: str | None = None) -> Response:
        message = {"type": "message", "ts": message_ts, **({"thread_ts": thread_ts} if thread_ts else {}), **({"parent_user_id": parent_user} if parent_user else {})}
        return self.interact({
            "type": "block_actions", "user": {"id": user}, "channel": {"id": channel}, "trigger_id": "trig.2",
            "container": {"type": "message", "channel_id": channel, "message_ts": message_ts}, "message": message,
            "actions": [{"type": "button", "action_id": action_id, "value": value, "block_id": "b", "action_ts": "1"}],
        })

    def submit_view(self, callback_id: str, private_metadata: str, values: dict, *, user: str) -> Response:
        return self.interact({"type": "view_submission", "user": {"id": user}, "trigger_id": "trig.3",
                              "view": {"id": "V1", "type": "modal", "callback_id": callback_id, "private_metadata": private_metadata, "state": {"values": values}}})


# --- a deterministic pipeline from the real stages ---------------------------------------------
KNOWLEDGE = {
    "vpn": ("VPN guide", "https://wiki.example.com/vpn", 0.9, "Connect with GlobalProtect to vpn.example.com [1]."),
    "laptop": ("Laptops", "handbook/laptops.md", 0.6, "Order a laptop through the IT portal [1]."),
    "expenses": ("Expenses", "handbook/expenses.md", 0.42, "Expenses are probably filed in Concur [1]."),
}


class KeywordRetriever:
    """Hits for the first keyword in the query; the cosine is fixed per topic."""

    def search(self, query: str, *, k: int, alpha: float) -> list[Hit]:
        for word, (title, location, cosine, _) in KNOWLEDGE.items():
            if word in query.lower():
                chunk = Chunk(chunk_id=word, doc_id=word, title=title, location=location, text=title, parent_id=word, parent_text=f"{title} text")
                return [Hit(chunk=chunk, score=1.0, cosine=cosine)]
        return []


class CosineRelevance:
    def relevance(self, query: str, hits: list[Hit]) -> float:
        return max(hit.cosine or 0.0 for hit in hits)


class TopicGenerator:
    def __init__(self) -> None:
        self.histories: list[list[str]] = []

    def generate(self, question, passages, *, history=None):
        self.histories.append(list(history or []))
        for word, (*_, text) in KNOWLEDGE.items():
            if word in question.lower() or any(word in h.lower() for h in history or []):
                if "crash" in question.lower():
                    raise RuntimeError("model crashed")
                return Generation(text=text, model="topic")
        return Generation(text="I don't know.", model="topic")


def simple_pipeline(settings) -> tuple[Pipeline, TopicGenerator]:
    generator = TopicGenerator()
    stages = [InputGuardStage([]), RetrieveStage(KeywordRetriever()), RelevanceGateStage(CosineRelevance()), GenerateStage(generator)]
    return Pipeline(stages, settings), generator
