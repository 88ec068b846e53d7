"""Chaos control of the REST side, not part of Binance: answer 5xx, 429, 418 or slowly on demand.

A bot meets Binance's bad moments (an internal error, a 429 with `Retry-After`, a response that comes
back after the client gave up while the order is live) only by accident; the live-path chaos campaign
arms them here instead, so each is met on purpose and graded:

- `POST /sim/v1/faults {"kind": "server_error"|"rate_limit"|"slow"|"ban"|"clear", "count": N | "seconds": S,
  "paths": [...], "methods": [...], "status": 503 | "retry_after_s": 2 | "delay_ms": 1500, "after": 0}` arms
  one fault (or clears all) and answers `{"faults": [<armed>]}`; `GET /sim/v1/faults` adds `"injected"` per kind.
- `server_error`: the request is answered `status` with Binance's -1001 body and is NOT processed.
- `rate_limit`: answered 429 (-1003, `Retry-After`), not processed, and the IP is rate limited until
  Retry-After passes (`WeightCounter.rate_limit`): a request inside that window is refused too and counts
  towards the 418 ban exactly as on the weight path, so only a client that ignores Retry-After is banned.
- `slow`: the request IS processed at once, its response leaves `delay_ms` later (the app sleeps outside
  `server.lock`): a client with a shorter timeout sees a timeout while its order is live.
- `ban`: answered 418 (-1003 "IP banned until ..."), not processed, and the IP is banned for `retry_after_s`
  seconds (`WeightCounter.ban`), as Binance bans an IP that kept going after 429s: a polite client meets a
  ban only this way, and must wait it out as it would a real one.
- `"after": N` (any kind): the first N matching requests pass untouched, so a fault can strike the middle of
  a paged reading (the fourth page of an income history) rather than its first request.

Faults hit REST `/fapi/*` only, never `/sim/*` control routes nor websockets. Every field is checked
before anything changes, so a refused request leaves the armed faults as they were.
"""

from __future__ import annotations

from typing import Any

from ..domain import binance_errors as be
from ..domain.errors import RetryableExchangeError
from ..domain.money import to_decimal
from .faults import ALL_METHODS, ALL_REST, BAN, KINDS, RATE_LIMIT, SERVER_ERROR, SLOW, Fault, Scope
from .routes_base import Call, RouteTable, Security, ServerState

table = RouteTable()
CONTROL = Security.API_KEY
CLEAR = "clear"
STATUSES = (500, 502, 503, 504)
#: A fault armed for longer than a day, or for more requests than a day's, is a typo, not a test.
MAX_SECONDS = 86_400
MAX_COUNT = 1_000_000
MAX_DELAY_MS = 600_000
_COMMON = frozenset({"kind", "count", "seconds", "paths", "methods", "after"})
_OWN = {SERVER_ERROR: frozenset({"status"}), RATE_LIMIT: frozenset({"retry_after_s"}),
        SLOW: frozenset({"delay_ms"}), BAN: frozenset({"retry_after_s"})}


def internal_error(status: int) -> RetryableExchangeError:
    """-1001 as Binance words it: the request may not have been processed; the client must ask."""
    return RetryableExchangeError(-1001, "Internal error; unable to process your request. Please try again.",
                                  status)


@table.route("POST", "/sim/v1/faults", CONTROL)
def arm_fault(server: ServerState, call: Call) -> Any:
    fault = parse_fault(call.json, server.clock())
    if fault is None:
        server.faults.clear()
    else:
        server.faults.add(fault)
    return {"faults": server.faults.active(server.clock())}


@table.route("GET", "/sim/v1/faults", CONTROL)
def list_faults(server: ServerState, call: Call) -> Any:
    return {"faults": server.faults.active(server.clock()), "injected": server.faults.injected()}


