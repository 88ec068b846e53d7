"""Fast bar replay: drive an `ExchangeSimulator` through chunks of bars, doing Python work only where it matters.

For all resting triggers at once (stops, take-profits, resting limits, liquidation prices) the chunk is
searched in arrays (`first_trigger_bar`); bars where nothing can happen are skipped wholesale, and a
bar where something can is replayed exactly, in Decimal, through `ExchangeSimulator.apply_bar`, the
same code that runs tick by tick. Memory stays flat: chunks stream, and with `retain_history=False`
finished orders are pruned and events go to a sink instead of a list.

Exact where it can be, explicit where it cannot:
* isolated liquidation prices depend only on their own position, so they are exact;
* a cross position's liquidation price moves with every other position's P&L, so it is refreshed every
  `cross_refresh_bars` bars (a cross liquidation may be seen up to that many bars late in this path);
* a symbol with a resting trailing stop is replayed bar by bar (its trigger moves with every bar).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ..domain.enums import AlgoStatus, MarginType, OrderType, Side, WorkingType
from .engine import ExchangeSimulator
from .events import Event
from .liquidation import liquidation_prices
from .triggers import TriggerKind, TriggerTable, first_trigger_bar

BarHook = Callable[[ExchangeSimulator, str, int, list[Event]], None]
F64 = npt.NDArray[np.float64]


class BarChunk(Protocol):
    """What the replay needs of a chunk of bars (marketdata.bars.BarChunk is one); T bars × S symbols."""

    @property
    def symbols(self) -> tuple[str, ...]: ...
    @property
    def open_time(self) -> npt.NDArray[np.int64]: ...
    @property
    def open(self) -> F64: ...
    @property
    def high(self) -> F64: ...
    @property
    def low(self) -> F64: ...
    @property
    def close(self) -> F64: ...
    def __len__(self) -> int: ...


@dataclass(frozen=True, slots=True)
class _GridBars:
    """A chunk with prices snapped to each symbol's tick."""

    symbols: tuple[str, ...]
    open_time: npt.NDArray[np.int64]
    open: F64
    high: F64
    low: F64
    close: F64

    def __len__(self) -> int:
        return len(self.open_time)


@dataclass(slots=True)
class ReplayStats:
    bars: int = 0
    symbol_bars: int = 0
    replayed_bars: int = 0
    chunks: int = 0


