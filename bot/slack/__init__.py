"""ragbot in Slack: the Bolt app, its listeners, Block Kit, escalations and the HTTP server."""

from bot.slack.app import SlackBot
from bot.slack.server import HttpServer, build_wsgi_app
from bot.slack.worker import QuestionJob, QuestionWorker

__all__ = ["SlackBot", "HttpServer", "build_wsgi_app", "QuestionJob", "QuestionWorker"]
