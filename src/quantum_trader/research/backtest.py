"""`backtest`: the live engine on a simulated clock, jumping from one bar that matters to the next.

The strategy scores a whole chunk at once; the replayer (sim/replay.py) stops only at bars where a
signal arrives or a resting stop, take-profit or liquidation may trigger, replays those exactly in
Decimal, and the same risk, execution, trade tracker and journal that run live handle what happened
there. Between stops, nothing can happen, so nothing runs.

Which signal bars may be skipped is asked of the risk rules live uses (risk/rules.py), never of risk's
internals: signals a rule refuses on their own (`signal_refusal`: below QT_MIN_CONFIDENCE, say) are
dropped before the replay, and symbols the rules block until something changes (`blocked`: already in a
position, every slot taken, a manual halt, no margin left) are muted. A new rule thus changes both, and skipping stays
an optimisation: `skip_refused=False` sends every signal to risk and must give the same trades.

With `companions` (mark-price klines and funding files beside the klines: marketdata/companions.py) the
replay uses the recorded marks (MARK_PRICE stops and liquidations see the real mark) and funding is paid at
the recorded rates on the recorded intervals; without them, mark = last and the simulator's default rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain
from typing import Any

import numpy as np

from ..core.clock import SimulatedClock
from ..core.heap import no_full_collections
from ..core.logging import SIMULATED_NOW
from ..core.monitor_metrics import NoMetrics
from ..domain.events import EquitySnapshot, RiskDecision, TradeClosed, TradeOpened
from ..domain.instrument import Instrument
from ..exchange.inprocess import InProcessExchange
from ..marketdata.bars import BarChunk
from ..marketdata.companions import Companions, MarkAligner
from ..marketdata.holes import DataHole, check_gap
from ..readmodels.refusals import RefusalTally, no_signal_traded
from ..risk.rules import ALL, Blocked
from ..runtime.pump import publish_all
from ..runtime.wiring import Engine, JournalLike, TradingRules, protect_engine, wire_engine
from ..signals.strategy import SignalBatch, Strategy, signal_event
from ..sim.engine import ExchangeSimulator
from ..sim.recorded_funding import use_recorded_funding
from ..sim.replay import BarReplayer
from ..sim.replay_drawdown import DrawdownWatch
from ..sim.replay_mark import MarkBars
from ..sim.replay_step import ReplayStep
from ..sim.state import SimConfig
from ..sim.traded_prices import admit_traded_prices
from ..trading.audit import audit_rows, audit_summary
from ..trading.monitor import MonitorConfig
from ..trading.performance import Drawdown, performance_report
from .at_end import EndOfRun, read_end
from .kill_digest import KillSwitchDigest
from .price_tape import PriceTape
from .replay_skips import Bools, ReplaySkips

DAY_MS = 86_400_000
Progress = Callable[[int], None]


@dataclass
class BacktestResult:
    trades: list[TradeClosed]
    report: dict[str, Any]
    bars: int
    symbol_bars: int
    seconds: float
    open_positions: int = 0
    equity_curve: list[tuple[int, Decimal]] = field(default_factory=list)
    #: For reports only (None unless `keep_prices`): the closes, and each trade's opening (its take-profit).
    prices: PriceTape | None = None
    opened: list[TradeOpened] = field(default_factory=list)
    #: Each symbol's tick, so a report shows prices to it.
    ticks: dict[str, Decimal] = field(default_factory=dict)
    #: Risk's decisions and its refusals by kind (readmodels/refusals.py `RefusalTally.to_json`).
    refusals: dict[str, Any] = field(default_factory=dict)
    #: The final equity and the positions still open, which net_pnl (closed trades) leaves out (at_end.py).
    end: EndOfRun | None = None
    #: What ran: strategy, parameters and settings in effect, data, period, symbols (research/run_spec.py).
    run: dict[str, Any] | None = None
    #: The strategy's tally, for one that keeps one (the AI scanner: readmodels/refusals.py `tally_of`).
    tally: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {**({} if self.run is None else {"run": self.run}), **self.report, "bars": self.bars,
                "symbol_bars": self.symbol_bars, "seconds": round(self.seconds, 3),
                "bars_per_s": round(self.symbol_bars / self.seconds) if self.seconds else None,
                "open_positions_at_end": self.open_positions, **({} if self.end is None else self.end.to_json()),
                "refusals": self.refusals,
                **({} if self.tally is None else {"signal_tally": self.tally,
                                                  "why_no_trade": no_signal_traded(self.tally)})}


class _Collector:
    """Closed trades and a daily equity curve, as the report needs them (the curve is the Sharpe ratio's and the
    report's chart; the max drawdown reads every close: `_Run.drawdown`).

    The curve holds each UTC day's closing equity (a snapshot at 00:00 is the close of the day before:
    the backtest takes one at every midnight the data crosses, at every chunk's end, and at closes where
    the daily loss limit may act, which a later reading of the same day replaces) and, as the
    close of the day before the first bar, the starting balance, so the first day's return counts in
    the Sharpe ratio like every other day's (it was left out: a run that lost 8 % on its first day and
    drifted back a little showed a positive Sharpe)."""

    def __init__(self, start_ms: int, balance: Decimal) -> None:
        self.trades: list[TradeClosed] = []
        self.opened: list[TradeOpened] = []
        #: UTC day → (time of its last reading, equity then).
        self.daily: dict[int, tuple[int, Decimal]] = {start_ms // DAY_MS - 1: (start_ms, balance)}

    def on_opened(self, event: TradeOpened) -> None:
        self.opened.append(event)

    def on_closed(self, event: TradeClosed) -> None:
        self.trades.append(event)

    def on_equity(self, event: EquitySnapshot) -> None:
        self.daily[(event.time_ms - 1) // DAY_MS] = (event.time_ms, event.equity)  # readings come in time order

    def curve(self) -> list[tuple[int, Decimal]]:
        """Each UTC day's closing equity, in time order, stamped with the time it was read (the next
        midnight; the start for the balance, the last bar's close for the last day)."""
        return sorted(self.daily.values())


