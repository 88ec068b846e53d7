"""What each setting allows, and the checks of the values a type alone cannot express.

Split from settings.py so the model reads as a list of fields; the error lines a user sees are built
from `HINTS` (what is allowed) and the messages these checks raise.
"""

from __future__ import annotations

import ipaddress
import math
import re
from urllib.parse import urlsplit

from ..domain.kline_source import kline_paths

MASK = "**********"
TRUE_WORDS, FALSE_WORDS = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,30}\Z")
INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w")
#: The most of equity one trade may lose at its stop. 100 would stake the whole account on one stop fill
#: (and a gap through the stop loses more); 10 already means ten losses in a row leave ~35 % of equity.
MAX_RISK_PER_TRADE_PCT = 10
#: A take-profit's distance from the entry (QT_TAKE_PROFIT_PCT, and `--param`/`--grid take_profit_pct`, which
#: read this one bound) is above 0 and below this, % of the entry price. One setting serves both sides: a long's
#: take-profit could be 100 % above its entry or more, but a short's 100 % below it would be at a price of 0 (the
#: engine places it at entry × (1 - pct / 100)), which no exchange takes.
TAKE_PROFIT_PCT_BELOW = 100
#: The largest simulated wallet (QT_SIM_BALANCE; the CLI's `--balance` has the same cap): far above any real
#: account, and small enough that a balance times leverage 125, to 8 decimals, stays within Decimal's 28 digits
#: (a wallet of 1e400 was accepted, and no quantity or P&L derived from it can be rounded to its step).
MAX_SIM_BALANCE = 10**12
#: QT_MONITOR_INTERVAL's upper bound: the software stop waits two intervals, so an hour already leaves a
#: position without its last line of defence for two hours (larger values only ever mean "no monitor").
MAX_MONITOR_INTERVAL_S = 3600
#: QT_COOLDOWN_S's upper bound: a week; longer is no pause but a symbol struck from the list, which is what
#: QT_SYMBOLS is for.
MAX_COOLDOWN_S = 7 * 86_400

#: What is allowed, appended to each error line in parentheses.
HINTS: dict[str, str] = {
    "paper_trading": "true: orders only reach a simulator; false: live trading",
    "staging_mode": "true: dry run, orders are journaled but never sent",
    "exchange": "'sim' or a base URL such as https://fapi.binance.com or http://127.0.0.1:8090",
    "feed": "'synthetic', 'replay:PATH' to a kline CSV/ZIP file, a folder of them or a glob, or 'exchange'",
    "symbols": "a positive count such as 222, or a comma list such as BTCUSDT,ETHUSDT",
    "strategy": "ai-scanner trades the model's signals, sma-cross a moving-average cross, manual only forced entries",
    "api_key": "the exchange API key", "api_secret": "the exchange API secret",
    "api_token": "the bearer token for the bot's API (every endpoint but /health when set)",
    "api_public_reads": "true: positions, P&L, /docs and /metrics are served without a token, on purpose",
    "db_url": "an SQLAlchemy URL: sqlite:///./data/quantum_trader.db or postgresql://user:pass@host/db",
    "api_host": "a host name or IP address, e.g. 127.0.0.1, or 0.0.0.0 with QT_API_TOKEN set",
    "api_port": "a TCP port, 1 to 65535, or 0 for any free port",
    "max_positions": "a whole number of positions, at least 1",
    "live_max_positions": "a whole number of positions, at least 1; readiness wants at most 2",
    "stop_loss_pct": "a percentage of price, e.g. 2.0",
    "take_profit_pct": f"a percentage of price, e.g. 4.0; above 0 and below {TAKE_PROFIT_PCT_BELOW}, since a "
                       f"short's take-profit {TAKE_PROFIT_PCT_BELOW} % below the entry would be at a price of 0",
    "risk_per_trade_pct": f"a percentage of equity, e.g. 1.0; capped at {MAX_RISK_PER_TRADE_PCT} so one stop-out "
                          "cannot cost more than a tenth of the account",
    "leverage": "a whole number from 1 to 125",
    "min_confidence": "a probability from 0 to 1, e.g. 0.65",
    "monitor_interval": f"seconds between monitor sweeps, above 0 and at most {MAX_MONITOR_INTERVAL_S}, e.g. 1.0",
    "reconcile_interval": "seconds from 0 to 300 between full REST readings while the user-data stream is up, "
                          "e.g. 3",
    "startup_patience_s": "seconds from 1 to 86400 start-up waits for an exchange that is down, e.g. 300",
    "weight_budget_pct": "a percentage of the exchange's request-weight limit, above 0 and at most 90, e.g. 50",
    "order_entry_pct": "a percentage of the exchange's order-rate limits, above 0 and at most 100, e.g. 80",
    "daily_loss_limit_pct": "a percentage of equity at the UTC day's start, e.g. 5.0",
    "ws_url": "a websocket base URL without path such as wss://fstream.binance.com or ws://127.0.0.1:8090; "
              "unset derives it from QT_EXCHANGE",
    "feed_max_streams": "a whole number of streams per connection from 2 to 1024, Binance's cap; Binance "
                        "advises 200",
    "feed_grace_s": "seconds from 0 to 30 a minute's row waits for a late symbol before REST fills it, e.g. 2",
    "feed_stall_s": "seconds from 2 to 300 of silence before a market stream is reopened (its heartbeat comes "
                    "every second), e.g. 10",
    "speed": "'max' or a positive factor of simulated time, e.g. 1 or 60",
    "duration": "seconds of wall time before a clean stop, e.g. 3600",
    "log_json": "true for one JSON object per log line",
    "log_level": "DEBUG, INFO, WARNING or ERROR",
    "sim_balance": f"USDT in the in-process simulator's wallet, above 0 and at most {MAX_SIM_BALANCE:,}, with at "
                   "most 8 decimals, e.g. 10000",
    "seed": "a whole number, 0 or more",
    "trailing_stop_pct": "a percentage of price below 100, e.g. 1.5; unset for no trailing stop",
    "cooldown_s": f"seconds from 0 to {MAX_COOLDOWN_S}, a week; e.g. 300",
    "ev_full_size_pct": "a percentage of notional above 0 and at most 100, e.g. 0.5; unset for no scaling",
    "interval": "one of " + ", ".join(INTERVALS),
    "readiness_min_trades": "a whole number of closed paper trades, at least 1",
    "notify_urls": "comma-separated apprise URLs such as tgram://BOT_TOKEN/CHAT_ID, ntfy://ntfy.sh/TOPIC or "
                   "json://host:port/path",
}


