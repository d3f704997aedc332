"""`ragbot serve`: run the Slack bot, over Socket Mode (SLACK_APP_TOKEN) or HTTP (--http)."""

from __future__ import annotations

import logging
import os
import signal
import threading

import typer

from bot.cli.common import check_adapter_or_fail, check_knowledge_base_or_fail, cli_logging, console, fail, settings_or_fail
from bot.cli.main import app
from bot.observability.log_format import first_line
from bot.settings import Settings, shown_url

log = logging.getLogger("ragbot.serve")


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def make_bot(settings: Settings, *, bot_token: str, signing_secret: str | None):
    """The production wiring: real pipeline, state database, salted id hashing, PII redaction."""
    from bot.factory import build_pipeline
    from bot.slack import SlackBot
    from bot.state import open_state

    try:
        state = open_state(settings.effective_database_url)
    except Exception as error:  # noqa: BLE001 - one line, not a traceback
        fail(f"cannot open the bot's database {shown_url(settings.effective_database_url)}: {type(error).__name__}: {first_line(error, 200)}")
    hasher = redactor = answer_screen = None
    try:
        from bot.observability.hashing import IdHasher

        hasher = IdHasher.from_settings(settings, state.db)
    except ImportError:
        log.warning("bot.observability is not available; user and channel ids are hashed without a salt")
    try:
        from guardrails.pii import high_risk_types as answer_screen
        from guardrails.pii import redact as redactor
    except ImportError:
        log.warning("guardrails.pii is not available; stored questions rely on the input checks' redaction only")
    from bot.runtime.wiring import install_serving_parts

    pipeline = build_pipeline(settings)
    parts = install_serving_parts(pipeline, settings, db_engine=state.db.engine, hasher=hasher)  # cache, metrics, log, restartable generator
    try:
        bot = SlackBot(
            settings, pipeline, state, bot_token=bot_token, signing_secret=signing_secret, hasher=hasher, redactor=redactor, answer_screen=answer_screen,
            metrics=parts.metrics
        )
    except Exception as error:  # noqa: BLE001 - e.g. auth.test refusing the token
        fail(f"cannot start the Slack app: {_slack_refusal(error, 'SLACK_BOT_TOKEN')}")
    bot.serving_parts = parts
    return bot


def _slack_refusal(error: BaseException, token_name: str) -> str:
    """Slack's reason in a few words ("Slack refused SLACK_APP_TOKEN (invalid_auth)")."""
    from bot.runtime.resilience import slack_error_code

    reason = slack_error_code(error)
    return f"Slack refused {token_name} ({reason})" if reason else f"{type(error).__name__}: {first_line(error)}"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@app.command()
def serve(
    http: bool = typer.Option(False, "--http", help="Serve Slack's Events API over HTTP instead of Socket Mode."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind with --http (0.0.0.0 to accept from other machines)."),
    port: int = typer.Option(3000, "--port", min=0, max=65535, help="Port to bind with --http."),
) -> None:
    """Answer questions in Slack. Tokens come from SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN."""
    settings = settings_or_fail()
    check_adapter_or_fail(settings)
    check_knowledge_base_or_fail(settings)
    bot_token, signing_secret, app_token = _env("SLACK_BOT_TOKEN"), _env("SLACK_SIGNING_SECRET"), _env("SLACK_APP_TOKEN")
    if not bot_token:
        fail("SLACK_BOT_TOKEN is not set (the xoxb-... token from your Slack app's OAuth & Permissions page)")
    if http and not signing_secret:
        fail("SLACK_SIGNING_SECRET is not set (Basic Information > App Credentials); --http needs it to verify requests")
    if not http and not app_token:
        fail("Socket Mode needs SLACK_APP_TOKEN (an xapp-... token with connections:write); or serve the Events API with --http")
    if not http and not app_token.startswith("xapp-"):
        fail("SLACK_APP_TOKEN must be the app-level token (xapp-..., Basic Information > App-Level Tokens), not a bot or user token")
    cli_logging(settings, level=settings.log_level, fmt="%(asctime)s %(levelname)s %(name)s: %(message)s")  # timestamped
    bot = make_bot(settings, bot_token=bot_token, signing_secret=signing_secret if http else None)
    bot.start_background()
    from bot.runtime.lifecycle import ServingRuntime

    runtime = ServingRuntime(bot, bot.serving_parts, settings)
    server = None
    if http:  # bind first: a start that cannot listen must not take the questions kept by the last one
        from bot.slack import HttpServer, build_wsgi_app

        try:
            server = HttpServer(build_wsgi_app(bot.app, extra_routes=runtime.routes), host, port)
        except OSError as error:
            fail(f"cannot listen on {host}:{port}: {error}")
    # warm-up in the background (/ready), questions kept by the last shutdown, and in Socket Mode a /metrics server
    runtime.start(metrics_server=not http)
    signal.signal(signal.SIGTERM, _interrupt)  # stop like Ctrl-C: finish questions in progress
    try:
        if server is not None:
            console.print(f"ragbot is listening on {server.url}/slack/events (Ctrl-C to stop)", highlight=False)
            server.serve_forever()
        else:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            handler = SocketModeHandler(bot.app, app_token)
            try:  # connect first: "connected" was printed before a rejected token's 40-line traceback
                handler.connect()
            except Exception as error:  # noqa: BLE001 - one line, then the same orderly stop
                fail(f"cannot connect over Socket Mode: {_slack_refusal(error, 'SLACK_APP_TOKEN')}")
            console.print("ragbot is connected over Socket Mode (Ctrl-C to stop)", highlight=False)
            threading.Event().wait()
    except KeyboardInterrupt:
        console.print("stopping: finishing questions in progress (further Ctrl-C/SIGTERM ignored; SIGKILL forces)…", highlight=False)
    finally:
        # a second signal must not cut the shutdown short: the unfinished questions would not be kept
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if server is not None:
            server.httpd.server_close()  # refuse new connections at once rather than let them hang
        runtime.shutdown()  # finish within shutdown_grace_s; keep the rest for the next start
        bot.close(wait=True)