class BarReplayer:
    """Replays bar chunks; `on_bar(sim, symbol, open_time_ms, events)` runs after each replayed bar."""

    def __init__(self, sim: ExchangeSimulator, symbols: Sequence[str], on_bar: BarHook | None = None,
                 *, cross_refresh_bars: int = 60, prune_every_chunks: int = 1) -> None:
        self.sim = sim
        self.symbols = tuple(symbols)
        self.index = {s: i for i, s in enumerate(self.symbols)}
        self.on_bar = on_bar
        self.cross_refresh_bars = max(1, cross_refresh_bars)
        self.prune_every_chunks = prune_every_chunks
        self.table = TriggerTable(capacity=max(64, 4 * len(self.symbols)))
        self._keys: dict[str, list[int]] = {s: [] for s in self.symbols}
        self._always: set[str] = set()
        self._cross: set[str] = set()
        self._dirty: set[str] = set(self.symbols)
        self.stats = ReplayStats()
        self._ticks = np.array([float(sim.instrument(s).tick_size) for s in self.symbols], np.float64)
        previous = sim.state.event_sink

        def mark_dirty(event: Event) -> None:
            symbol = _event_symbol(event)
            if symbol is not None:
                self._dirty.add(symbol)
            if previous is not None:
                previous(event)

        sim.state.event_sink = mark_dirty

    def mark_dirty(self, symbol: str) -> None:
        """Call after changing something that emits no event (leverage, margin type)."""
        self._dirty.add(symbol)

    def run(self, chunks: Iterable[BarChunk]) -> ReplayStats:
        for chunk in chunks:
            self._run_chunk(chunk)
        return self.stats

    # --- one chunk --------------------------------------------------------------------------------
    def _run_chunk(self, raw: BarChunk) -> None:
        if tuple(raw.symbols) != self.symbols:
            raise ValueError("chunk symbols must match the replayer's symbols, in order")
        chunk = self._on_tick_grid(raw)
        n_bars = len(chunk)
        t = 0
        while t < n_bars:
            self._sync()
            funding_bar = self._funding_bar(chunk, t)
            if funding_bar == t:
                self._apply_funding(chunk, t)
                self._sync()
                funding_bar = self._funding_bar(chunk, t + 1)
            refresh = t + self.cross_refresh_bars if self._cross else n_bars
            horizon = min(n_bars, refresh, funding_bar)
            hit = self._next_hit(chunk, t, horizon)
            if hit is None:
                if horizon == refresh and horizon < n_bars:
                    self._settle_symbols(chunk, horizon - 1, self._cross)
                t = horizon
                continue
            t_hit, symbols = hit
            self._replay_bar(chunk, t_hit, symbols)
            t = t_hit + 1
        self._settle_symbols(chunk, n_bars - 1, self.symbols)
        self.stats.bars += n_bars
        self.stats.symbol_bars += n_bars * len(self.symbols)
        self.stats.chunks += 1
        if not self.sim.state.config.retain_history and self.stats.chunks % self.prune_every_chunks == 0:
            self.sim.state.prune_finished()

    def _on_tick_grid(self, chunk: BarChunk) -> BarChunk:
        """Snap prices to each symbol's tick once, so the float search and the Decimal replay agree."""
        ticks = self._ticks

        def snap(values: F64) -> F64:
            return np.asarray(np.round(values / ticks) * ticks, np.float64)

        return _GridBars(tuple(chunk.symbols), chunk.open_time, snap(chunk.open), snap(chunk.high), snap(chunk.low),
                         snap(chunk.close))

    def _next_hit(self, chunk: BarChunk, start: int, horizon: int) -> tuple[int, list[str]] | None:
        if self._always:
            return start, self._in_chunk_order(self._always | self._hit_symbols(chunk, start, start + 1))
        found = first_trigger_bar(self.table, chunk.high[:horizon], chunk.low[:horizon], start=start)
        if found is None:
            return None
        t_hit, keys = found
        return t_hit, self._in_chunk_order({self._key_symbol[int(k)] for k in keys})

    def _in_chunk_order(self, symbols: set[str]) -> list[str]:
        """Symbols hit on one bar are replayed in the chunk's column order, as a bar-by-bar run does."""
        return sorted(symbols, key=self.index.__getitem__)

    def _hit_symbols(self, chunk: BarChunk, start: int, stop: int) -> set[str]:
        found = first_trigger_bar(self.table, chunk.high[:stop], chunk.low[:stop], start=start)
        return set() if found is None else {self._key_symbol[int(k)] for k in found[1]}

    def _replay_bar(self, chunk: BarChunk, t: int, symbols: list[str]) -> None:
        state = self.sim.state
        open_time = int(chunk.open_time[t])
        if open_time > state.now_ms:
            self.sim.set_time(open_time)
        for symbol in symbols:
            s = self.index[symbol]
            o, h, lo, c = (float(chunk.open[t, s]), float(chunk.high[t, s]), float(chunk.low[t, s]),
                           float(chunk.close[t, s]))
            if np.isnan(o):
                continue
            inst = state.instrument(symbol)
            # The chunk is already on the tick grid; quantize only strips float noise (914.7500000000001).
            prices = [Decimal(repr(x)).quantize(inst.tick_size) for x in (o, h, lo, c)]
            if t > 0 and not np.isnan(chunk.close[t - 1, s]):
                self._place_market(symbol, float(chunk.close[t - 1, s]))
            events = self.sim.apply_bar(symbol, *prices)
            self.stats.replayed_bars += 1
            if self.on_bar is not None:
                self.on_bar(self.sim, symbol, open_time, events)

    def _place_market(self, symbol: str, price: float) -> None:
        """Set a symbol's price without settling: the prefilter proved nothing could happen there."""
        market = self.sim.state.market(symbol)
        value = Decimal(repr(price)).quantize(market.instrument.tick_size)
        market.last = market.mark = value

    def _funding_bar(self, chunk: BarChunk, start: int) -> int:
        """Index of the first bar at or after `start` whose open is at or past the next funding time."""
        state = self.sim.state
        if state.funding_due_ms <= state.now_ms:
            self.sim.set_time(state.now_ms)  # refreshes the cached next funding time
        index = int(np.searchsorted(chunk.open_time, state.funding_due_ms, side="left"))
        return max(index, start)

    def _funding_symbols(self) -> list[str]:
        return sorted({p.symbol for p in self.sim.state.account.open_positions()})

    def _apply_funding(self, chunk: BarChunk, t: int) -> None:
        """Funding is paid at the mark of its moment: bring positions' prices up to date, then move the clock."""
        if t > 0:
            for symbol in self._funding_symbols():
                close = float(chunk.close[t - 1, self.index[symbol]])
                if not np.isnan(close):
                    self._place_market(symbol, close)
        self.sim.set_time(int(chunk.open_time[t]))

    def _settle_symbols(self, chunk: BarChunk, t: int, symbols: Iterable[str]) -> None:
        for symbol in symbols:
            close = float(chunk.close[t, self.index[symbol]])
            if not np.isnan(close):
                self._place_market(symbol, close)
        if int(chunk.open_time[t]) > self.sim.state.now_ms:
            self.sim.set_time(int(chunk.open_time[t]))
        self._dirty.update(self._cross)

    # --- keeping the trigger table in step with the simulator ---------------------------------------
    _key_symbol: dict[int, str]

    def _sync(self) -> None:
        if not hasattr(self, "_key_symbol"):
            self._key_symbol = {}
        for symbol in sorted(self._dirty):
            for key in self._keys[symbol]:
                self.table.discard(key)
                self._key_symbol.pop(key, None)
            self._keys[symbol] = self._collect(symbol)
        self._dirty.clear()

    def _collect(self, symbol: str) -> list[int]:
        state, s = self.sim.state, self.index[symbol]
        keys: list[int] = []
        self._always.discard(symbol)
        self._cross.discard(symbol)

        def add(key: int, kind: TriggerKind, side: Side, price: Decimal, use_mark: bool) -> None:
            self.table.add(key, s, kind, side.sign, float(price), use_mark=use_mark)
            self._key_symbol[key] = symbol
            keys.append(key)

        for algo in state.open_algos(symbol):
            if algo.status is not AlgoStatus.NEW:
                continue
            if algo.order_type is OrderType.TRAILING_STOP_MARKET:
                self._always.add(symbol)
                continue
            kind = TriggerKind.STOP if algo.order_type.is_stop_family else TriggerKind.TAKE_PROFIT
            add(algo.algo_id, kind, algo.side, algo.trigger_price, algo.working_type is WorkingType.MARK_PRICE)
        for order in state.open_orders(symbol):
            if order.type is OrderType.LIMIT:
                # A BUY limit fills when price falls to it: the condition of a BUY take-profit.
                add(order.order_id, TriggerKind.TAKE_PROFIT, order.side, order.price, False)
        for n, (lp, pos) in enumerate(liquidation_prices(state, symbol)):
            side = Side.SELL if pos.amount > 0 else Side.BUY
            add(-(s * 4 + n + 1), TriggerKind.LIQUIDATION, side, lp, True)
            if pos.margin_type is MarginType.CROSSED:
                self._cross.add(symbol)
        return keys


def _event_symbol(event: Event) -> str | None:
    body = event.get("o")
    if isinstance(body, dict) and "s" in body:
        return str(body["s"])
    account = event.get("a")
    if isinstance(account, dict):
        positions = account.get("P") or []
        return str(positions[0]["s"]) if positions else None
    symbol = event.get("symbol")
    return str(symbol) if symbol is not None else None
