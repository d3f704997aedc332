"""The OpenAI-compatible backend against a small local server, and its failure modes."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adapters.base import GeneratorError, GeneratorTimeout, Passage
from adapters.openai_http import OpenAIGenerator
from bot.answer import Outcome
from bot.settings import load_settings
from bot.stages.generate import GenerateStage
from bot.turn import Turn


class FakeServer:
    def __init__(self):
        self.requests = []
        self.delay = 0.0
        self.status = 200
        self.reply_text = "Normandy is in France [1]."
        self.raw: bytes | None = None  # a reply body sent as is (a misbehaving server)
        self.trickle = False  # send the body one byte at a time, 0.1 s apart
        self.redirect_to: str | None = None
        self.busy_times = 0  # answer 429 with Retry-After: 1 this many times first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                time.sleep(outer.delay)
                if outer.busy_times > 0:
                    outer.busy_times -= 1
                    self.send_response(429)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if outer.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", outer.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if outer.raw is not None:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(outer.raw) + (5 if outer.raw == b"CUT" else 0)))
                    self.end_headers()
                    try:
                        for i in range(len(outer.raw)):
                            self.wfile.write(outer.raw[i:i + 1] if outer.trickle else outer.raw[i:] if i == 0 else b"")
                            self.wfile.flush()
                            if outer.trickle:
                                time.sleep(0.1)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                if outer.status != 200:
                    self.send_response(outer.status)
                    self.end_headers()
                    self.wfile.write(b"model overloaded")
                    return
                choice = {"message": {"role": "assistant", "content": outer.reply_text}}
                if body.get("logprobs"):
                    choice["logprobs"] = {"content": [{"token": "Normandy", "logprob": -0.1}, {"token": " is", "logprob": -0.5}]}
                payload = {"model": body["model"], "choices": [choice], "usage": {"prompt_tokens": 42, "completion_tokens": 7}}
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except BrokenPipeError:  # the client gave up (the timeout test)
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.httpd.shutdown()


def settings_for(tmp_path, url, **extra):
    return load_settings(data_dir=tmp_path, generator_backend="openai", openai_base_url=url, openai_model="smol", **extra)


def test_sends_the_ragbot_prompt_and_reads_the_reply(server, tmp_path):
    generator = OpenAIGenerator(settings_for(tmp_path, server.url, openai_api_key="sk-test"))
    result = generator.generate("Where is Normandy?", [Passage(1, "Normans", "Normandy is in France.")])
    assert result.text == "Normandy is in France [1]."
    assert (result.prompt_tokens, result.completion_tokens, result.model) == (42, 7, "smol")
    sent = server.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["auth"] == "Bearer sk-test"
    assert "[1] Normans" in sent["body"]["messages"][1]["content"]
    assert sent["body"]["temperature"] == 0.0


def test_logprobs_are_asked_for_only_when_min_answer_logprob_uses_them(server, tmp_path):
    passages = [Passage(1, "Normans", "Normandy is in France.")]
    plain = OpenAIGenerator(settings_for(tmp_path, server.url)).generate("Where is Normandy?", passages)
    assert "logprobs" not in server.requests[-1]["body"] and plain.mean_logprob is None
    scored = OpenAIGenerator(settings_for(tmp_path, server.url, min_answer_logprob=-0.3)).generate("Where is Normandy?", passages)
    assert server.requests[-1]["body"]["logprobs"] is True and scored.mean_logprob == -0.3


def test_an_adapter_is_sent_as_the_model_name(server, tmp_path):
    generator = OpenAIGenerator(settings_for(tmp_path, server.url))
    result = generator.generate("q?", [], settings=settings_for(tmp_path, server.url, adapter="squad-r8"))
    assert server.requests[0]["body"]["model"] == "squad-r8" and result.adapter == "squad-r8"


def test_unreachable_server_is_a_clear_generator_error(tmp_path):
    generator = OpenAIGenerator(settings_for(tmp_path, "http://127.0.0.1:9/v1"))
    with pytest.raises(GeneratorError, match="unreachable"):
        generator.generate("q?", [])


def test_http_errors_and_timeouts_are_generator_errors(server, tmp_path):
    server.status = 503
    with pytest.raises(GeneratorError, match=r"HTTP 503 \(http://127.0.0.1:\d+/v1\): model overloaded"):
        OpenAIGenerator(settings_for(tmp_path, server.url)).generate("q?", [])
    server.status, server.delay = 200, 1.5
    started = time.monotonic()
    with pytest.raises(GeneratorTimeout, match="did not answer within"):
        OpenAIGenerator(settings_for(tmp_path, server.url, generation_timeout_s=0.3)).generate("q?", [])
    assert time.monotonic() - started < 1.4


def test_the_pipeline_stage_falls_back_politely_when_the_server_is_down(tmp_path):
    settings = settings_for(tmp_path, "http://127.0.0.1:9/v1")
    turn = Turn(question="Where is Normandy?", settings=settings)
    turn.query = turn.question
    turn.passages = [Passage(1, "Normans", "Normandy is in France.")]
    GenerateStage(OpenAIGenerator(settings)).run(turn)
    assert turn.stopped and turn.outcome is Outcome.FALLBACK and turn.escalate
    assert "unreachable" in turn.escalation_reason


def _reply(content, **extra) -> bytes:
    return json.dumps({"choices": [{"message": {"content": content}}], **extra}).encode()


@pytest.mark.parametrize(
    "raw, expected",
    [
        (b"CUT", "reply broken"),  # the connection closes before Content-Length bytes
        ("{\"choices\": \"caf\u00e9\"}".encode("latin-1"), "invalid JSON"),
        (_reply(42), "unexpected reply"),
        (_reply({"text": "hi"}), "unexpected reply"),
    ],
)
def test_a_misbehaving_server_is_a_one_line_generator_error(server, tmp_path, raw, expected):
    server.raw = raw
    with pytest.raises(GeneratorError, match=expected) as raised:
        OpenAIGenerator(settings_for(tmp_path, server.url)).generate("q?", [])
    assert "\n" not in str(raised.value) and str(raised.value).startswith("generator server")


def test_content_parts_and_odd_usage_are_read(server, tmp_path):
    server.raw = _reply([{"type": "text", "text": "Normandy is "}, {"type": "text", "text": "in France [1]."}], usage={"prompt_tokens": "n/a"})
    result = OpenAIGenerator(settings_for(tmp_path, server.url)).generate("q?", [])
    assert result.text == "Normandy is in France [1]." and result.prompt_tokens == 0


def test_a_trickling_body_is_cut_off_at_the_timeout(server, tmp_path):
    server.raw, server.trickle = _reply("x" * 200), True  # ~25 s at 0.1 s a byte
    started = time.monotonic()
    with pytest.raises(GeneratorTimeout):
        OpenAIGenerator(settings_for(tmp_path, server.url, generation_timeout_s=1)).generate("q?", [])
    assert time.monotonic() - started < 3


def test_redirects_are_not_followed_so_the_key_stays_with_the_server(server, tmp_path):
    other = FakeServer()
    try:
        server.redirect_to = other.url + "/chat/completions"
        with pytest.raises(GeneratorError, match="HTTP 302 .*not followed"):
            OpenAIGenerator(settings_for(tmp_path, server.url, openai_api_key="sk-secret")).generate("q?", [])
        assert other.requests == []
    finally:
        other.httpd.shutdown()


def test_server_url_is_checked_at_start_up(tmp_path):
    from bot.settings import SettingsError

    for url, message in (("http://admin:hunter2@127.0.0.1:9/v1", "must not carry a user or password"), ("not a url", "is not an http"),
                         (None, "openai_base_url is not set")):
        with pytest.raises(SettingsError, match=message) as raised:
            settings_for(tmp_path, url)
        assert "hunter2" not in str(raised.value)


def test_an_over_long_draft_is_cut(server, tmp_path):
    server.reply_text = "word " * 20000
    result = OpenAIGenerator(settings_for(tmp_path, server.url, max_new_tokens=10)).generate("q?", [])
    assert len(result.text) <= 160


def test_a_busy_server_is_retried_once_after_its_short_retry_after(server, tmp_path):
    server.busy_times = 1
    result = OpenAIGenerator(settings_for(tmp_path, server.url, generation_timeout_s=5)).generate("q?", [])
    assert result.text == "Normandy is in France [1]." and len(server.requests) == 2
    server.busy_times = 2
    with pytest.raises(GeneratorError, match="HTTP 429"):
        OpenAIGenerator(settings_for(tmp_path, server.url, generation_timeout_s=5)).generate("q?", [])
    server.busy_times = 1
    with pytest.raises(GeneratorError, match="HTTP 429"):  # the wait does not fit the deadline
        OpenAIGenerator(settings_for(tmp_path, server.url, generation_timeout_s=1.5)).generate("q?", [])
