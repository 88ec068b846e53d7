"""Structured logs: one processor chain for our own structlog calls and for stdlib loggers (uvicorn, ccxt).

Both paths end in the same `ProcessorFormatter`, so a line from uvicorn looks like a line from the
bot and, more importantly, passes the same redaction. Redaction runs last, after exceptions have been
rendered to text, because a secret most often leaks through an exception message or a URL with a
`signature=` parameter, not through a field someone named `api_secret`.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import sys
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

REDACTED = "**********"
#: A name (a field, a query or form parameter, a JSON key, a header) holds a credential when its last word is one of
#: these (`api_secret`, `QT_API_TOKEN`, `X-MBX-APIKEY`, `signature`) or its last two words are a pair below
#: (`api_key`, `apiKey`, `listenKey`). Whole words, not substrings: the rule used to be "contains token/secret...",
#: which masked `max_tokens`-like names and a flag such as `secret_set=True` for no reason.
SECRET_WORDS = frozenset({"secret", "token", "password", "passwd", "signature", "authorization", "apikey"})
SECRET_PAIRS = frozenset({("api", "key"), ("listen", "key"), ("secret", "key"), ("private", "key"),
                          ("access", "key")})
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_VALUE = r"(?P<value>[^\s&\"',;)}]+)"
#: `name=value`: query strings (`signature=...`), form bodies, `KEY=value` lines, keyword arguments in a repr.
ASSIGNED = re.compile(r"(?<![\w.-])(?P<name>[A-Za-z][\w.-]*)(?P<sep>=[\"']?)" + _VALUE)
#: `"name": "value"` and `'name': 'value'`: JSON bodies (`{"listenKey":"..."}`) and dict reprs (ccxt's headers).
QUOTED = re.compile(r"(?P<q>[\"'])(?P<name>[A-Za-z][\w.-]*)(?P=q)(?P<sep>\s*:\s*[\"']?)" + _VALUE)
#: `name: value` unquoted: a header (`X-MBX-APIKEY: ...`, `Authorization: Bearer ...`) or a YAML-like line. Prose
#: says "QT_API_SECRET: the exchange refused them" too, so apart from a header only a value that looks like a
#: credential is masked here (`_mask_bare`).
BARE = re.compile(r"(?<![\w.-])(?P<name>[A-Za-z][\w.-]*)(?P<sep>:[ \t]*(?:(?i:bearer|basic)[ \t]+)?)" + _VALUE)
HEADERS = frozenset({"authorization", "x-mbx-apikey"})
#: `Bearer <token>` anywhere; the token must look like one (`the bearer token for the API` is prose).
BEARER = re.compile(r"(?P<sep>(?i:bearer)\s+)(?P<value>(?=[^\s\"',;)}]*[^a-z\s\"',;)}])[^\s\"',;)}]{6,})")
#: The simulated clock (epoch ms) of the run this context belongs to, if any: a backtest sets it, so its log lines
#: also say when in the data they happened (`sim_time`); their own timestamp is the wall clock's, which put an
#: "emergency exit" of February 2026 at the day the backtest ran.
SIMULATED_NOW: ContextVar[Callable[[], int] | None] = ContextVar("qt_simulated_now", default=None)
STDLIB_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "fastapi", "ccxt", "httpx", "aiohttp")


@functools.lru_cache(maxsize=1024)
def is_secret_name(name: str) -> bool:
    """True when a value under this name is a credential (see `SECRET_WORDS`)."""
    words = [word.lower() for word in _WORDS.findall(name)]
    return bool(words) and (words[-1] in SECRET_WORDS or tuple(words[-2:]) in SECRET_PAIRS)


def secret_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern for every known secret value, longest first (a secret that contains another goes whole). A
    secret made of digits alone (a Telegram chat id, a Discord webhook id) matches only where no digit is next
    to it: it used to be replaced inside any longer number, an order id, a `tranId`, an epoch time."""
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)
    parts = [rf"(?<!\d){re.escape(s)}(?!\d)" if s.isdigit() else re.escape(s) for s in ordered]
    return re.compile("|".join(parts)) if parts else None


def _mask_named(match: re.Match[str]) -> str:
    """The match with its value masked when its name is a credential's, else unchanged."""
    if not is_secret_name(match.group("name")):
        return match.group(0)
    return match.group(0)[:match.start("value") - match.start(0)] + REDACTED


def _mask_bare(match: re.Match[str]) -> str:
    """`_mask_named` for `name: value`: a header's value always, else one with a digit, a capital or a symbol in
    it, or of 16 characters and more; never a lower-case word."""
    value = match.group("value")
    if match.group("name").lower() not in HEADERS and value.isalpha() and value.islower() and len(value) < 16:
        return match.group(0)
    return _mask_named(match)


class Redactor:
    """Masks the configured secret values wherever they appear, and the value of anything named like a credential
    (a field, a `name=value` pair, a JSON key, a header): exactly those, so an order id, a symbol, a client id,
    a price or a log level reads as it is."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = secret_pattern(secrets)

    def __call__(self, logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        return {key: self._field(key, value) for key, value in event.items()}

    def _field(self, key: object, value: Any) -> Any:
        if (isinstance(key, str) and is_secret_name(key) and value is not None and value != ""
                and not isinstance(value, bool)):  # a flag saying whether one is set is no secret
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
        if self.secrets is not None:
            text = self.secrets.sub(REDACTED, text)
        text = ASSIGNED.sub(_mask_named, QUOTED.sub(_mask_named, text))
        text = BARE.sub(_mask_bare, text)
        return BEARER.sub(lambda m: m.group("sep") + REDACTED, text)


#: The redactor `configure_logging` last installed, with the process's secrets: the journal's errors and the
#: alerts built from them pass through it too (`scrub`), not only the log lines.
_ACTIVE: list[Redactor] = [Redactor()]


def scrub(text: str) -> str:
    """`text` with the process's secrets masked, as a log line would show it."""
    return _ACTIVE[0].text(text)


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
    _ACTIVE[0] = redactor
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
