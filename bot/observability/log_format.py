"""Operator log lines without tracebacks or personal data: an exception is shown as its type
and the first line of its message, redacted (a database error's message can quote the stored
question; a traceback quotes local values). ``log_level = "DEBUG"`` keeps full tracebacks."""

from __future__ import annotations

import logging
from collections.abc import Callable

MAX_ERROR_CHARS = 300


def first_line(error: BaseException, limit: int = MAX_ERROR_CHARS) -> str:
    """An error's message up to its first line break: a database error goes on with the whole
    statement (and, without hide_parameters, the stored values)."""
    return (str(error).strip().splitlines() or [""])[0][:limit]


class OneLineFormatter(logging.Formatter):
    def __init__(self, fmt: str, redactor: Callable[[str], str] | None = None) -> None:
        super().__init__(fmt)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
            record.msg = f"{record.getMessage()}: {type(error).__name__}{self._summary(error)}"
            record.args = None
        return super().format(record)

    def _summary(self, error: BaseException) -> str:
        first = first_line(error)
        if not first:
            return ""
        if self.redactor is not None:
            try:
                first = self.redactor(first)
            except Exception:  # noqa: BLE001 - a log line must not fail, nor leak what it could not check
                return ""
        return f": {first}"


# Libraries whose DEBUG lines carry message bodies or stored rows: slack_sdk logs every Web API
# request body (a relayed human answer as typed) and Socket Mode's incoming events (the raw
# question); SQLAlchemy logs result rows. DEBUG is for ragbot's own decisions, not for these.
QUIET_AT_DEBUG = {"slack_sdk": logging.INFO, "slack_bolt": logging.INFO, "sqlalchemy": logging.WARNING}


def install(level: str, fmt: str, redactor: Callable[[str], str] | None = None, stream=None) -> logging.Handler:
    """The root handler: one line per record unless ``level`` is DEBUG."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(fmt) if level == "DEBUG" else OneLineFormatter(fmt, redactor))
    logging.basicConfig(level=level, handlers=[handler], force=False)
    for name, floor in QUIET_AT_DEBUG.items():
        library = logging.getLogger(name)
        library.setLevel(max(library.getEffectiveLevel(), floor))
    return handler
