"""Fast bar replay: drive an `ExchangeSimulator` through chunks of bars, doing Python work only where it matters.

For all resting triggers at once (stops, take-profits, resting limits, liquidation prices) the chunk is
searched in arrays (per-symbol levels, replay_triggers.py); bars where nothing can happen are skipped
wholesale, and a bar where something can is replayed exactly, in Decimal, through
`ExchangeSimulator.apply_bar`, the same code that runs tick by tick. Memory stays flat: chunks stream,
and with `retain_history=False` finished orders are pruned and events go to a sink instead of a list.

Two ways to drive it: `run(chunks)` with a per-symbol `on_bar` hook, or `steps(chunk, stops)`, a
generator that also stops at bars the caller asks for and lets it act between bars (the backtest
engine). `run` is `steps` without stops.

Exact where it can be, explicit where it cannot:
* isolated liquidation prices depend only on their own position, so they are exact;
* a cross position's liquidation price moves with every other position's P&L, so it is refreshed every
  `cross_refresh_bars` bars (a cross liquidation may be seen up to that many bars late in this path);
* a symbol with a resting trailing stop is replayed bar by bar (its trigger moves with every bar).

Recorded mark prices (`steps(..., marks=)`, mark-price klines aligned to the chunk) replace the mark =
last approximation: a bar with a mark bar is replayed by `replay_mark.apply_marked_bar` (last and mark on
their own paths), prices set without replaying carry the mark close, and the trigger search looks at the
union of both ranges (a MARK_PRICE stop or a liquidation may be reached by the mark alone). Bars without
a mark bar (NaN) are replayed exactly as without marks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from .engine import ExchangeSimulator
from .events import Event, SimEvent
from .replay_equity import EquityWatch
from .replay_grid import BarChunk, GridBars, on_tick_grid, whole_ticks
from .replay_mark import MarkBars, apply_marked_bar, recorded_mark, recorded_price
from .replay_requests import StopPlan, StopRequests
from .replay_step import ReplayStats, ReplayStep
from .replay_triggers import SymbolThresholds
from .replay_volatility import BarVolatility

BarHook = Callable[[ExchangeSimulator, str, int, list[Event]], None]
_NONE: frozenset[str] = frozenset()
F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


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
        self.levels = SymbolThresholds(sim.state, self.symbols)
        self._dirty: set[str] = set(self.symbols)
        #: Symbols whose liquidation prices alone may have moved (funding, a cross refresh).
        self._liq_dirty: set[str] = set()
        self.stats = ReplayStats()
        #: Requested stops, less the symbols muted (see `mute`).
        self._requests = StopRequests(self.index)
        self._suspended: tuple[GridBars, int, set[str]] | None = None
        #: The last funding-bar search: the chunk's open times (kept, compared by identity), the funding time, its bar.
        self._funding_search: tuple[npt.NDArray[np.int64] | None, int, int] = (None, 0, 0)
        #: Changes whenever a call of this replayer may have moved a price or the account (it moves prices
        #: without events): readers that memoize account figures (exchange/inprocess.py) key on it.
        self.revision = 0
        self._ticks = np.array([float(sim.instrument(s).tick_size) for s in self.symbols], np.float64)
        self._tick_floats = {s: float(sim.instrument(s).tick_size) for s in self.symbols}  # plain floats: fast round
        self.volatility = BarVolatility(sim.state.volatility, self.symbols,
                                        np.array([_known_price(sim, s) for s in self.symbols], np.float64))
        #: Set `equity.floor` and the replay also suspends at the first close that may put equity at or below it;
        #: set `equity.drawdown` and it is told the equity at every close (`EquityWatch.record`).
        self.equity = EquityWatch(sim.state, self.index)
        previous = sim.state.event_sink

        def mark_dirty(event: SimEvent) -> None:
            # The symbol the event is about; a funding payment moves an isolated margin (so a liquidation
            # price), never an order; a fill's position rows are what the equity watch must read again.
            symbol = event.symbol
            if symbol is not None:
                funding = event.funding
                (self._liq_dirty if funding else self._dirty).add(symbol)
                if not funding:
                    for changed in event.position_symbols:
                        self.equity.position_changed(changed)
            if previous is not None:
                previous(event)

        sim.state.event_sink = mark_dirty

    def mark_dirty(self, symbol: str) -> None:
        """Call after changing something that emits no event (leverage, margin type)."""
        self._dirty.add(symbol)

    def mute(self, symbols: Iterable[str]) -> None:
        """Ignore requested stops for exactly these symbols from now on (an empty set unmutes all).

        A caller that knows a request cannot lead anywhere (the backtest: a signal for a symbol that
        already holds a position, or while every position slot is taken) mutes it, so the replay does
        not stop at bars where nothing can happen. Triggers are never muted.
        """
        self._requests.mute(symbols)

    def replay_now(self, symbols: Iterable[str]) -> tuple[str, ...]:
        """While suspended at a step, also replay the current bar for `symbols` not replayed there yet.

        For a request that became possible during the step (a stop-loss at this bar freed the symbol
        or a position slot): the symbol is brought to this bar's close exactly as if it had been
        requested, so the caller can act on it at this bar, as a live session would at the close.
        Returns every given symbol that now stands at this bar's close (with data), in column order.
        """
        if self._suspended is None:
            raise RuntimeError("replay_now is only possible while suspended at a step")
        grid, t, done = self._suspended
        wanted = set(symbols)
        fresh = self._in_chunk_order(wanted - done)
        if fresh:
            done.update(self._replay_bar(grid, t, fresh))
            self.revision += 1
        return tuple(s for s in self._in_chunk_order(wanted) if s in done)

    def settle_now(self, symbols: Iterable[str]) -> None:
        """While suspended at bar t, move `symbols` not replayed there to bar t's close without replaying.

        Safe because the trigger search proved nothing of theirs can fire at bar t (they would be in the
        step otherwise); it makes account figures (equity, available margin) exact at this bar's close,
        which is what sizing a new entry needs.
        """
        if self._suspended is None:
            raise RuntimeError("settle_now is only possible while suspended at a step")
        grid, t, done = self._suspended
        # One array pass over the bar's whole row (cheaper than picking the symbols' columns first): with
        # hundreds of positions open, this runs for each of them at every signal step.
        units, valid = whole_ticks(grid.close[t], self._ticks)
        marks = None if grid.mark is None else grid.mark.close[t].tolist()
        if self._place_row(symbols, done, units, valid, marks):
            self.revision += 1
        self._liq_dirty.update(self.levels.cross)  # cross liquidation prices move with every mark

    def run(self, chunks: Iterable[BarChunk]) -> ReplayStats:
        for chunk in chunks:
            for _ in self.steps(chunk):
                pass
        return self.stats

    def steps(self, chunk: BarChunk, stops: Bools | None = None, marks: MarkBars | None = None,
              checkpoints: Sequence[int] = ()) -> Iterator[ReplayStep]:
        """Replay one chunk as `run` does, suspending after every replayed bar; `stops[t, s]` forces a bar.

        The backtest engine drives the simulator through this: it asks to be stopped at the bars where it
        has something to do (a signal), and the replayer also stops where a resting trigger may fire. At a
        stop every requested symbol and every symbol a trigger may hit is replayed (so its last and mark
        are the bar's close and its triggers ran), then one `ReplayStep` is yielded. While suspended the
        caller may place or cancel orders (their events mark the symbol dirty) or change settings (call
        `mark_dirty`); the trigger levels are re-synced on resume, so an order placed at bar t can fire
        at bar t + 1. Symbols not replayed at a step hold a stale price: act only on `step.symbols`. A
        requested symbol without data at that bar (NaN) is not replayed and not listed, but the step is
        still yielded. `on_bar`, if set, runs after each symbol's apply_bar here too. `marks`: the chunk's
        recorded mark-price bars, if any (see the module doc). `checkpoints`: bars c (0 < c < len(chunk))
        before which the replay also suspends, once everything up to bar c - 1 has happened and before
        anything of bar c (its funding included), with every open position at bar c - 1's close: a
        `checkpoint` step at t = c - 1 (the backtest's end-of-day equity). With `equity.floor` set (read
        afresh after every suspension), a checkpoint step also comes after the first close, but the chunk's
        last, whose equity may be at or below it (the backtest's daily loss limit, read at every close as a
        live session reads it every minute; the caller's exact reading decides).
        """
        if tuple(chunk.symbols) != self.symbols:
            raise ValueError("chunk symbols must match the replayer's symbols, in order")
        grid = on_tick_grid(chunk, self._ticks, marks)
        n_bars = len(grid)
        requested = self._requests.plan(stops, n_bars)
        self.volatility.start_chunk(grid.open, grid.high, grid.low, grid.close)
        self.equity.start_chunk(grid)
        pending = iter(sorted({int(c) for c in checkpoints if 0 < c < n_bars}))
        checkpoint, breach = next(pending, n_bars), n_bars
        t = 0
        while t < n_bars:
            if t in (checkpoint, breach):  # every bar before it was searched: nothing can fire there
                self.equity.flush()  # the caller may act there
                yield from self._checkpoint(grid, t - 1)
                self.equity.record(t - 1, t)  # that close again, as the caller left it (a kill switch's exits)
                if t == checkpoint:
                    checkpoint = next(pending, n_bars)
            funding_bar = self._pay_funding_due(grid, t)
            refresh = t + self.cross_refresh_bars if self.levels.cross else n_bars
            horizon = min(n_bars, refresh, funding_bar, checkpoint)
            breach = self._breach_checkpoint(t, horizon, n_bars)
            horizon = min(horizon, breach)
            stop_bar = self._requests.next_stop(requested, t)
            step: ReplayStep | None = None
            if stop_bar < horizon:
                hit = self._next_hit(grid, t, stop_bar + 1)
                if hit is None or hit[0] == stop_bar:
                    assert requested is not None  # stop_bar < horizon only when something was requested
                    self.equity.record(t, stop_bar)  # the quiet closes before it, positions standing
                    step = self._stop_step(grid, stop_bar, requested, [] if hit is None else hit[1])
            else:
                hit = self._next_hit(grid, t, horizon)
            if step is None and hit is None:
                self.equity.record(t, horizon)
                if horizon == refresh and horizon < n_bars:
                    self._settle_symbols(grid, horizon - 1, self.levels.cross)
                t = horizon
                continue
            if step is None:
                assert hit is not None
                self.equity.record(t, hit[0])
                step = ReplayStep(hit[0], int(grid.open_time[hit[0]]), self._replay_bar(grid, *hit), ())
            yield from self._suspend(grid, step)
            breach = self._breach_checkpoint(step.t, step.t + 1, n_bars)  # a fill at the step may reach the floor
            self.equity.record(step.t, step.t + 1, later=True)  # its close, as the step and the caller left it
            t = step.t + 1
        self.equity.flush()
        self._finish_chunk(grid, n_bars)
        self.revision += 1

    def _breach_checkpoint(self, t: int, horizon: int, n_bars: int) -> int:
        """The bar before which to suspend for the equity floor: just after the first close in [t, horizon)
        that may be at or below it; else `n_bars` (the chunk's last close is read at its end by the caller)."""
        bar = self.equity.first_breach(t, horizon)
        return n_bars if bar is None else bar + 1

    def _suspend(self, grid: GridBars, step: ReplayStep) -> Iterator[ReplayStep]:
        """Yield `step` with the replay suspended at its bar (where `replay_now` and `settle_now` work)."""
        self._suspended = (grid, step.t, set(step.symbols))
        self.revision += 1
        yield step
        self._suspended = None

    def _checkpoint(self, grid: GridBars, t: int) -> Iterator[ReplayStep]:
        """Suspend after bar t with every open position at its close (as funding at the next bar would put
        them), nothing replayed: the account reads as it did at that close. A fill there (the daily loss
        limit's kill switch) sees the data's volatility up to that close, as at a chunk's end."""
        symbols = self._funding_symbols()
        self._settle_symbols(grid, t, symbols)
        for symbol in symbols:
            s = self.index[symbol]
            if np.isnan(grid.close[t, s]):  # no bar at t: its last close before it (what the equity watch reads)
                held = np.flatnonzero(~np.isnan(grid.close[:t, s]))
                if held.size:
                    self._place_market(symbol, float(grid.close[held[-1], s]), grid.mark_close(int(held[-1]), s))
            self.volatility.set_tracker(symbol, t + 1, s, self.sim.state.market(symbol).last)
        yield from self._suspend(grid, ReplayStep(t, int(grid.open_time[t]), (), (), checkpoint=True))

    def _stop_step(self, grid: GridBars, t: int, plan: StopPlan, hit: list[str]) -> ReplayStep:
        """Replay a requested bar: the requested symbols and those a trigger may hit, in column order."""
        wanted = {self.symbols[s] for s in self._requests.wanted_at(plan, t)}
        replayed = self._replay_bar(grid, t, self._in_chunk_order(wanted.union(hit)))
        stopped = tuple(s for s in replayed if s in wanted)
        return ReplayStep(t, int(grid.open_time[t]), replayed, stopped)

    def _finish_chunk(self, grid: GridBars, n_bars: int) -> None:
        """Every symbol ends the chunk at its last close; stats, and pruning of finished orders."""
        if n_bars:
            self._settle_symbols(grid, n_bars - 1, self.symbols)
            # A fill before the next replayed bar (a kill switch at the chunk's end) must see the data's
            # volatility, not that of whichever bar happened to be replayed last.
            for s, symbol in enumerate(self.symbols):
                self.volatility.set_tracker(symbol, n_bars, s, self.sim.state.market(symbol).last)
        self.volatility.end_chunk()
        self.stats.bars += n_bars
        self.stats.symbol_bars += n_bars * len(self.symbols)
        self.stats.chunks += 1
        if not self.sim.state.config.retain_history and self.stats.chunks % self.prune_every_chunks == 0:
            self.sim.state.prune_finished()

    def _next_hit(self, chunk: GridBars, start: int, horizon: int) -> tuple[int, list[str]] | None:
        high = chunk.high if chunk.reach_high is None else chunk.reach_high
        low = chunk.low if chunk.reach_low is None else chunk.reach_low
        always = self.levels.always
        if always:
            found = self.levels.first_hit(high, low, start, start + 1)
            return start, self._in_chunk_order(always.union(found[1] if found else ()))
        return self.levels.first_hit(high, low, start, horizon)

    def _in_chunk_order(self, symbols: set[str]) -> list[str]:
        """Symbols hit on one bar are replayed in the chunk's column order, as a bar-by-bar run does."""
        return sorted(symbols, key=self.index.__getitem__)

    def _replay_bar(self, chunk: GridBars, t: int, symbols: list[str]) -> tuple[str, ...]:
        """Replay bar t of `symbols` exactly (apply_bar); the symbols with data there, in order."""
        state = self.sim.state
        replayed: list[str] = []
        open_time = int(chunk.open_time[t])
        if open_time > state.now_ms:
            self.sim.set_time(open_time)
        for symbol in symbols:
            s = self.index[symbol]
            o, h, lo, c = (float(chunk.open[t, s]), float(chunk.high[t, s]), float(chunk.low[t, s]),
                           float(chunk.close[t, s]))
            if np.isnan(o):
                continue
            replayed.append(symbol)
            inst = state.instrument(symbol)
            # The chunk is already on the tick grid: whole ticks times the tick, exact in Decimal.
            tick, tick_f = inst.tick_size, self._tick_floats[symbol]
            prices = [Decimal(round(x / tick_f)) * tick for x in (o, h, lo, c)]
            if t > 0 and not np.isnan(chunk.close[t - 1, s]):
                self._place_market(symbol, float(chunk.close[t - 1, s]), chunk.mark_close(t - 1, s))
            market = state.markets.get(symbol)
            if market is not None:
                self.volatility.set_tracker(symbol, t, s, market.last)
            marks = recorded_mark(chunk.mark, t, s)
            events = self.sim.apply_bar(symbol, *prices) if marks is None else \
                apply_marked_bar(self.sim, symbol, (prices[0], prices[1], prices[2], prices[3]), marks)
            self.stats.replayed_bars += 1
            if self.on_bar is not None:
                self.on_bar(self.sim, symbol, open_time, events)
        return tuple(replayed)

    def _place_market(self, symbol: str, price: float, mark: float = math.nan) -> None:
        """Set a symbol's price without settling: the prefilter proved nothing could happen there. The mark is
        the recorded one when given, else the last. A NaN price (no data at this bar) changes nothing."""
        if price == price:
            unit = round(price / self._tick_floats[symbol])
            self._place_row((symbol,), _NONE, (unit,), (True,), (mark,), {symbol: 0})

    def _place_row(self, symbols: Iterable[str], skip: AbstractSet[str], units: Sequence[int],
                   valid: Sequence[bool], marks: Sequence[float] | None,
                   columns: Mapping[str, int] | None = None) -> bool:
        """Each of `symbols` not in `skip` at its price in a row of whole ticks (by column, `columns` or the
        replayer's own), unless not `valid` there; the recorded mark where `marks` has one. True if any
        was given. settle_now runs this for every open position at every signal step, so the lookups are
        hoisted out of the loop and nothing is called per symbol in the common case (Instrument.tick_size
        read without its property)."""
        state = self.sim.state
        get_market = state.markets.get
        index = self.index if columns is None else columns
        placed = False
        for symbol in symbols:
            if symbol in skip:
                continue
            placed = True
            s = index[symbol]
            if not valid[s]:
                continue
            market = get_market(symbol)
            if market is None:
                market = state.market(symbol)
            market.last = market.mark = Decimal(units[s]) * market.instrument.price_filter.tick_size
            if marks is not None:
                mark = marks[s]
                if mark == mark:  # not NaN
                    market.mark = recorded_price(mark)
        return placed

    def _pay_funding_due(self, grid: GridBars, t: int) -> int:
        """Trigger levels re-synced and the funding due at bar t's open paid (if any); returns the next
        funding bar after that."""
        self._sync()
        funding_bar = self._funding_bar(grid, t)
        if funding_bar == t:
            self._apply_funding(grid, t)
            self._sync()
            funding_bar = self._funding_bar(grid, t + 1)
        return funding_bar

    def _funding_bar(self, chunk: GridBars, start: int) -> int:
        """Index of the first bar at or after `start` whose open is at or past the next funding time."""
        state = self.sim.state
        if state.funding_due_ms <= state.now_ms:
            self.sim.set_time(state.now_ms)  # refreshes the cached next funding time
        times, due, index = self._funding_search  # most steps ask the same search again: remembered
        if times is not chunk.open_time or due != state.funding_due_ms:
            times, due = chunk.open_time, state.funding_due_ms
            index = int(times.searchsorted(due, side="left"))
            self._funding_search = (times, due, index)
        return max(index, start)

    def _funding_symbols(self) -> list[str]:
        return sorted({p.symbol for p in self.sim.state.account.open_positions()})

    def _apply_funding(self, chunk: GridBars, t: int) -> None:
        """Funding is paid at the mark of its moment: bring positions' prices up to date, then move the clock."""
        if t > 0:
            for symbol in self._funding_symbols():
                close = float(chunk.close[t - 1, self.index[symbol]])
                if not np.isnan(close):
                    self._place_market(symbol, close, chunk.mark_close(t - 1, self.index[symbol]))
        self.sim.set_time(int(chunk.open_time[t]))

    def _settle_symbols(self, chunk: GridBars, t: int, symbols: Iterable[str]) -> None:
        for symbol in symbols:
            close = float(chunk.close[t, self.index[symbol]])
            if not np.isnan(close):
                self._place_market(symbol, close, chunk.mark_close(t, self.index[symbol]))
        if int(chunk.open_time[t]) > self.sim.state.now_ms:
            self.sim.set_time(int(chunk.open_time[t]))
        self._liq_dirty.update(self.levels.cross)

    # --- keeping the trigger levels in step with the simulator ---------------------------------------
    def _sync(self) -> None:
        levels = self.levels
        for symbol in self._dirty:
            levels.refresh(symbol)
        for symbol in self._liq_dirty - self._dirty:
            levels.refresh_liquidation(symbol)
        self._dirty.clear()
        self._liq_dirty.clear()


def _known_price(sim: ExchangeSimulator, symbol: str) -> float:
    """The symbol's last price if the simulator has one yet, else NaN (the first bar then has no gap move)."""
    market = sim.state.markets.get(symbol)
    return float(market.last) if market is not None and market.last > 0 else math.nan