def parse_bool(value: object) -> object:
    """Only the six words a user would write; pydantic's extra spellings (on, t, y...) hide typos."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise ValueError("must be one of true, false, 1, 0, yes, no")


def _base_url(text: str, schemes: tuple[str, ...], wrong_scheme: str) -> str:
    """A base URL (paths are added to it) of one of `schemes`, without its trailing slash."""
    parts = urlsplit(text)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(wrong_scheme)
    if parts.path.strip("/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must be a base URL without path, query or credentials")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return text.rstrip("/")


def check_exchange(value: str) -> str:
    text = value.strip()
    if text.lower() == "sim":
        return "sim"
    return _base_url(text, ("http", "https"), "is neither 'sim' nor an http(s) URL")


def check_ws_url(value: str | None) -> str | None:
    """A websocket base (the streams' paths are added to it), or None: derive it from QT_EXCHANGE."""
    if value is None:
        return None
    return _base_url(value.strip(), ("ws", "wss"), "is not a ws:// or wss:// URL")


def check_feed(value: str) -> str:
    text = value.strip()
    if text.lower() in ("synthetic", "exchange"):
        return text.lower()
    if text.lower().startswith("replay:"):
        path = text[len("replay:"):]
        if not path:
            raise ValueError("replay needs a path after 'replay:'")
        try:
            kline_paths(path)
        except ValueError as exc:
            raise ValueError(f"replay path {exc}") from None
        return "replay:" + path
    raise ValueError("is not a known feed")


def check_symbols(value: str) -> str:
    text = value.strip()
    if text.isdigit():
        if int(text) < 1:
            raise ValueError("must be a positive count")
        return str(int(text))
    names = [part.strip().upper() for part in text.split(",")]
    bad = [name for name in names if not SYMBOL_PATTERN.match(name)]
    if bad:
        raise ValueError(f"{', '.join(repr(b) for b in bad)} is not a symbol (2 to 30 letters or digits)")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)} listed more than once")
    return ",".join(names)


