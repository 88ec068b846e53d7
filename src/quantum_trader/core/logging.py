"""Structured logs: one processor chain for our own structlog calls and for stdlib loggers (uvicorn, ccxt).

Both paths end in the same `ProcessorFormatter`, so a line from uvicorn looks like a line from the
bot and, more importantly, passes the same redaction. Redaction runs last, after exceptions have been
rendered to text, because a secret most often leaks through an exception message or a URL with a
`signature=` parameter, not through a field someone named `api_secret`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

REDACTED = "**********"
SENSITIVE_KEY = re.compile(r"(api[_-]?key|api[_-]?secret|secret|token|password|passwd|signature|authorization)",
                           re.IGNORECASE)
#: `signature=abc`, `"apiKey": "abc"`, `Authorization: Bearer abc` inside free text.
SENSITIVE_TEXT = re.compile(
    r"(?P<key>(?:api[_-]?key|apikey|api[_-]?secret|secret|token|password|signature)[\"']?\s*[=:]\s*[\"']?"
    r"|bearer\s+)(?P<value>[^\s&\"',}]+)", re.IGNORECASE)
#: The simulated clock (epoch ms) of the run this context belongs to, if any: a backtest sets it, so its log lines
#: also say when in the data they happened (`sim_time`); their own timestamp is the wall clock's, which put an
#: "emergency exit" of February 2026 at the day the backtest ran.
SIMULATED_NOW: ContextVar[Callable[[], int] | None] = ContextVar("qt_simulated_now", default=None)
STDLIB_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "fastapi", "ccxt", "httpx", "aiohttp")


class Redactor:
    """Replaces known secret values and sensitive-looking fields everywhere in an event dict."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        return {key: self._field(key, value) for key, value in event.items()}

    def _field(self, key: object, value: Any) -> Any:
        if isinstance(key, str) and SENSITIVE_KEY.search(key) and value not in (None, "", False):
            return REDACTED
        return self.value(value)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self._field(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        if isinstance(value, set | frozenset):
            return sorted(str(self.value(v)) for v in value)
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self.text(str(value))  # exceptions, Secrets, paths: whatever the renderer would print

    def text(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return SENSITIVE_TEXT.sub(lambda m: m.group("key") + REDACTED, text)


def add_simulated_time(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """`sim_time`: the simulated clock's time, ISO 8601 UTC, in a context that has one (`SIMULATED_NOW`)."""
    now = SIMULATED_NOW.get()
    if now is not None:
        event["sim_time"] = dt.datetime.fromtimestamp(now() / 1000, dt.UTC).isoformat(timespec="seconds")
    return event


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        add_simulated_time,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def line_buffered(*streams: object) -> None:
    """Flush `streams` at every newline when they are not a terminal. Python block-buffers stdout written
    to a file or pipe (systemd, a supervisor's log file), so without this a `kill -9` or a crash loses
    the lines already printed, which are the ones that explain what the process was doing. (stderr is
    written through already, and our handler flushes each record; this covers anything else printed.)"""
    for stream in streams:
        reconfigure = getattr(stream, "reconfigure", None)
        try:
            if callable(reconfigure) and not getattr(stream, "isatty", lambda: True)():
                reconfigure(line_buffering=True)
        except (OSError, ValueError):  # closed or detached: nothing to buffer
            continue


class _StderrNow(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever `sys.stderr` is when a line is logged, not to the one it was when logging was
    configured: a command run in process by a test (typer's CliRunner swaps stderr for a buffer it then closes)
    would otherwise leave every later log line failing with "I/O operation on closed file"."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """`StreamHandler` sets it; the stream is always the current stderr."""


def configure_logging(json: bool, level: str = "INFO", secrets: Iterable[str] = (), *,
                      stream: TextIO | None = None) -> Redactor:
    """Route structlog and stdlib logging through one chain ending in JSON lines or a console renderer.

    `stream` defaults to stderr (stdout is reserved for `--json` documents). Returns the redactor so
    callers can scrub text they print themselves (e.g. an error line on stderr).
    """
    line_buffered(sys.stdout, sys.stderr, stream)
    redactor = Redactor(secrets)
    shared = _shared_processors()
    renderer: Processor = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(
        colors=(stream or sys.stderr).isatty(), exception_formatter=structlog.dev.plain_traceback)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, redactor, renderer])
    handler: logging.Handler = _StderrNow() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in STDLIB_LOGGERS:  # uvicorn installs its own handlers; send everything through ours
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.processors.StackInfoRenderer(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        # Calls below the level return at once (a backtest at WARNING skips every per-order info line's
        # processors: a few per cent of its time); the stdlib filter still applies to the rest.
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=False,
    )
    return redactor