async def run_backtest(chunks: Iterable[BarChunk], instruments: Mapping[str, Instrument], strategy: Strategy,
                       rules: TradingRules, *, balance: Decimal = Decimal(10_000), seed: int = 7,
                       journal: JournalLike | None = None, progress: Progress | None = None,
                       skip_refused: bool = True, companions: Companions | None = None,
                       keep_prices: bool = False) -> BacktestResult:
    """`skip_refused=False` visits every signal bar (slower; the tests prove both give the same trades).
    `companions`: recorded mark prices and funding to replay (see the module doc). `keep_prices`: keep the
    closes and trade openings a report draws (`BacktestResult.prices`, `.opened`); off, nothing is kept."""
    started = time.perf_counter()
    stream = iter(chunks)
    simulated = SIMULATED_NOW.set(None)
    try:
        first = next(stream, None)
        if first is None:
            raise ValueError("backtest: the data holds no bars")
        run = _open_run(first, instruments, rules, balance, seed, journal, companions, keep_prices)
        SIMULATED_NOW.set(run.clock.now_ms)  # log lines say when in the data they happened
        await _snapshot_equity(run.engine)  # the first day's starting equity, for the daily loss limit too
        with no_full_collections():  # the replay's allocations set off none (core/heap.py)
            bars, symbol_bars, chunk = await _replay_all(run, chain([first], stream), strategy, skip_refused,
                                                         journal, progress)
        end = await read_end(run.engine, balance)
        run.drawdown.add(end.final_equity)
    finally:  # a reader stopped half way (a refused hole, an error) closes its files now, not at exit
        SIMULATED_NOW.reset(simulated)
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    seconds = time.perf_counter() - started
    curve = run.collector.curve()
    report = _report(run.collector.trades, curve, balance, bars, chunk.interval_ms,
                     Drawdown(run.drawdown.usdt, run.drawdown.pct))
    return BacktestResult(trades=run.collector.trades, report=report, bars=bars,
                          symbol_bars=symbol_bars, seconds=seconds,
                          open_positions=len(run.engine.trades.open), equity_curve=curve, prices=run.tape,
                          opened=run.collector.opened,
                          ticks={s: instruments[s].tick_size for s in run.replayer.symbols},
                          refusals=run.refusals.to_json(), end=end)


