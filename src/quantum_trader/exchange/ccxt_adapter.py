"""Binance USDⓈ-M over ccxt's `binanceusdm`: production, the testnet, or any compatible base URL.

ccxt gives us signing, rate-limit bookkeeping and error classes; we call its raw endpoint methods
(`fapiPrivatePostAlgoOrder`, ...) with the exact Binance parameters `wire.intent_params` builds, so
prices and quantities go out as Decimal strings (no float round trip, no client-side re-rounding)
and conditional orders go to the Algo Order API exactly as ccxt's own `create_order` routes them.
Answers are parsed by the same `wire` functions as the in-process adapter's.

Events: this first version polls (open orders, orders it placed, positions) and emits changes; the
user-data websocket can replace `CcxtPoller` later without touching the port. A sweep costs about
90 request weight on Binance (openOrders and openAlgoOrders without a symbol weigh 40 each), hence
the 5 s default interval: 1 080 of the 2 400 weight per minute.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import ccxt  # type: ignore[import-untyped]
import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]

from ..domain import binance_errors as be
from ..domain.enums import MarginType
from ..domain.errors import ExchangeError
from ..domain.exchange_types import (
    AccountSnapshot,
    ExchangeEvent,
    FillUpdate,
    OrderIntent,
    OrderSnapshot,
    PositionSnapshot,
)
from ..domain.instrument import Instrument
from ..domain.instrument_parse import instrument_from_symbol_info
from ..domain.money import to_decimal
from . import wire
from .ccxt_errors import translate
from .ccxt_poll import CcxtPoller
from .secrets import Secret

PRODUCTION_URL = "https://fapi.binance.com"
#: Binance drops a signed request that arrives later than this after its timestamp (-1021).
RECV_WINDOW_MS = 5000
NO_NEED_TO_CHANGE_MARGIN_TYPE = -4046
UNKNOWN_ORDER_CODES = frozenset({-2011, -2013})
R = TypeVar("R")


def make_client(base_url: str, api_key: Secret, api_secret: Secret, *, timeout_s: float,
                throttle: bool = True) -> Any:
    """A `binanceusdm` whose fapi URLs point at `base_url` (binance_futures.md §9.5).

    `throttle=False` turns off ccxt's client-side pacing (it spends 50 ms per request weight, so one
    40-weight `openOrders` waits 2 s): right for a simulator server, which enforces Binance's weights
    itself and answers 429, never for Binance.
    """
    client = ccxt_async.binanceusdm({
        "apiKey": api_key.reveal(), "secret": api_secret.reveal(), "timeout": int(timeout_s * 1000),
        "enableRateLimit": throttle,
        "options": {"fetchCurrencies": False, "adjustForTimeDifference": False,
                    "disableFuturesSandboxWarning": True, "recvWindow": RECV_WINDOW_MS},
    })
    base = base_url.rstrip("/")
    if base != PRODUCTION_URL:
        for name, url in list(client.urls["api"].items()):
            if isinstance(url, str) and url.startswith(PRODUCTION_URL):
                client.urls["api"][name] = base + url[len(PRODUCTION_URL):]
    # Against a non-Binance hostname ccxt would skip its linear error map (-2021 → plain ExchangeError).
    client.exceptions["exact"].update(client.exceptions["linear"]["exact"])
    return client


class CcxtExchange:
    """The `Exchange` port over `binanceusdm`; every ccxt error leaves as a domain `ExchangeError`."""

    def __init__(self, base_url: str, *, api_key: str | Secret, api_secret: str | Secret,
                 timeout_s: float = 10.0, poll_interval: float = 5.0, throttle: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = make_client(self.base_url, Secret.of(api_key), Secret.of(api_secret), timeout_s=timeout_s,
                                   throttle=throttle)
        self._poll_interval = poll_interval
        self._instruments: dict[str, Instrument] | None = None
        self._pollers: list[CcxtPoller] = []

    def __repr__(self) -> str:
        return f"CcxtExchange(base_url={self.base_url!r})"

    async def call(self, method: str, params: Mapping[str, str] | None = None) -> Any:
        """One raw endpoint call (ccxt's implicit API name), errors translated to the domain."""
        return await self._guard(getattr(self._client, method), dict(params or {}))

    async def _guard(self, fn: Callable[[dict[str, str]], Awaitable[R]], params: dict[str, str]) -> R:
        try:
            return await fn(params)
        except ccxt.BaseError as exc:
            raise translate(exc, getattr(self._client, "last_response_headers", None)) from None

    # --- market data ------------------------------------------------------------------------------
    async def instruments(self) -> Mapping[str, Instrument]:
        if self._instruments is None:
            info = await self.call("fapiPublicGetExchangeInfo")
            brackets = {row["symbol"]: row["brackets"] for row in await self.call("fapiPrivateGetLeverageBracket")}
            self._instruments = {
                s["symbol"]: instrument_from_symbol_info(s, brackets.get(s["symbol"], ()))
                for s in info["symbols"] if s.get("status") == "TRADING" and s["symbol"] in brackets
            }
        return self._instruments

    async def mark_prices(self, symbols: Iterable[str] | None = None) -> dict[str, Decimal]:
        rows = await self.call("fapiPublicGetPremiumIndex")
        marks = {r["symbol"]: to_decimal(r["markPrice"], "markPrice") for r in rows}
        if symbols is None:
            return marks
        wanted = list(symbols)
        if any(s not in marks for s in wanted):
            raise be.invalid_symbol()
        return {s: marks[s] for s in wanted}

    # --- account ----------------------------------------------------------------------------------
    async def positions(self, symbol: str | None = None) -> list[PositionSnapshot]:
        rows = await self.call("fapiPrivateV2GetPositionRisk", {"symbol": symbol} if symbol else None)
        return [p for p in (wire.position_from_risk(r) for r in rows) if p.amount != 0]

    async def account(self) -> AccountSnapshot:
        return wire.account_from_json(await self.call("fapiPrivateV2GetAccount"))

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        answer = await self.call("fapiPrivatePostLeverage", {"symbol": symbol, "leverage": str(leverage)})
        return int(answer["leverage"])

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> None:
        try:
            await self.call("fapiPrivatePostMarginType", {"symbol": symbol, "marginType": margin_type.value})
        except ExchangeError as exc:
            if exc.code != NO_NEED_TO_CHANGE_MARGIN_TYPE:
                raise

    # --- orders -----------------------------------------------------------------------------------
    async def open_orders(self, symbol: str | None = None) -> list[OrderSnapshot]:
        params = {"symbol": symbol} if symbol else {}
        classic = [wire.order_from_json(o) for o in await self.call("fapiPrivateGetOpenOrders", params)]
        algos = [wire.algo_from_json(a) for a in await self.call("fapiPrivateGetOpenAlgoOrders", params)]
        return classic + algos

    async def place(self, intent: OrderIntent) -> OrderSnapshot:
        params = wire.intent_params(intent)
        for poller in self._pollers:
            poller.watch(intent.symbol, intent.client_id)
        if intent.conditional:
            return wire.algo_from_json(await self.call("fapiPrivatePostAlgoOrder", params))
        return wire.order_from_json(await self.call("fapiPrivatePostOrder", params))

    async def cancel(self, symbol: str, client_id: str) -> OrderSnapshot:
        found = await self.query(symbol, client_id)
        if found is None:
            raise be.unknown_order_sent()
        if not found.conditional:
            params = {"symbol": symbol, "origClientOrderId": client_id}
            return wire.order_from_json(await self.call("fapiPrivateDeleteOrder", params))
        await self.call("fapiPrivateDeleteAlgoOrder", {"clientAlgoId": client_id})
        after = await self.query(symbol, client_id)
        if after is None:
            raise be.unknown_order_sent()
        return after

    async def query(self, symbol: str, client_id: str) -> OrderSnapshot | None:
        """Algo orders first: a triggered stop's spawned order carries the same client id."""
        algo = await self._maybe("fapiPrivateGetAlgoOrder", {"clientAlgoId": client_id})
        if algo is not None and algo.get("symbol") == symbol:
            spawned = None
            if algo.get("actualOrderId"):
                spawned = await self._maybe("fapiPrivateGetOrder", {"symbol": symbol,
                                                                     "orderId": str(algo["actualOrderId"])})
            return wire.algo_from_json(algo, spawned)
        order = await self._maybe("fapiPrivateGetOrder", {"symbol": symbol, "origClientOrderId": client_id})
        return wire.order_from_json(order) if order is not None else None

    async def account_trades(self, symbol: str, start_ms: int) -> list[FillUpdate]:
        """userTrades from `start_ms` (Binance answers at most 7 days and 1,000 rows from there), and allOrders
        over the same window for the client ids userTrades leaves out."""
        window = {"symbol": symbol, "startTime": str(start_ms), "limit": "1000"}
        trades: list[dict[str, Any]] = await self.call("fapiPrivateGetUserTrades", window)
        if not trades:
            return []
        orders: list[dict[str, Any]] = await self.call("fapiPrivateGetAllOrders", window)
        ids = {str(o.get("orderId")): str(o.get("clientOrderId") or "") for o in orders}
        return [wire.fill_from_user_trade(t, ids.get(str(t.get("orderId")), "")) for t in trades]

    async def _maybe(self, method: str, params: Mapping[str, str]) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = await self.call(method, params)
        except ExchangeError as exc:
            if exc.code in UNKNOWN_ORDER_CODES:
                return None
            raise
        return answer

    # --- events and lifecycle ---------------------------------------------------------------------
    async def events(self) -> AsyncIterator[ExchangeEvent]:
        poller = CcxtPoller(self, self._poll_interval)
        self._pollers.append(poller)
        try:
            async for event in poller.run():
                yield event
        finally:
            self._pollers.remove(poller)

    async def close(self) -> None:
        for poller in list(self._pollers):
            poller.stop()
        await self._client.close()

