"""ccxt exceptions → the domain error hierarchy, keeping Binance's numeric code.

ccxt raises its own classes (and, against a non-Binance hostname, often a plain `ExchangeError` for
codes it would otherwise map). The bot must branch on Binance's code, so the JSON body embedded in
the exception message is parsed back into `(code, msg)`. Network trouble, 5xx, 429 and 418 (a ban,
kept apart from a 429 by its HTTP status) become `RetryableExchangeError`; an answer with a business
code becomes `OrderRejected`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import aiohttp
import ccxt  # type: ignore[import-untyped]

from ..core.logging import scrub
from ..domain.errors import ExchangeError, OrderRejected, RetryableExchangeError

#: Codes that mean "the request may not have been processed": retry after checking, never give up.
RETRYABLE_CODES = frozenset({-1000, -1001, -1003, -1006, -1007, -1008})
#: Codes about credentials, signatures and clocks: a configuration problem, not a business refusal.
FATAL_CODES = frozenset({-1002, -1021, -1022, -2014, -2015})
UNKNOWN = -1000


class TransientExchangeError(RetryableExchangeError):
    """A retryable failure with the server's `Retry-After` (seconds), when it sent one. `unreachable`: why no
    connection was made at all ("connection refused", "no such host"), else None: nothing is listening there,
    which a caller that never had an answer from the URL takes as a wrong address, not an outage to wait out."""

    def __init__(self, code: int, msg: str, http_status: int, retry_after: float | None = None, *,
                 unreachable: str | None = None) -> None:
        super().__init__(code, msg, http_status)
        self.retry_after = retry_after
        self.unreachable = unreachable


def _cannot_connect(exc: BaseException) -> str | None:
    """Why ccxt's network error came from a connection that was never made (aiohttp's connector errors: refused,
    no such host, no route), found along the exception's causes; None for anything else (a timeout, a 5xx)."""
    seen: BaseException | None = exc.__cause__ or exc.__context__
    for _ in range(5):  # ccxt raises from aiohttp's error, which wraps the OS's
        if seen is None:
            return None
        if isinstance(seen, ConnectionRefusedError) or isinstance(getattr(seen, "os_error", None),
                                                                  ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, aiohttp.ClientConnectorDNSError):
            return "no such host"
        if isinstance(seen, aiohttp.ClientConnectorError):
            return f"cannot connect: {seen.strerror or seen.os_error}"
        seen = seen.__cause__ or seen.__context__
    return None


def body_of(message: str) -> tuple[int, str] | None:
    """The `{"code": .., "msg": ..}` Binance body inside a ccxt message, if there is one."""
    start = message.find("{")
    if start < 0:
        return None
    try:
        body = json.loads(message[start:])
    except ValueError:
        return None
    if not isinstance(body, dict) or "code" not in body:
        return None
    try:
        return int(body["code"]), str(body.get("msg", ""))
    except (TypeError, ValueError):
        return None


def retry_after_of(headers: Mapping[str, str] | None) -> float | None:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def translate(exc: Exception, headers: Mapping[str, str] | None = None) -> ExchangeError:
    """One domain error for one ccxt exception; `headers` are the last response's, for Retry-After."""
    parsed = body_of(str(exc))
    if isinstance(exc, ccxt.DDoSProtection):  # 429 (RateLimitExceeded) or 418, an IP ban
        code, msg = parsed or (-1003, "Too many requests.")
        banned = "banned" in msg.lower()  # ccxt may map -1003 to RateLimitExceeded for both
        return TransientExchangeError(code, msg, 418 if banned else 429, retry_after_of(headers))
    if isinstance(exc, ccxt.NetworkError):  # timeouts, dropped connections, 5xx
        code, msg = parsed or (UNKNOWN, f"network: {type(exc).__name__}: {_short(exc)}")
        return TransientExchangeError(code, msg, 503, retry_after_of(headers),
                                      unreachable=None if parsed else _cannot_connect(exc))
    if parsed is None:
        return ExchangeError(UNKNOWN, f"{type(exc).__name__}: {_short(exc)}", 400)
    code, msg = parsed
    if code in RETRYABLE_CODES:
        return TransientExchangeError(code, msg, 503, retry_after_of(headers))
    if code in FATAL_CODES:
        return ExchangeError(code, msg, 401 if code in (-2014, -2015) else 400)
    return OrderRejected(code, msg, 400)


def _short(exc: Exception) -> str:
    """ccxt's message, scrubbed, then cut. It holds the request's URL, query string and all: a signed request's
    `signature=` (and anything else `scrub` masks) would otherwise reach order rejections, kill-switch summaries
    and alerts, which carry the error's text and are not log lines. Scrubbed before the cut, so a secret cut in
    half is not left half-visible."""
    return scrub(str(exc))[:300]
