"""The in-process adapter: the `Exchange` port over an `ExchangeSimulator` in the same process.

Requests are rendered as the Binance parameters a client would send, and the simulator parses them
as it parses the server's; answers are the snapshots the shared `wire` parser would make of the
simulator server's JSON shapes, read straight off the simulator's orders (inprocess_snapshots.py,
proven identical by test), and events are what `wire.user_events` makes of the simulator's stream
events, as the ccxt adapter's stream does, read straight off them too (inprocess_events.py, proven
identical by test), so this adapter and the ccxt one disagree only where the network does. Rejections
(`OrderRejected` with Binance's code) pass through unchanged. Events come from the simulator's event
sink: each `events()` subscriber gets its own queue from the moment it starts, and `drain()` hands a
synchronous driver (the backtest loop) everything since its previous call, so a replay needs no
polling and no sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType

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
from ..domain.kline import Kline
from ..domain.orders import AlgoOrder
from ..sim import shapes
from ..sim.engine import ExchangeSimulator
from ..sim.events import PositionRow, SimEvent
from ..sim.income import income_json
from . import wire
from .inprocess_events import port_events, position_from_row
from .inprocess_snapshots import algo_snapshot, order_snapshot

#: Binance's "-4046 No need to change margin type.": the type is already what we asked for.
NO_NEED_TO_CHANGE_MARGIN_TYPE = -4046
UNKNOWN_ORDER_CODES = frozenset({-2011, -2013})


class InProcessExchange:
    """Drives an `ExchangeSimulator` directly; the caller moves the market on the simulator itself.

    `now_ms`: a paper session's clock, which runs between the bars its feed plays. Before each order or
    cancel the simulator's time moves up to it (never back), so what the simulator stamps then (a market
    order's fill, a cancel) carries the session's time, never the time of a bar played before the order was
    sent. A backtest leaves it None: its replay sets the simulator's time itself."""

    def __init__(self, sim: ExchangeSimulator, *, poll_interval: float = 0.01,
                 now_ms: Callable[[], int] | None = None) -> None:
        self.sim = sim
        self._now_ms = now_ms
        self._poll_interval = poll_interval
        self._closed = asyncio.Event()
        self._queues: list[deque[SimEvent]] = []
        self._drained: deque[SimEvent] | None = None
        #: Opt-in memo of `account()` (see `memoize_account`): what may have changed the account since.
        self._changes = 0
        self._market_revision: Callable[[], int] | None = None
        self._account_memo: tuple[tuple[int, int, int], AccountSnapshot] | None = None
        previous = sim.state.event_sink

        def fan_out(event: SimEvent) -> None:
            self._changes += 1
            for queue in self._queues:
                queue.append(event)
            if previous is not None:
                previous(event)

        sim.state.event_sink = fan_out

    def __repr__(self) -> str:
        return f"InProcessExchange(symbols={len(self.sim.state.instruments)})"

    async def instruments(self) -> Mapping[str, Instrument]:
        """A read-only view of the simulator's instruments, not a copy: a filter the replay changes (a minimum price
        lowered to the data's, sim/traded_prices.py) is the one risk and execution then round and check by."""
        return MappingProxyType(self.sim.state.instruments)

    async def mark_prices(self, symbols: Iterable[str] | None = None) -> dict[str, Decimal]:
        wanted = sorted(self.sim.state.instruments) if symbols is None else list(symbols)
        return {s: self.sim.mark_price(s) for s in wanted}

    def mark_since(self, symbol: str, since_ms: int) -> HeldMark:
        """The simulator's mark now, always: what `mark_prices` would answer, and after every event the simulator
        has stamped (port.py). Answered without awaiting anything, so a caller stays deterministic."""
        return HeldMark(self.sim.mark_price(symbol), self.sim.state.now_ms)

    async def positions(self, symbol: str | None = None) -> list[PositionSnapshot]:
        # Only symbols holding a position: the answer is the same, without a row for every symbol. One
        # symbol (the monitor's read-back after each fill) is looked up, not found among all open positions.
        if symbol is not None:
            wanted = [symbol] if self.sim.account.has_position(symbol) else []
        else:
            wanted = sorted({p.symbol for p in self.sim.account.open_positions()})
        rows = (wire.position_from_risk(r) for s in wanted for r in shapes.position_risk_v2(self.sim, s))
        return [p for p in rows if p.amount != 0]

    async def open_orders(self, symbol: str | None = None) -> list[OrderSnapshot]:
        classic = [order_snapshot(o) for o in self.sim.open_orders(symbol)]
        return classic + [self._algo(a) for a in self.sim.open_algo_orders(symbol)]

    async def place(self, intent: OrderIntent) -> OrderSnapshot:
        self._changes += 1
        self._follow_clock()
        params = wire.intent_params(intent)
        if intent.conditional:
            return self._algo(self.sim.new_algo_order(params))
        return order_snapshot(self.sim.new_order(params))

    async def cancel(self, symbol: str, client_id: str) -> OrderSnapshot:
        self._changes += 1
        self._follow_clock()
        found = await self.query(symbol, client_id)
        if found is None:
            raise be.unknown_order_sent()
        if found.conditional:
            return self._algo(self.sim.cancel_algo_order(client_algo_id=client_id))
        return order_snapshot(self.sim.cancel_order(symbol, client_order_id=client_id))

    async def query(self, symbol: str, client_id: str) -> OrderSnapshot | None:
        """Algo orders first: a triggered stop's spawned order carries the same client id."""
        try:
            algo = self.sim.query_algo_order(client_algo_id=client_id)
            if algo.symbol == symbol:
                return self._algo(algo)
        except ExchangeError as exc:
            if exc.code not in UNKNOWN_ORDER_CODES:
                raise
        try:
            return order_snapshot(self.sim.query_order(symbol, client_order_id=client_id))
        except ExchangeError as exc:
            if exc.code in UNKNOWN_ORDER_CODES:
                return None
            raise

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        self._changes += 1
        return self.sim.set_leverage(symbol, leverage)

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> None:
        self._changes += 1
        try:
            self.sim.set_margin_type(symbol, margin_type)
        except ExchangeError as exc:
            if exc.code != NO_NEED_TO_CHANGE_MARGIN_TYPE:
                raise

    async def account(self) -> AccountSnapshot:
        # The three totals straight from the simulator: the same figures /fapi/v2/account shows, without
        # building a row for every position (which costs milliseconds with hundreds of positions open).
        revision = self._market_revision
        if revision is None:
            return self._read_account()
        key = (self._changes, revision(), self.sim.state.now_ms)
        memo = self._account_memo
        if memo is not None and memo[0] == key:
            return memo[1]
        snapshot = self._read_account()
        self._account_memo = (key, snapshot)
        return snapshot

    def memoize_account(self, market_revision: Callable[[], int]) -> None:
        """Answer `account()` from the previous reading while nothing can have changed it (a backtest opts in).

        Equity sums every open position at its mark, and a backtest sizes every signal from it: with
        hundreds of positions open and several signals at one bar, the same sum was redone for each.
        The reading is reused only while all of these stand still: the simulator's events (fills,
        funding, liquidations, order changes), this adapter's own order and setting calls, the clock,
        and `market_revision`, which the caller must change whenever it moves prices without an event
        (the bar replayer's `revision`). The adapter's caller must not touch the simulator otherwise.
        """
        self._market_revision = market_revision
        self._account_memo = None

    def _read_account(self) -> AccountSnapshot:
        sim = self.sim
        return AccountSnapshot(wallet=sim.wallet_balance, equity=sim.equity, available=sim.available_balance())

    async def account_trades(self, symbol: str, start_ms: int) -> list[FillUpdate]:
        """The simulator's fill record (kept only with `retain_history`: a paper session keeps none)."""
        ids = {o.order_id: o.client_order_id for o in self.sim.all_orders(symbol)}
        return [wire.fill_from_user_trade(shapes.user_trade_json(f), ids.get(f.order_id, ""))
                for f in self.sim.state.fills if f.symbol == symbol and f.time >= start_ms]

    async def income(self, start_ms: int, income_type: str | None = None) -> list[BalanceUpdate]:
        """The simulator's transfers and funding (sim/income.py), read as the ccxt adapter reads Binance's income
        history (its fills' rows, which the adapter leaves out anyway, are not made)."""
        found = (wire.balance_from_income(income_json(row)) for row in self.sim.state.income.records
                 if row.time_ms >= start_ms and income_type in (None, row.income_type))
        return [update for update in found if update is not None]

    async def hedge_mode(self) -> bool:
        """The simulated account's position mode (sim/settings.py `change_position_mode`)."""
        return self.sim.account.dual_side

    async def klines(self, symbol: str, start_ms: int, end_ms: int) -> list[Kline]:
        """[]: the in-process simulator keeps no kline history (its bars come from the session's own feed)."""
        self.sim.instrument(symbol)
        return []

    async def events(self) -> AsyncIterator[ExchangeEvent]:
        """Everything the simulator logs from now on, translated; ends when the adapter closes."""
        queue: deque[SimEvent] = deque()
        self._queues.append(queue)
        try:
            while not self._closed.is_set():
                while queue:
                    for event in self._translate(queue.popleft()):
                        yield event
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), self._poll_interval)
            while queue:
                for event in self._translate(queue.popleft()):
                    yield event
        finally:
            self._queues.remove(queue)

    def drain(self) -> list[ExchangeEvent]:
        """Everything the simulator emitted since the previous `drain()` (the first call starts the record)."""
        if self._drained is None:
            self._drained = deque()
            self._queues.append(self._drained)
            return []
        queue, out = self._drained, []
        while queue:
            out.extend(self._translate(queue.popleft()))
        return out

    async def close(self) -> None:
        """Ends the event streams; a paper account kept on disk gets its last save (sim/paper_store.py)."""
        self._closed.set()
        self.sim.detach_listener()

    def _follow_clock(self) -> None:
        if self._now_ms is not None:
            self.sim.set_time(self._now_ms())

    def _algo(self, algo: AlgoOrder) -> OrderSnapshot:
        return algo_snapshot(algo, shapes.spawned_order(algo, self.sim))

    def _translate(self, event: SimEvent) -> list[ExchangeEvent]:
        """What the ccxt adapter's user-data stream makes of the event's wire form (wire.user_events), read
        straight off the event (inprocess_events.py)."""
        return port_events(event, self._position_at)

    def _position_at(self, row: PositionRow) -> PositionSnapshot:
        symbol = row.symbol
        same = self.sim.position(symbol).amount == row.amount  # the liquidation price now fits this row
        return position_from_row(row, mark=self.sim.mark_price(symbol), leverage=self.sim.account.leverage_of(symbol),
                                 liquidation=self.sim.liquidation_price(symbol) if same else None)