async def _replay_all(run: _Run, chunks: Iterable[BarChunk], strategy: Strategy, skip_refused: bool,
                      journal: JournalLike | None, progress: Progress | None) -> tuple[int, int, BarChunk]:
    """Every chunk through the engine; (bars replayed, symbol-bars with data, the last chunk).

    A symbol-bar counts where the symbol has a bar (not NaN): a folder of 2023 and 2026 files run to
    --end 2023-03-01 holds two symbols with no bar at all then, and a symbol listed mid-period has none
    before; counting every column of every row gave 282,240 symbol-bars (and bars/s) for the 201,600 bars
    the same trades were made on. Leaving such symbols out instead would need the whole period read before
    the run starts, and would still count a late listing's missing bars."""
    bars, symbol_bars, previous_open, chunk = 0, 0, None, None
    for chunk in chunks:
        refuse_a_hole(previous_open, chunk)
        previous_open = int(chunk.open_time[-1])
        await _run_chunk(run.engine, run.clock, run.exchange, run.replayer, strategy, chunk, skip_refused,
                         None if run.marks is None else run.marks.align(chunk))
        await _close_chunk(run, chunk)
        bars += len(chunk)
        symbol_bars += int(np.count_nonzero(~np.isnan(chunk.close)))
        if journal is not None:
            journal.flush()
        if progress is not None:
            progress(len(chunk))
    assert chunk is not None  # the caller passes the first chunk it read
    return bars, symbol_bars, chunk


def refuse_a_hole(previous_open: int | None, chunk: BarChunk, command: str = "backtest") -> None:
    """ValueError at a hole in the data (marketdata/holes.py); the fix is to run each period on its own.
    `command`: what refuses (a sweep checks its bars once, before any of its backtests)."""
    try:
        check_gap(previous_open, chunk)
    except DataHole as hole:
        raise ValueError(f"{command}: the data has {hole}; a backtest would carry open positions and pay funding "
                         "across that hole: run each period on its own (--start/--end, or one period's files)"
                         ) from None


@dataclass
class _Run:
    """One backtest's simulator side (adapter, clock, replayer) and engine side, and what it collects."""

    engine: Engine
    clock: SimulatedClock
    exchange: InProcessExchange
    replayer: BarReplayer
    collector: _Collector
    tape: PriceTape | None
    marks: MarkAligner | None
    refusals: RefusalTally
    #: The equity at every bar close the replay passes, and every snapshot: the report's max drawdown.
    drawdown: DrawdownWatch


def _open_run(first: BarChunk, instruments: Mapping[str, Instrument], rules: TradingRules, balance: Decimal,
              seed: int, journal: JournalLike | None, companions: Companions | None, keep_prices: bool) -> _Run:
    """The simulator at the first bar, the live engine wired to it on a simulated clock, and the collectors."""
    symbols = [s for s in first.symbols if s in instruments]
    if len(symbols) != len(first.symbols):
        missing = sorted(set(first.symbols) - set(instruments))
        raise ValueError(f"backtest: no instrument for {', '.join(missing)} in the universe: a kline file's symbol is "
                         "the first part of its name, as in BTCUSDT-1m-2024-01.csv; name each file after its symbol")
    start_ms = int(first.open_time[0])
    sim = ExchangeSimulator({s: instruments[s] for s in symbols},
                            SimConfig(balance=balance, default_leverage=rules.leverage, seed=seed,
                                      start_time_ms=start_ms, retain_history=False))
    marks: MarkAligner | None = None
    if companions:
        use_recorded_funding(sim, companions.funding(symbols))
        marks = companions.marks(symbols, first.interval_ms)
    clock = SimulatedClock(start_ms)
    # The simulator follows the engine's clock at every order: an entry fills at the close it was decided at (not
    # the bar's open, 60 s before its order), after funding due then, which only positions held then pay.
    exchange = InProcessExchange(sim, now_ms=clock.now_ms)
    exchange.drain()
    # One warning per kill switch, not per position it closes (kill_digest.py); other modes log each exit.
    digest = KillSwitchDigest()
    engine = wire_engine(clock, exchange, sim.state.instruments, rules, journal=journal, exit_log=digest)
    digest.attach(engine.bus)
    # Reactive repairs (a stop expired, cancelled or rejected) run in backtests too; the daily loss limit flattens.
    monitor, _ = protect_engine(engine, NoMetrics(), MonitorConfig(interval_s=60.0), with_stop_witness=False,
                                with_exit_lookup=False)
    assert monitor is not None
    collector, refusals = _Collector(start_ms, balance), RefusalTally()
    engine.bus.subscribe(TradeClosed, collector.on_closed)
    engine.bus.subscribe(EquitySnapshot, collector.on_equity)
    engine.bus.subscribe(RiskDecision, refusals.on_decision)
    tape = PriceTape() if keep_prices else None
    if tape is not None:
        engine.bus.subscribe(TradeOpened, collector.on_opened)
        engine.bus.subscribe(TradeOpened, tape.on_trade)
        engine.bus.subscribe(TradeClosed, tape.on_trade)
    replayer = BarReplayer(sim, symbols)
    drawdown = replayer.equity.drawdown = DrawdownWatch(balance)
    engine.bus.subscribe(EquitySnapshot, lambda event: drawdown.add(event.equity))
    # Only the replayer and the adapter touch the simulator here: risk's account reads between them reuse one sum.
    exchange.memoize_account(lambda: replayer.revision)
    return _Run(engine, clock, exchange, replayer, collector, tape, marks, refusals, drawdown)