#: A SQLite file or in-memory URL (`sqlite:///PATH`, `sqlite+DRIVER://`): SQLAlchemy's URL pattern reads
#: it as the backend `sqlite` and a database path, with no user, password, host or port, so it always parses.
SQLITE_FILE_URL = re.compile(r"sqlite(?:\+\w+)?://(?:/[^?]*)?")


def _db_url_parts(text: str) -> tuple[str, str]:
    """(backend name, the URL with its password as ***), or ValueError if it does not parse.

    SQLAlchemy is imported here, not at module level: it costs 0.2-0.3 s, and every command that reads
    its settings (a backtest, each sweep worker) would pay it without touching a database.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(text)
        return url.get_backend_name(), url.render_as_string(hide_password=True)
    except ArgumentError:
        raise ValueError("is not an SQLAlchemy URL") from None


def _db_backend(text: str) -> str:
    """The URL's backend name, or ValueError if it does not parse. A SQLite file URL (the default kind)
    is answered without SQLAlchemy, which would read it the same way (tests/unit/test_db_url_fast_path.py)."""
    return "sqlite" if SQLITE_FILE_URL.fullmatch(text) else _db_url_parts(text)[0]


def check_db_url(value: str) -> str:
    try:
        backend = _db_backend(value.strip())
    except ValueError:
        raise ValueError("is not an SQLAlchemy URL") from None
    if backend == "postgres":
        raise ValueError("backend 'postgres' is spelt 'postgresql' in SQLAlchemy")
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"backend {backend!r} is not supported (sqlite or postgresql)")
    return value.strip()


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback IP literals (127.0.0.0/8, ::1): only this machine can connect."""
    text = host.strip().strip("[]").lower()
    if text == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def check_api_exposure(host: str, has_token: bool, public_reads: bool) -> None:
    """Refuse an API reachable from the network that would serve the account to anyone.

    Without a token the reads (positions, P&L, trades, /docs, /metrics) answer every caller, so
    binding anything but loopback must be a decision (`QT_API_PUBLIC_READS=true`), not an accident.
    """
    if has_token or public_reads or is_loopback_host(host):
        return
    raise ValueError(f"QT_API_HOST={host} is reachable from the network but QT_API_TOKEN is not set, so positions, "
                     "P&L, /docs and /metrics would be open to anyone: set QT_API_TOKEN to a long random secret "
                     "(e.g. `openssl rand -hex 32`), or QT_API_PUBLIC_READS=true to serve reads without a token "
                     "on purpose, or QT_API_HOST=127.0.0.1")


def check_speed(value: str) -> str:
    text = value.strip().lower()
    if text == "max":
        return text
    try:
        factor = float(text)
    except ValueError:
        raise ValueError("must be 'max' or a number") from None
    if not math.isfinite(factor):  # `inf` and `nan` are above no bound: "greater than 0" misled for them
        raise ValueError("must be a finite number")
    if factor <= 0:
        raise ValueError("must be greater than 0")
    return text


def hide_db_password(url: str) -> str:
    """The URL with its password as ***; a string that does not parse is hidden whole if it has an '@'.
    A SQLite file URL has no password: it is shown as given (and SQLAlchemy is not imported for it)."""
    if SQLITE_FILE_URL.fullmatch(url):
        return url
    try:
        return _db_url_parts(url)[1]
    except ValueError:
        return MASK if "@" in url else url


def split_notify_urls(text: str) -> tuple[str, ...]:
    """QT_NOTIFY_URLS's entries: comma-separated, blanks around them and empty entries ignored."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def redact_unparsed_url(url: str) -> str:
    """A notification URL that could not be read: only its scheme is shown (any other part may be a token)."""
    scheme, sep, _ = url.strip().partition("://")
    return f"{scheme}://{MASK}" if sep and scheme.isascii() and scheme.replace("+", "").isalnum() else MASK


def check_notify_urls(text: str) -> None:
    """Every entry must be a URL apprise can build a sender from; the error names the entry, redacted.

    Apprise is imported here, not at the top: loading its plugins takes a while and only a session
    with alerts needs it."""
    import apprise

    urls = split_notify_urls(text)
    if not urls:
        raise ValueError("has no URL (leave it unset for no alerts)")
    for number, url in enumerate(urls, start=1):
        if apprise.Apprise.instantiate(url) is None:
            raise ValueError(f"entry {number} of {len(urls)} ({redact_unparsed_url(url)}) is not a notification "
                             "URL apprise understands: an unknown scheme, or its token, host or target is missing")
