"""Binance USDⓈ-M over ccxt's `binanceusdm`: production, the testnet, or any compatible base URL.

ccxt gives us signing, rate-limit bookkeeping and error classes; we call its raw endpoint methods
(`fapiPrivatePostAlgoOrder`, ...) with the exact Binance parameters `wire.intent_params` builds, so
prices and quantities go out as Decimal strings (no float round trip, no client-side re-rounding)
and conditional orders go to the Algo Order API exactly as ccxt's own `create_order` routes them.
Answers are parsed by the same `wire` functions as the in-process adapter's.

Every REST call passes `call`, where the request budget (budget.py) admits it by its weight (from
ccxt's own endpoint table: method and path, then Binance's weights) and priority, and every answer's
`X-MBX-USED-WEIGHT-1M`, 429 and 418 reach the budget, and so do a new order's kind (entry or reducing,
order_rate.py), the `X-MBX-ORDER-COUNT-*` headers and -1015. `open_orders()` asks per symbol when that is
cheaper by the same table, and `reading_affordable()` tells the monitor whether a full reading fits.

Events come from Binance's user-data stream (user_stream.py: listen key, websocket, heartbeat, and
a REST reconciliation after every connect), which costs no request weight between connects but a
keep-alive every 30 minutes. `events_via="poll"` keeps the older polling (`CcxtPoller`: open orders,
orders it placed, positions every `poll_interval`, about 90 weight a sweep) for venues without one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ccxt  # type: ignore[import-untyped]

from ..domain import binance_errors as be
from ..domain.enums import MarginType
from ..domain.errors import ExchangeError
from ..domain.exchange_types import (
    AccountSnapshot,
    BalanceUpdate,
    ExchangeEvent,
    FillUpdate,
    HeldMark,
    OrderIntent,
    OrderSnapshot,
    PositionSnapshot,
)
from ..domain.instrument import Instrument
from ..domain.instrument_parse import instrument_from_symbol_info
from ..domain.kline import Kline, kline_from_row
from ..domain.money import to_decimal
from ..domain.request_weights import weight_of
from . import wire
from .budget import Priority, WeightBudget, effective, is_urgent, priority_of
from .ccxt_client import make_client
from .ccxt_errors import translate
from .ccxt_poll import CcxtPoller
from .clock_sync import TIMESTAMP_REFUSED, ClockReading, ExchangeClock
from .income_reading import IncomeReader
from .mark_board import MarkBoard
from .order_rate import TOO_MANY_ORDERS, order_kind
from .secrets import Secret
from .user_stream import StreamOptions, UserStream

NO_NEED_TO_CHANGE_MARGIN_TYPE = -4046
UNKNOWN_ORDER_CODES = frozenset({-2011, -2013})
KLINE_MS = 60_000
#: Rows per klines page: Binance weighs 500-1,000 rows 5, more than 1,000 rows 10.
KLINE_PAGE = 1000
#: A per-symbol `open_orders()` still lists every symbol this often (orders placed by hand elsewhere).
FULL_LISTING_EVERY_S = 60.0
#: QT_RECONCILE_INTERVAL's default: 4 positions read every 3 s cost about 13 % of Binance's weight limit.
DEFAULT_READING_INTERVAL_S = 3.0
R = TypeVar("R")
_SERVER_TIME = "fapiPublicGetTime"


class CcxtExchange:
    """The `Exchange` port over `binanceusdm`; every ccxt error leaves as a domain `ExchangeError`."""

    def __init__(self, base_url: str, *, api_key: str | Secret, api_secret: str | Secret,
                 timeout_s: float = 10.0, poll_interval: float = 5.0, throttle: bool = True,
                 budget: WeightBudget | None = None, events_via: str = "stream",
                 stream: StreamOptions | None = None, ws_url: str | None = None,
                 reading_interval_s: float = DEFAULT_READING_INTERVAL_S,
                 clock_reading: ClockReading | None = None, marks: MarkBoard | None = None) -> None:
        """`events_via`: "stream" (the user-data websocket at `ws_url`, by default derived from `base_url`)
        or "poll"; `stream` tunes the websocket's timings (tests shorten them); `reading_interval_s`: the
        monitor's full REST readings are this far apart while the stream is up (`reading_pace_s`); `marks`: the
        market stream's marks, where the session's feed streams them (`mark_since`; empty: none held)."""
        self.base_url = base_url.rstrip("/")
        self.marks = marks if marks is not None else MarkBoard()
        if events_via not in ("stream", "poll"):
            raise ValueError(f"events_via={events_via!r}: 'stream' or 'poll'")
        self._events_via = events_via
        #: Events come from the user-data stream (`user_stream`), not from polling.
        self.streams_events = events_via == "stream"
        self.reading_interval_s = reading_interval_s
        #: Every REST call is admitted by it first (exchange/budget.py); its limit follows exchangeInfo.
        self.budget = budget if budget is not None else WeightBudget()
        self._endpoints: dict[str, tuple[str, str]] = {}
        #: What a per-symbol `open_orders()` must cover: symbols with a position, and with open orders last
        #: seen or an order placed since.
        self._held: set[str] = set()
        self._ordered: set[str] = set()
        self._full_listing_at: float | None = None
        self._client = make_client(self.base_url, Secret.of(api_key), Secret.of(api_secret), timeout_s=timeout_s,
                                   throttle=throttle)
        self._poll_interval = poll_interval
        self._instruments: dict[str, Instrument] | None = None
        self._pollers: list[CcxtPoller] = []
        options = stream or StreamOptions()
        if ws_url is not None:
            options = replace(options, ws_url=ws_url)
        #: The stream's reconciliation state lives as long as the adapter: a reconnect emits only what changed.
        self._reconciler = CcxtPoller(self, poll_interval)
        self.user_stream = UserStream(self, self._reconciler, options)
        #: Signed requests carry the exchange's time once Binance has refused the machine's (-1021).
        self.clock = ExchangeClock(self._client, lambda: self.call(_SERVER_TIME), clock_reading)
        self._income = IncomeReader(self.call)  # keeps a reading a 429 or a ban interrupted, to resume it
        if events_via == "stream":
            self._pollers.append(self._reconciler)  # watches what `place` sends, subscribed or not

    def __repr__(self) -> str:
        return f"CcxtExchange(base_url={self.base_url!r})"

    async def call(self, method: str, params: Mapping[str, str] | None = None, *,
                   priority: Priority | None = None) -> Any:
        """One raw endpoint call (ccxt's implicit API name), admitted by the budget (its weight and priority
        from the endpoint, unless `priority` says otherwise), errors translated to the domain."""
        sent = dict(params or {})
        http, path = self.endpoint(method)
        admitted = (weight_of(http, path, sent), effective(priority if priority is not None else
                    priority_of(http, path, sent)), f"{http} {path}", order_kind(http, path, sent))
        await self.budget.acquire(*admitted)
        try:
            return await self._guard(getattr(self._client, method), sent)
        except ExchangeError as exc:
            if exc.code != TIMESTAMP_REFUSED or method == _SERVER_TIME:
                raise
        # The machine's clock is off Binance's (clock_sync.py): sign with the exchange's time and send it again,
        # once. Binance refused it before processing it, so an order cannot go twice.
        await self.clock.follow()
        await self.budget.acquire(*admitted)
        return await self._guard(getattr(self._client, method), sent)

    def endpoint(self, method: str) -> tuple[str, str]:
        """(HTTP method, path) of one of ccxt's implicit API names, from ccxt's own endpoint table."""
        known = self._endpoints.get(method)
        if known is None:
            entry = next((k.__dict__[method] for k in type(self._client).__mro__ if method in k.__dict__), None)
            if entry is None or not hasattr(entry, "api"):
                raise AttributeError(f"{method} is not one of ccxt's binanceusdm endpoints")
            base = urlsplit(self._client.urls["api"][entry.api[0]]).path.rstrip("/")
            known = self._endpoints[method] = (str(entry.method).upper(), f"{base}/{entry.path}")
        return known

    async def _guard(self, fn: Callable[[dict[str, str]], Awaitable[R]], params: dict[str, str]) -> R:
        try:
            answer = await fn(params)
        except ccxt.BaseError as exc:
            headers = getattr(self._client, "last_response_headers", None)
            self.budget.observe(headers)
            error = translate(exc, headers)
            if error.code == TOO_MANY_ORDERS:  # the account's order rate, not the IP's weight: orders wait
                self.budget.order_rate_limited(getattr(error, "retry_after", None), error.msg)
            elif error.http_status in (418, 429):
                self.budget.rate_limited(error.http_status, getattr(error, "retry_after", None), error.msg)
            raise error from None
        self.budget.observe(getattr(self._client, "last_response_headers", None))
        return answer

    def reading_affordable(self) -> bool:
        """Whether a full reading (positions, open orders, account) fits the budget's routine share now:
        the monitor skips its REST reading when not (the user-data stream keeps its view fresh)."""
        cost = weight_of("GET", "/fapi/v2/positionRisk", {}) + weight_of("GET", "/fapi/v2/account", {})
        return self.budget.affordable(cost + self._open_orders_cost(None)[0], effective(Priority.ROUTINE))

    def reading_pace_s(self) -> float:
        """How far apart the monitor's full REST readings may be: `reading_interval_s` while the user-data
        stream is connected and reconciled (every change arrives as an event within milliseconds, and the
        monitor acts on each at once), 0 while it is not (polling, or reconnecting: only readings see)."""
        return self.reading_interval_s if self._events_via == "stream" and self.user_stream.live else 0.0

    # --- market data ------------------------------------------------------------------------------
    async def instruments(self) -> Mapping[str, Instrument]:
        if self._instruments is None:
            info = await self.call("fapiPublicGetExchangeInfo")
            self.budget.limit = next((int(r["limit"]) for r in info.get("rateLimits", ())
                                      if r.get("rateLimitType") == "REQUEST_WEIGHT" and r.get("interval") == "MINUTE"
                                      and int(r.get("intervalNum", 1)) == 1), self.budget.limit)
            self.budget.orders.learn(info.get("rateLimits", ()))  # ORDERS per 10 s and per minute
            brackets = {row["symbol"]: row["brackets"] for row in await self.call("fapiPrivateGetLeverageBracket")}
            self._instruments = {
                s["symbol"]: instrument_from_symbol_info(s, brackets.get(s["symbol"], ()))
                for s in info["symbols"] if s.get("status") == "TRADING" and s["symbol"] in brackets
            }
        return self._instruments

    async def mark_prices(self, symbols: Iterable[str] | None = None) -> dict[str, Decimal]:
        """One symbol is asked for by name (weight 1); more, or all, in one listing (weight 10)."""
        wanted_one = list(symbols) if symbols is not None else None
        if wanted_one is not None and len(wanted_one) == 1:
            row = await self.call("fapiPublicGetPremiumIndex", {"symbol": wanted_one[0]})
            return {wanted_one[0]: to_decimal(row["markPrice"], "markPrice")}
        symbols = wanted_one
        rows = await self.call("fapiPublicGetPremiumIndex")
        marks = {r["symbol"]: to_decimal(r["markPrice"], "markPrice") for r in rows}
        if symbols is None:
            return marks
        wanted = list(symbols)
        if any(s not in marks for s in wanted):
            raise be.invalid_symbol()
        return {s: marks[s] for s in wanted}

    def mark_since(self, symbol: str, since_ms: int) -> HeldMark | None:
        """The market stream's latest mark, if stamped after `since_ms` (port.py); never a request."""
        return self.marks.since(symbol, since_ms)

    async def klines(self, symbol: str, start_ms: int, end_ms: int) -> list[Kline]:
        """GET /fapi/v1/klines in pages of at most 1,000 rows, each asking for no more rows than the window
        holds: Binance weighs a klines call by its `limit` (under 100 rows: 1), so a one-bar gap costs 1."""
        out: list[Kline] = []
        start = start_ms
        while start <= end_ms:
            limit = min((end_ms - start) // KLINE_MS + 1, KLINE_PAGE)
            # `limit` as an int: ccxt's own rate limiter compares it with numbers (a str raises TypeError).
            params: dict[str, Any] = {"symbol": symbol, "interval": "1m", "startTime": str(start),
                                      "endTime": str(end_ms), "limit": limit}
            rows: list[list[Any]] = await self.call("fapiPublicGetKlines", params)
            out.extend(kline_from_row(r) for r in rows)
            if len(rows) < limit:
                break
            start = out[-1].open_ms + KLINE_MS
        return out

    # --- account ----------------------------------------------------------------------------------
    async def positions(self, symbol: str | None = None) -> list[PositionSnapshot]:
        rows = await self.call("fapiPrivateV2GetPositionRisk", {"symbol": symbol} if symbol else None)
        held = [p for p in (wire.position_from_risk(r) for r in rows) if p.amount != 0]
        if symbol:
            self._held.discard(symbol)
        else:
            self._held.clear()
        self._held.update(p.symbol for p in held)
        return held

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
        """All open orders asks per symbol when that is cheaper by the budget's table (1 + 1 per symbol
        against 40 + 40): over the symbols with a position or an open order last seen, or an order placed
        since. A full listing still runs every FULL_LISTING_EVERY_S, which finds orders placed by hand
        elsewhere (and the user-data stream reports them as they come)."""
        if symbol:
            return await self._open_orders_of({"symbol": symbol}, None)
        _, symbols = self._open_orders_cost(None)
        if symbols is None:
            found = await self._open_orders_of({}, Priority.ROUTINE)
            self._full_listing_at = self.budget.clock()
            self._ordered = {o.symbol for o in found}
            return found
        out: list[OrderSnapshot] = []
        for name in symbols:
            out.extend(await self._open_orders_of({"symbol": name}, Priority.ROUTINE))
        return out

    async def _open_orders_of(self, params: dict[str, str], priority: Priority | None) -> list[OrderSnapshot]:
        classic = [wire.order_from_json(o) for o in await self.call("fapiPrivateGetOpenOrders", params,
                                                                   priority=priority)]
        algos = [wire.algo_from_json(a) for a in await self.call("fapiPrivateGetOpenAlgoOrders", params,
                                                                 priority=priority)]
        if params.get("symbol") and not classic and not algos:
            self._ordered.discard(params["symbol"])
        elif params.get("symbol"):
            self._ordered.add(params["symbol"])
        return classic + algos

    def _open_orders_cost(self, symbol: str | None) -> tuple[int, list[str] | None]:
        """The weight of `open_orders(symbol)` and, for all symbols, the symbols to ask one by one (None: one
        full listing, when it is due or no cheaper)."""
        def weight(params: dict[str, str]) -> int:
            return sum(weight_of(*self.endpoint(m), params) for m in ("fapiPrivateGetOpenOrders",
                                                                        "fapiPrivateGetOpenAlgoOrders"))
        if symbol:
            return weight({"symbol": symbol}), [symbol]
        full = weight({})
        last = self._full_listing_at
        due = is_urgent() or last is None or self.budget.clock() - last >= FULL_LISTING_EVERY_S
        symbols = sorted(self._held | self._ordered)
        per_symbol = sum(weight({"symbol": s}) for s in symbols)
        return (full, None) if due or per_symbol >= full else (per_symbol, symbols)

    async def place(self, intent: OrderIntent) -> OrderSnapshot:
        params = wire.intent_params(intent)
        self._ordered.add(intent.symbol)
        for poller in self._pollers:
            poller.watch(intent.symbol, intent.client_id)
        sent_at = time.monotonic()
        if intent.conditional:
            placed = wire.algo_from_json(await self.call("fapiPrivatePostAlgoOrder", params))
        else:
            placed = wire.order_from_json(await self.call("fapiPrivatePostOrder", params))
        self.user_stream.expect_echo(f"order {intent.client_id}", sent_at)
        return placed

    async def cancel(self, symbol: str, client_id: str) -> OrderSnapshot:
        found = await self.query(symbol, client_id)
        if found is None:
            raise be.unknown_order_sent()
        sent_at = time.monotonic()
        if not found.conditional:
            params = {"symbol": symbol, "origClientOrderId": client_id}
            cancelled = wire.order_from_json(await self.call("fapiPrivateDeleteOrder", params))
            self.user_stream.expect_echo(f"the cancel of {client_id}", sent_at)
            return cancelled
        await self.call("fapiPrivateDeleteAlgoOrder", {"clientAlgoId": client_id})
        self.user_stream.expect_echo(f"the cancel of {client_id}", sent_at)
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

    async def income(self, start_ms: int, income_type: str | None = None) -> list[BalanceUpdate]:
        """Binance's income history from `start_ms`, kept to transfers and funding (exchange/income_reading.py);
        a reading a 429 or a ban interrupted goes on from where it stopped when asked again."""
        return await self._income.read(start_ms, income_type)

    async def hedge_mode(self) -> bool:
        """GET /fapi/v1/positionSide/dual (weight 30, through the budget): `{"dualSidePosition": bool}`."""
        answer: dict[str, Any] = await self.call("fapiPrivateGetPositionSideDual")
        return wire.dual_side_position(answer)

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
        """One user-data stream connection (reconciled first), until it breaks (`StreamBroken`: subscribe
        again, as the session's pump does) or the adapter closes; or polling with `events_via="poll"`.

        The stream's reconciliation state is the adapter's, so it serves one subscriber at a time (the
        session's pump): a second concurrent subscriber would miss fills the first one already counted."""
        if self._events_via == "stream":
            async for event in self.user_stream.run():
                yield event
            return
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
        await self.user_stream.close()
        await self._client.close()