async def _close_chunk(run: _Run, chunk: BarChunk) -> None:
    """The chunk's end: the clock at its last close, an equity point, and the prices a report draws."""
    run.clock.advance_to(int(chunk.open_time[-1]) + chunk.interval_ms)
    # What the replay's end of chunk did (funding due at its last bar) is told first, in time order, as at a step.
    await publish_all(run.engine.bus, run.engine.clock, run.exchange.drain())
    await _snapshot_equity(run.engine)
    # The snapshot may trip the daily loss limit, whose kill switch closes positions now: publish
    # that, or risk would count them open (and mute their symbols) until some later step.
    await publish_all(run.engine.bus, run.engine.clock, run.exchange.drain())
    if run.tape is not None:
        run.tape.add(chunk)


async def _run_chunk(engine: Engine, clock: SimulatedClock, exchange: InProcessExchange, replayer: BarReplayer,
                     strategy: Strategy, chunk: BarChunk, skip_refused: bool, marks: MarkBars | None = None) -> None:
    admit_traded_prices(exchange.sim, chunk)
    batch = strategy.on_chunk(chunk)
    # Signals that risk must refuse whatever the price need no stop: the replay skips those bars.
    skips = ReplaySkips(engine.risk.rules, clock, tuple(chunk.symbols), skip_refused)
    wanted = skips.wanted(batch, strategy.name)
    wanted_bars: list[bool] = np.logical_or.reduce(wanted, axis=1).tolist()  # asked at every step: one lookup
    replayer.mute(skips.muted())
    replayer.equity.floor = _daily_floor(engine)
    for step in replayer.steps(chunk, wanted, marks, checkpoints=_midnights(chunk)):
        clock.advance_to(_read_at(chunk, step))
        await publish_all(engine.bus, engine.clock, exchange.drain())
        if step.checkpoint:  # a day's close, or a close where the daily loss limit may act: it reads it, as live
            await _snapshot_equity(engine)
            await publish_all(engine.bus, engine.clock, exchange.drain())
        elif wanted_bars[step.t]:
            await _step_signals(engine, exchange, replayer, strategy, batch, chunk, wanted, step, skips)
        replayer.mute(skips.muted())
        replayer.equity.floor = _daily_floor(engine)


