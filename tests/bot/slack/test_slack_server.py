"""The HTTP front door refuses what is not Slack before Bolt reads it: no 500s, no hanging threads."""

from __future__ import annotations

import http.client
import socket
import time

import pytest
from slack_bolt import App
from slack_sdk import WebClient

from bot.slack import HttpServer, build_wsgi_app
from bot.slack.server import MAX_BODY_BYTES
from tests.bot.slack.slack_fakes import SECRET


@pytest.fixture
def server(fake_api):
    app = App(client=WebClient(token="xoxb-test", base_url=fake_api.url), signing_secret=SECRET, process_before_response=True,
              request_verification_enabled=True, token_verification_enabled=False)
    running = HttpServer(build_wsgi_app(app), "127.0.0.1", 0).start()
    yield running
    running.stop()


def _post(server, body: bytes, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("POST", "/slack/events")
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders(body)
    status = connection.getresponse().status
    connection.close()
    return status


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b'{"a": ', {"Content-Type": "application/json", "Content-Length": "6"}, 400),  # unsigned, unparsable
        (b"[1]", {"Content-Type": "application/json", "Content-Length": "3"}, 400),
        (b"{}", {"Content-Type": "application/json", "Content-Length": "abc"}, 400),
        (b"", {"Content-Type": "application/json", "Content-Length": str(MAX_BODY_BYTES + 1)}, 413),  # refused before reading
        (b"{}", {"Content-Type": "application/json", "Content-Length": "2", "X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=0"}, 401),
        (b"{}", {"Content-Type": "application/json", "Content-Length": "2", "X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=0"}, 401),
        # digits str.isdigit() takes and int() refuses: 500 and 200 before
        (b"{}", {"Content-Type": "application/json", "Content-Length": "\u00b2"}, 400),
        (b"{}", {"Content-Type": "application/json", "Content-Length": "2", "X-Slack-Request-Timestamp": "\u00b2", "X-Slack-Signature": "v0=0"}, 401),
    ],
)
def test_what_is_not_slack_gets_a_4xx_not_a_500(server, body, headers, status):
    assert _post(server, body, headers) == status


def test_a_half_sent_request_does_not_hold_its_thread_forever(server, monkeypatch):
    import bot.slack.server as module

    monkeypatch.setattr(module._QuietHandler, "timeout", 0.5)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{}")
        started = time.monotonic()
        sock.settimeout(5)
        try:
            data = sock.recv(100)
        except (TimeoutError, ConnectionResetError):
            data = b""
        assert time.monotonic() - started < 4 and not data.startswith(b"HTTP/1.1 200")  # closed, not hung


def test_a_client_sending_a_byte_now_and_then_is_cut_off_at_the_deadline(server, monkeypatch):
    """Slow-loris: each read came in under the read timeout, so the connection held a thread for ever."""
    import bot.slack.server as module

    monkeypatch.setattr(module, "REQUEST_DEADLINE_S", 1.0)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\n")
        started, closed = time.monotonic(), False
        while time.monotonic() - started < 6:
            try:
                sock.sendall(b"X-Slow: 1\r\n")
                sock.settimeout(0.3)
                if sock.recv(100) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
        assert closed and time.monotonic() - started < 4


def test_connections_beyond_the_cap_are_closed_at_once(fake_api, monkeypatch):
    import bot.slack.server as module

    monkeypatch.setattr(module, "MAX_CONNECTIONS", 2)
    app = App(client=WebClient(token="xoxb-test", base_url=fake_api.url), signing_secret=SECRET, token_verification_enabled=False)
    capped = HttpServer(build_wsgi_app(app), "127.0.0.1", 0).start()
    held = [socket.create_connection(("127.0.0.1", capped.port)) for _ in range(2)]  # idle: each holds a slot
    try:
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", capped.port)) as extra:
            extra.settimeout(3)
            assert extra.recv(100) == b""  # closed at once, not queued behind the idle ones
        for sock in held:
            sock.close()
        time.sleep(0.5)
        assert _post(capped, b"{}", {"Content-Type": "application/json", "Content-Length": "2"}) in (400, 401)  # served again: slots freed
    finally:
        capped.stop()
