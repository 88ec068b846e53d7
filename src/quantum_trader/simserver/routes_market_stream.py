"""Market websocket streams (§7.1): `<symbol>@markPrice[@1s]` and `<symbol>@kline_<interval>`.

Served on the legacy `/ws/<stream>` (shared with the user-data path: a listenKey never holds `@`) and
on the 2026 `/market/ws/<stream>`. Binance pushes mark prices on a timer; the simulator's market only
moves in steps, so each connection polls the simulator and pushes whenever what it shows has changed
(plus once on connect), in Binance's message shapes with prices as strings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, WebSocket

from ..domain.errors import ExchangeError
from ..domain.money import fmt
from .routes_base import ServerState
from .routes_market import INTERVALS, bar_open, interval_ms
from .ws_poll import POLICY_VIOLATION, poll_until_closed, send_json

#: Binance refuses an unknown stream name; a policy-violation close is the nearest websocket answer.

Snapshot = Callable[[ServerState], list[dict[str, Any]]]


def is_market_stream(name: str) -> bool:
    return "@" in name


def register_market_streams(app: FastAPI, server: ServerState) -> None:
    @app.websocket("/market/ws/{stream}")
    async def market_stream(websocket: WebSocket, stream: str) -> None:
        await serve_market_stream(server, websocket, stream)


def _parse(server: ServerState, stream: str) -> Snapshot | None:
    """The stream's message builder, or None for a name this server does not publish."""
    symbol_part, _, kind = stream.partition("@")
    symbol = symbol_part.upper()
    try:
        server.sim.instrument(symbol)
    except ExchangeError:
        return None
    if kind in ("markPrice", "markPrice@1s", "markPrice@3s"):
        return lambda s: [_mark_price(s, symbol)]
    if kind.startswith("kline_") and kind[len("kline_"):] in INTERVALS:
        interval = kind[len("kline_"):]
        return _kline_builder(symbol, interval)
    return None


def _mark_price(server: ServerState, symbol: str) -> dict[str, Any]:
    sim = server.sim
    state = sim.state
    mark = fmt(sim.mark_price(symbol))
    return {"e": "markPriceUpdate", "E": sim.now_ms, "s": symbol, "p": mark, "i": mark, "P": mark,
            "r": fmt(state.funding_rates.rate(symbol, sim.now_ms)),
            "T": state.funding_schedule.next_funding_time(symbol, sim.now_ms)}


def _bar(server: ServerState, symbol: str, interval: str, open_ms: int) -> list[Decimal]:
    """[open, high, low, close] of the bar opening at `open_ms`, from the recorded steps (newest first)."""
    sim = server.sim
    current = bar_open(sim.now_ms, interval) == open_ms
    prices: list[Decimal] = [sim.last_price(symbol)] if current else []
    for time_ms, price in reversed(server.price_history.get(symbol, ())):
        if time_ms < open_ms:
            break
        if bar_open(time_ms, interval) == open_ms:
            prices.append(price)
    if not prices:  # a bar the market skipped: flat at the current price
        prices.append(sim.last_price(symbol))
    prices.reverse()
    return [prices[0], max(prices), min(prices), prices[-1]]


def _bar_close(open_ms: int, interval: str) -> int:
    if interval == "1M":  # calendar month: the next month's first millisecond, less one
        return bar_open(open_ms + 32 * 86_400_000, interval) - 1
    return open_ms + interval_ms(interval) - 1


def _kline(server: ServerState, symbol: str, interval: str, open_ms: int, closed: bool) -> dict[str, Any]:
    o, h, lo, c = (fmt(p) for p in _bar(server, symbol, interval, open_ms))
    return {"e": "kline", "E": server.sim.now_ms, "s": symbol, "k": {
        "t": open_ms, "T": _bar_close(open_ms, interval), "s": symbol, "i": interval, "f": 0, "L": 0,
        "o": o, "c": c, "h": h, "l": lo, "v": "0", "n": 0, "x": closed, "q": "0", "V": "0", "Q": "0", "B": "0"}}


def _kline_builder(symbol: str, interval: str) -> Snapshot:
    """Current bar on each change; when the clock has left a bar, that bar once more with `x` true."""
    last_open: list[int] = []

    def build(server: ServerState) -> list[dict[str, Any]]:
        current = bar_open(server.sim.now_ms, interval)
        messages = []
        if last_open and last_open[0] != current:
            messages.append(_kline(server, symbol, interval, last_open[0], True))
        last_open[:] = [current]
        messages.append(_kline(server, symbol, interval, current, False))
        return messages

    return build


def _fingerprint(message: dict[str, Any]) -> str:
    """The message without its event time: a change of clock alone is not a price change."""
    return json.dumps({k: v for k, v in message.items() if k != "E"}, sort_keys=True)


async def serve_market_stream(server: ServerState, websocket: WebSocket, stream: str) -> None:
    await websocket.accept()
    build = _parse(server, stream)
    if build is None:
        await websocket.close(code=POLICY_VIOLATION, reason=f"unknown stream {stream}")
        return
    sent: list[str] = []

    async def tick() -> bool:
        with server.lock:
            messages = build(server)
        shown = _fingerprint(messages[-1])
        if not sent or shown != sent[0] or len(messages) > 1:
            sent[:] = [shown]
            for message in messages:
                await send_json(websocket, message)
        return True

    await poll_until_closed(websocket, tick)