def strike(server: ServerState, method: str, path: str, ip: str) -> float:
    """Called by the app after a REST request is admitted and before it runs.

    Raises the error a `server_error` or `rate_limit` fault answers with (the request is not processed);
    returns how long (seconds) a `slow` fault delays the response, else 0.
    """
    if not path.startswith("/fapi/"):
        return 0.0
    fault = server.faults.strike(method, path, server.clock())
    if fault is None:
        return 0.0
    if fault.kind == SERVER_ERROR:
        raise internal_error(fault.status)
    if fault.kind == RATE_LIMIT:
        raise server.weights.rate_limit(ip, fault.retry_after_s)
    if fault.kind == BAN:
        raise server.weights.ban(ip, fault.retry_after_s)
    return fault.delay_ms / 1000


def parse_fault(body: Any, now_ms: int) -> Fault | None:
    """The fault a request arms (None for `clear`), every field checked first: -1102 / -1106 / -1130."""
    if not isinstance(body, dict) or "kind" not in body:
        raise be.mandatory_param("kind")
    kind = body["kind"]
    if kind != CLEAR and kind not in KINDS:
        raise be.invalid_data_because("kind", f"{kind!r} is not one of {', '.join((*KINDS, CLEAR))}")
    allowed = {"kind"} if kind == CLEAR else _COMMON | _OWN[kind]
    for name in body:
        if name not in allowed:
            raise be.param_not_required(str(name))
    if kind == CLEAR:
        return None
    remaining, until_ms = _extent(body, now_ms)
    fault = Fault(kind, Scope(_paths(body.get("paths")), _methods(body.get("methods"))), remaining, until_ms)
    if "status" in body:
        fault.status = _integer(body["status"], "status", 500, 504)
        if fault.status not in STATUSES:
            raise be.invalid_data_because("status", f"{fault.status} is not one of {STATUSES}")
    if "retry_after_s" in body:
        fault.retry_after_s = _integer(body["retry_after_s"], "retry_after_s", 1, MAX_SECONDS)
    if "delay_ms" in body:
        fault.delay_ms = _integer(body["delay_ms"], "delay_ms", 0, MAX_DELAY_MS)
    if "after" in body:
        fault.after = _integer(body["after"], "after", 0, MAX_COUNT)
    return fault


def _extent(body: dict[str, Any], now_ms: int) -> tuple[int | None, int | None]:
    """(count, None) or (None, until ms): exactly one of `count`/`seconds`; neither means one request."""
    if "count" in body and "seconds" in body:
        raise be.invalid_data_because("seconds", "send count or seconds, not both")
    if "seconds" not in body:
        return _integer(body.get("count", 1), "count", 1, MAX_COUNT), None
    value = body["seconds"]
    try:
        seconds = to_decimal(value, "seconds") if isinstance(value, int | float) else None
    except ValueError:
        seconds = None
    if seconds is None:
        raise be.invalid_data_because("seconds", f"{value!r} is not a finite JSON number")
    if not 0 < seconds <= MAX_SECONDS:
        raise be.invalid_data_because("seconds", f"{seconds} is outside (0, {MAX_SECONDS}]")
    return None, now_ms + int(seconds * 1000)


def _integer(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise be.invalid_data_because(name, f"{value!r} is not an integer")
    if not low <= value <= high:
        raise be.invalid_data_because(name, f"{value} is outside {low}..{high}")
    return value


def _paths(value: Any) -> tuple[str, ...]:
    """Exact `/fapi/...` paths or prefixes ending in `*`; control routes can never be faulted."""
    if value is None:
        return ALL_REST
    if not isinstance(value, list) or not value or len(value) > 100:
        raise be.invalid_data_because("paths", "expected a list of 1 to 100 REST paths")
    for path in value:
        if not isinstance(path, str) or not path.startswith("/fapi") or "*" in path[:-1]:
            raise be.invalid_data_because("paths", f"{path!r} is not a /fapi path or a prefix ending in *")
    return tuple(value)


def _methods(value: Any) -> tuple[str, ...]:
    if value is None:
        return ALL_METHODS
    if not isinstance(value, list) or not value:
        raise be.invalid_data_because("methods", f"expected a list of {', '.join(ALL_METHODS)}")
    methods = tuple(m.upper() if isinstance(m, str) else m for m in value)
    for method in methods:
        if method not in ALL_METHODS:
            raise be.invalid_data_because("methods", f"{method!r} is not one of {', '.join(ALL_METHODS)}")
    return methods