def _read_at(chunk: BarChunk, step: ReplayStep) -> int:
    """When the engine acts on a step: the bar's close (signals are decided there). A checkpoint before a new
    UTC day is read at that day's start even where bars are missing before it, so the daily loss limit's day
    (and the curve's close of the day before) turns there, not at the next reading, hours into the day."""
    close = step.open_time_ms + chunk.interval_ms
    if not step.checkpoint:
        return close
    return max(close, int(chunk.open_time[step.t + 1]) // DAY_MS * DAY_MS)


def _daily_floor(engine: Engine) -> Decimal | None:
    """The equity at which the daily loss limit acts today, if it can still act: a live session reads its
    equity every minute, so the replay suspends at the first close that may reach it."""
    guard = engine.risk.daily_loss
    return None if guard is None else guard.floor()


def _midnights(chunk: BarChunk) -> list[int]:
    """The bars of the chunk that open a new UTC day: the replay suspends before each for the day's equity."""
    days = chunk.open_time // DAY_MS
    return (np.flatnonzero(days[1:] != days[:-1]) + 1).tolist()


async def _step_signals(engine: Engine, exchange: InProcessExchange, replayer: BarReplayer, strategy: Strategy,
                        batch: SignalBatch, chunk: BarChunk, wanted: Bools, step: ReplayStep,
                        skips: ReplaySkips) -> None:
    """Every signal at this bar, in the chunk's column order, as a session without skipping handles them: those
    the replay stopped for, and those muted when the step began that are possible now (an exit at this bar freed
    the symbol, a slot or margin), brought to this bar's close first.

    The order matters where signals compete for margin or a slot. The late ones used to come after all the
    others, so the margin an exit freed went to whichever signal came first, not to the symbol first in line: in
    the 222-symbol stress run a skipping backtest made 1,317 trades where one sending every signal to risk made
    1,310.

    Every open position is moved to this close (`settle_now`, for the equity sizing reads) once a signal is
    sure to reach risk, and not at a step where none does (a third of the stress run's steps): nothing else reads
    those prices before the replay itself moves them. That holds for isolated positions, the only ones the engine
    opens; a cross position's liquidation would read the others' marks."""
    stopped = frozenset(step.stopped)
    blocked: Blocked | None = None  # asked when needed, again after a signal: nothing else changes risk here
    settled = False
    for s in wanted[step.t].nonzero()[0].tolist():
        symbol = chunk.symbols[s]
        if symbol not in stopped:
            blocked = skips.blocked() if blocked is None else blocked
            if blocked is ALL or symbol in blocked:
                continue
        if not settled:  # equity for sizing: every open position at this close, once a signal is sure to come
            replayer.settle_now(engine.trades.open)
            settled = True
        if symbol in stopped or replayer.replay_now([symbol]):
            await _signal(engine, exchange, strategy, batch, chunk, step.t, s)
            blocked = None


async def _signal(engine: Engine, exchange: InProcessExchange, strategy: Strategy, batch: SignalBatch,
                  chunk: BarChunk, t: int, s: int) -> None:
    # The simulator's price at this close (the data snapped to the tick), not the data's own close.
    price = exchange.sim.last_price(chunk.symbols[s])
    await engine.bus.publish(signal_event(batch, chunk, t, s, source=strategy.name, time_ms=engine.clock.now_ms(),
                                          reference_price=price))
    await publish_all(engine.bus, engine.clock, exchange.drain())


async def _snapshot_equity(engine: Engine) -> None:
    account = await engine.exchange.account()
    await engine.bus.publish(EquitySnapshot(wallet=account.wallet, equity=account.equity,
                                            available=account.available, open_positions=len(engine.trades.open),
                                            time_ms=engine.clock.now_ms()))


def _report(trades: list[TradeClosed], curve: list[tuple[int, Decimal]], balance: Decimal, bars: int,
            interval_ms: int, drawdown: Drawdown) -> dict[str, Any]:
    in_position = _bars_in_position(trades, interval_ms)
    performance = performance_report(trades, curve, start_equity=balance, bars=bars,
                                     bars_in_position=min(in_position, bars), periods_per_year=365.0,
                                     drawdown=drawdown)
    rows = audit_rows(trades)
    return {"performance": performance.to_dict(), "stop_audit": audit_summary(rows),
            "trades": [row.to_dict() for row in rows]}


def _bars_in_position(trades: list[TradeClosed], interval_ms: int) -> int:
    """Bars during which at least one position was open (the union of the trades' lifetimes)."""
    total, end = 0, -1
    for start, stop in sorted((t.opened_ms, t.time_ms) for t in trades):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total // interval_ms if interval_ms else 0
