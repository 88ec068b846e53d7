"""A position reported flat whose closing fills never reach the bot is closed as the exchange recorded it.

The user stream can drop fills (a reconnect whose catch-up reading sees only the orders this adapter placed;
a stop that fired spawns an order of its own), and the tracker used to close such a trade at the mark as
`manual`, so the stop audit read a stop-loss as a manual exit at a price nobody traded. Now the exit
lookup (trading/exit_lookup.py) asks the exchange at the next heartbeat once the fills are late, or at once
when something new happens on the symbol.

The engine as a session wires it, on the in-process simulator and a real SQLite journal; the only thing
taken away is what the stream would have dropped: the fill events of the stop's firing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

from test_restart_exits import SYMBOL, T0, closed_row, simulator

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.events import Direction, EquitySnapshot, Signal
from quantum_trader.domain.exchange_types import FillUpdate
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.journal import Journal, JournalReader
from quantum_trader.runtime.pump import publish_all
from quantum_trader.runtime.wiring import Engine, TradingRules, held_by, protect_engine, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.trading.exit_lookup import GRACE_S, ExitLookup
from quantum_trader.trading.monitor import MonitorConfig, PositionMonitor

ZERO = Decimal(0)


def closed_trades(url: str) -> list[dict[str, object]]:
    reader = JournalReader(url)
    try:
        return [t for t in reader.trades(10) if t["status"] == "closed"]
    finally:
        reader.close()


def heartbeat(time_ms: int) -> EquitySnapshot:
    return EquitySnapshot(wallet=ZERO, equity=ZERO, available=ZERO, open_positions=0, time_ms=time_ms)


async def stop_fires_and_its_fills_are_lost(engine: Engine, sim: ExchangeSimulator, exchange: InProcessExchange,
                                            clock: SimulatedClock) -> None:
    await engine.bus.publish(Signal(symbol=SYMBOL, direction=Direction.SHORT, confidence=1.0, source="force",
                                    time_ms=T0))
    await publish_all(engine.bus, clock, exchange.drain())
    sim.advance(90)
    clock.advance_to(T0 + 90_000)
    sim.set_prices({SYMBOL: "925"})  # through the stop (914.7)
    heard = exchange.drain()
    assert any(isinstance(e, FillUpdate) for e in heard) and sim.position(SYMBOL).amount == 0
    await publish_all(engine.bus, clock, [e for e in heard if not isinstance(e, FillUpdate)])


def on_the_session_clock(engine: Engine, clock: SimulatedClock, monitor: PositionMonitor | None = None) -> ExitLookup:
    """The exit lookup as protect_engine wires it, its grace on the session's clock instead of the wall's."""
    return ExitLookup(engine.bus, clock, engine.exchange, engine.trades, wall=lambda: clock.now_ms() / 1000,
                      held=None if monitor is None else held_by(monitor))


def engine_exchange(engine: Engine) -> InProcessExchange:
    assert isinstance(engine.exchange, InProcessExchange)
    return engine.exchange


@asynccontextmanager
async def wired(url: str, exchange: InProcessExchange, *, with_monitor: bool = False,
                ) -> AsyncIterator[tuple[Engine, SimulatedClock, PositionMonitor | None]]:
    """The engine as a session wires it, on a real journal, its exit lookup on the session's clock (the monitor
    left out unless asked for: then the test sends the heartbeats)."""
    clock = SimulatedClock(T0)
    with Journal.open(url, now_ms=clock.now_ms) as journal:
        journal.start_session("paper", "{}", "test")
        engine = wire_engine(clock, exchange, dict(exchange.sim.state.instruments), TradingRules(cooldown_s=0.0),
                             journal=journal)
        monitor, _ = protect_engine(engine, Metrics(), MonitorConfig(), with_monitor=with_monitor,
                                    with_stop_witness=False, with_exit_lookup=False)
        on_the_session_clock(engine, clock, monitor).attach()
        yield engine, clock, monitor


def session_with_a_lost_stop_fill(url: str, sim: ExchangeSimulator,
                                  then: Callable[[Engine, SimulatedClock], Awaitable[None]]) -> None:
    """A protected short whose stop fires while the stream loses the fills; then `then`."""
    exchange = InProcessExchange(sim)
    exchange.drain()

    async def run() -> None:
        async with wired(url, exchange) as (engine, clock, _):
            await stop_fires_and_its_fills_are_lost(engine, sim, exchange, clock)
            await then(engine, clock)

    asyncio.run(run())


def test_a_stop_fill_the_stream_dropped_is_a_stop_loss_at_its_fill_after_the_grace(tmp_path: Path) -> None:
    url, sim = f"sqlite:///{tmp_path / 'journal.db'}", simulator()

    async def run(engine: Engine, clock: SimulatedClock) -> None:
        await engine.bus.publish(heartbeat(clock.now_ms()))  # the first sighting: the fills may still come
        clock.advance(GRACE_S - 0.001)
        await engine.bus.publish(heartbeat(clock.now_ms()))
        assert len(engine.trades.open) == 1 and closed_trades(url) == []
        clock.advance(0.001)
        await engine.bus.publish(heartbeat(clock.now_ms()))
        assert engine.trades.open == {} and engine.trades.closed == 1

    session_with_a_lost_stop_fill(url, sim, run)
    row = closed_row(url)
    entry_fill, exit_fill = sim.state.fills  # the exchange's own record of the trade
    assert row["exit_reason"] == "stop_loss"  # was: manual, at the mark
    assert Decimal(str(row["exit_price"])) == exit_fill.price
    assert row["closed_ms"] == exit_fill.time == T0 + 90_000
    assert Decimal(str(row["fees"])) == entry_fill.commission + exit_fill.commission > 0
    assert Decimal(str(row["realized_pnl"])) == exit_fill.realized_pnl
    [action] = row["actions"]  # type: ignore[misc]
    assert action["action"] == "exit_found" and "-sl-" in action["reason"]


def test_a_new_entry_on_the_symbol_hands_the_old_trade_over_at_once(tmp_path: Path) -> None:
    url, sim = f"sqlite:///{tmp_path / 'journal.db'}", simulator()

    async def run(engine: Engine, clock: SimulatedClock) -> None:
        await engine.bus.publish(Signal(symbol=SYMBOL, direction=Direction.LONG, confidence=1.0, source="force",
                                        time_ms=clock.now_ms()))
        await publish_all(engine.bus, clock, engine_exchange(engine).drain())  # the old one's fills are not coming
        assert [t.opened.direction for t in engine.trades.open.values()] == [Direction.LONG]
        await engine.bus.publish(heartbeat(clock.now_ms()))  # no grace: it was handed over already
        assert engine.trades.unresolved == []

    session_with_a_lost_stop_fill(url, sim, run)
    [closed] = closed_trades(url)
    assert closed["direction"] == "short" and closed["exit_reason"] == "stop_loss"
    assert Decimal(str(closed["exit_price"])) == sim.state.fills[1].price


def test_a_position_gone_from_the_monitors_reading_without_a_word_is_looked_up(tmp_path: Path) -> None:
    """A kill switch at start-up flattens before the stream listens: nothing ever reports that position flat.
    Here every event of the stop's firing is lost, and the monitor's next reading no longer holds the position."""
    url, sim = f"sqlite:///{tmp_path / 'journal.db'}", simulator()
    exchange = InProcessExchange(sim)
    exchange.drain()

    async def run() -> None:
        async with wired(url, exchange, with_monitor=True) as (engine, clock, monitor):
            assert monitor is not None
            await engine.bus.publish(Signal(symbol=SYMBOL, direction=Direction.SHORT, confidence=1.0,
                                            source="force", time_ms=T0))
            await publish_all(engine.bus, clock, exchange.drain())
            sim.advance(90)
            sim.set_prices({SYMBOL: "925"})  # through the stop
            exchange.drain()  # nobody hears any of it
            clock.advance_to(T0 + 90_000)
            await monitor.sweep()  # the reading holds no position: first sighting (a reading may lead the stream)
            assert len(engine.trades.open) == 1
            clock.advance(60.0)
            await monitor.sweep()  # the next heartbeat (a minute on), still gone after the grace: looked up
            assert engine.trades.open == {}

    asyncio.run(run())
    row = closed_row(url)
    assert row["exit_reason"] == "stop_loss" and Decimal(str(row["exit_price"])) == sim.state.fills[1].price
