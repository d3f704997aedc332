"""The HTTP side: Bolt's ``/slack/events`` (events, slash commands, interactivity) as a WSGI
app on a threaded stdlib server. Extra GET routes (``/metrics``, ``/health``, ``/ready``)
plug in through ``extra_routes`` without touching the Slack path."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"

# path -> (status, content type, body) or None when the path is not handled
ExtraRoutes = Callable[[str], "tuple[int, str, bytes] | None"]
WsgiApp = Callable[[dict, Callable], Iterable[bytes]]

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 413: "Payload Too Large", 503: "Service Unavailable"}
MAX_BODY_BYTES = 1 << 20  # Slack's events and payloads are a few KB; anything near this is not Slack
READ_TIMEOUT_S = 10  # a client that stops sending (or never sends the body it announced) is dropped
REQUEST_DEADLINE_S = 30  # ... and one that keeps sending a byte now and then (slow-loris): Slack gives up after 3 s
MAX_CONNECTIONS = 256  # connections served at once; more are closed at once rather than queued behind them


def _plain(start_response: Callable, status: int, text: str) -> list[bytes]:
    body = text.encode()
    start_response(f"{status} {_REASONS[status]}", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def build_wsgi_app(bolt_app: App, extra_routes: ExtraRoutes | None = None, events_path: str = EVENTS_PATH) -> WsgiApp:
    """One WSGI callable: Bolt for ``events_path``, ``extra_routes`` for other GETs, 404 otherwise."""
    slack = SlackRequestHandler(bolt_app, path=events_path)

    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == events_path:
            length = environ.get("CONTENT_LENGTH") or "0"
            if not (length.isascii() and length.isdigit()):  # str.isdigit() takes "²", which int() refuses
                return _plain(start_response, 400, "bad Content-Length")
            if int(length) > MAX_BODY_BYTES:
                return _plain(start_response, 413, "request body too large")
            stamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "0")
            if not (stamp.isascii() and stamp.isdigit()):  # Bolt would fail on it with a 500
                return _plain(start_response, 401, "invalid request timestamp")
            try:
                return slack(environ, start_response)
            except Exception as error:  # noqa: BLE001 - Bolt parses the body before it checks the signature
                log.warning("unreadable request to %s refused: %s", events_path, type(error).__name__)
                return _plain(start_response, 400, "unreadable request")
        if extra_routes is not None and environ.get("REQUEST_METHOD") == "GET":
            found = extra_routes(path)
            if found is not None:
                status, content_type, body = found
                start_response(f"{status} {_REASONS.get(status, 'OK')}", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
                return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"Not Found"]

    return wsgi


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """A thread per request: a slow request never delays another's ack. At most
    ``MAX_CONNECTIONS`` at once: a flood of idle connections costs them, not memory."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning("%d connections open; refusing one more from %s", MAX_CONNECTIONS, client_address[0])
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _QuietHandler(WSGIRequestHandler):
    timeout = READ_TIMEOUT_S  # idle or half-sent connections would otherwise hold a thread forever

    def setup(self) -> None:
        super().setup()
        self._deadline = threading.Timer(REQUEST_DEADLINE_S, self._cut)
        self._deadline.daemon = True
        self._deadline.start()

    def _cut(self) -> None:
        """The request took longer than any Slack request can: its connection is closed."""
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def finish(self) -> None:
        self._deadline.cancel()
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's signature
        log.debug("%s %s", self.address_string(), format % args)


class HttpServer:
    """The WSGI app served on ``host:port`` (port 0 picks a free one) in a background thread."""

    def __init__(self, wsgi_app: WsgiApp, host: str = "127.0.0.1", port: int = 3000) -> None:
        self.httpd = make_server(host, port, wsgi_app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        host = self.httpd.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> "HttpServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.1,), name="ragbot-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
