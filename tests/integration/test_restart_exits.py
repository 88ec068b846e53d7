"""A restart never invents an exit: a trade closed while the bot was away is closed as the exchange recorded it.

Session 1 (real SQLite journal, in-process simulator, the engine as a session wires it) opens a short
and protects it; the bot goes away; the market runs through the stop with nobody listening; session 2
reconciles from the journal against the exchange. Nothing is mocked: the figures asserted are read
from the simulator's own fill record.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.events import Direction, Signal
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.journal import Journal, JournalReader
from quantum_trader.readmodels.adopted import adopted_trades
from quantum_trader.readmodels.journal import audit_from_journal
from quantum_trader.runtime.pump import publish_all
from quantum_trader.runtime.wiring import TradingRules, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.reconcile import close_trades_gone_while_away

SYMBOL = "BNBUSDT"
T0 = 1_800_000_000_000
DAY_MS = 86_400_000


def simulator(*, retain_history: bool = True) -> ExchangeSimulator:
    sim = ExchangeSimulator({SYMBOL: load_universe().instrument(SYMBOL)},
                            SimConfig(start_time_ms=T0, retain_history=retain_history))
    sim.set_prices({SYMBOL: "896.80"})
    return sim


async def first_session(url: str, exchange: InProcessExchange, *, hold_s: int = 0, bot_ms: int = T0) -> None:
    """Open a protected short, hold it `hold_s` seconds (funding applies at each funding time passed, and the
    session hears it), then go away (the journal keeps the trade open). `bot_ms`: the bot's clock (the
    simulator's stays at T0)."""
    exchange.drain()
    clock = SimulatedClock(bot_ms)
    with Journal.open(url, now_ms=clock.now_ms) as journal:
        journal.start_session("paper", "{}", "test")
        engine = wire_engine(clock, exchange, dict(exchange.sim.state.instruments), TradingRules(), journal=journal)
        await engine.bus.publish(Signal(symbol=SYMBOL, direction=Direction.SHORT, confidence=1.0, source="force",
                                        time_ms=bot_ms))
        await publish_all(engine.bus, clock, exchange.drain())
        if hold_s:
            exchange.sim.advance(hold_s)
            await publish_all(engine.bus, clock, exchange.drain())


async def restart(url: str, exchange: InProcessExchange, now_ms: int) -> None:
    """What a session start does: reconcile the journal's open trades against the exchange."""
    clock = SimulatedClock(now_ms)
    with Journal.open(url, now_ms=clock.now_ms) as journal:
        journal.start_session("paper", "{}", "test")
        engine = wire_engine(clock, exchange, dict(exchange.sim.state.instruments), TradingRules(), journal=journal)
        reader = JournalReader(url)
        trades = adopted_trades(reader)
        reader.close()
        assert len(trades) == 1
        assert await close_trades_gone_while_away(engine.bus, clock, exchange, trades) == []


def the_stop_fires_while_away(sim: ExchangeSimulator, exchange: InProcessExchange) -> None:
    sim.advance(90)
    sim.set_prices({SYMBOL: "925"})  # through the stop (914.7) with the bot away
    exchange.drain()  # nobody hears it
    assert sim.position(SYMBOL).amount == 0


def closed_row(url: str) -> dict[str, object]:
    reader = JournalReader(url)
    try:
        [row] = reader.trades(10)
        actions = [a for a in reader.protection_actions(50) if a["action"] in ("exit_found", "exit_unknown")]
        return {**row, "actions": actions, "audit": audit_from_journal(reader)[1]}
    finally:
        reader.close()


def test_a_stop_that_fired_while_away_is_a_stop_loss_at_its_fill(tmp_path: Path) -> None:
    url, sim = f"sqlite:///{tmp_path / 'journal.db'}", simulator()
    exchange = InProcessExchange(sim)
    asyncio.run(first_session(url, exchange))
    the_stop_fires_while_away(sim, exchange)
    asyncio.run(restart(url, exchange, T0 + 600_000))
    row = closed_row(url)
    entry_fill, exit_fill = sim.state.fills  # the exchange's own record of the trade
    assert row["exit_reason"] == "stop_loss"
    assert Decimal(str(row["exit_price"])) == exit_fill.price
    assert row["closed_ms"] == exit_fill.time == T0 + 90_000  # when it filled, not when the bot came back
    assert Decimal(str(row["fees"])) == entry_fill.commission + exit_fill.commission > 0
    assert Decimal(str(row["realized_pnl"])) == exit_fill.realized_pnl
    [action] = row["actions"]  # type: ignore[misc]
    assert action["action"] == "exit_found" and "-sl-" in action["reason"]


def test_an_exchange_without_fills_still_gives_the_stop_order_and_says_fees_are_unknown(tmp_path: Path) -> None:
    url, sim = f"sqlite:///{tmp_path / 'journal.db'}", simulator(retain_history=False)
    exchange = InProcessExchange(sim)
    asyncio.run(first_session(url, exchange))
    the_stop_fires_while_away(sim, exchange)
    asyncio.run(restart(url, exchange, T0 + 600_000))
    row = closed_row(url)
    assert (row["exit_reason"], row["closed_ms"]) == ("stop_loss", T0 + 90_000)
    assert Decimal(str(row["exit_price"])) > Decimal("914.7")
    [action] = row["actions"]  # type: ignore[misc]
    assert "fees not reported" in action["reason"]
    [(entry_fee,)] = journal_fees(url)
    assert Decimal(str(row["fees"])) == entry_fee > 0  # the fee the bot heard for the entry; was: 0


def test_funding_heard_before_the_restart_stays_with_a_trade_closed_while_away(tmp_path: Path) -> None:
    """Eight hours held (one funding time passed, heard and journaled), then the stop fires with the bot away."""
    url, sim = f"sqlite:///{tmp_path / 'journal.db'}", simulator()
    exchange = InProcessExchange(sim)
    asyncio.run(first_session(url, exchange, hold_s=8 * 3600))
    funding = sim.state.account.total_funding
    assert funding != 0
    the_stop_fires_while_away(sim, exchange)
    asyncio.run(restart(url, exchange, T0 + 9 * 3600_000))
    row = closed_row(url)
    entry_fill, exit_fill = sim.state.fills
    assert row["exit_reason"] == "stop_loss"
    assert Decimal(str(row["funding"])) == funding  # was: 0, funding lived only in the first session's memory
    assert Decimal(str(row["fees"])) == entry_fill.commission + exit_fill.commission  # each fill once
    assert Decimal(str(row["realized_pnl"])) == exit_fill.realized_pnl


def journal_fees(url: str) -> list[tuple[Decimal]]:
    reader = JournalReader(url)
    try:
        return [(Decimal(str(f["fee"])),) for f in reader.fills(10)]
    finally:
        reader.close()


def test_no_record_on_the_exchange_is_an_unknown_exit_never_before_the_entry(tmp_path: Path) -> None:
    """The paper account lost (a fresh simulator), and its clock a day behind the journal's: the issue's case.
    Nothing is claimed anywhere: no exit price, P&L, fees or closing time in the journal (not the entry price,
    zeros and the opening time), none in the audit, and the trade is closed for good (not adopted again)."""
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    asyncio.run(first_session(url, InProcessExchange(simulator())))
    asyncio.run(restart(url, InProcessExchange(simulator()), T0 - DAY_MS))
    row = closed_row(url)
    assert (row["exit_reason"], row["status"]) == ("unknown", "closed")
    assert {k: row[k] for k in ("exit_price", "realized_pnl", "fees", "funding", "closed_ms")} == dict.fromkeys(
        ("exit_price", "realized_pnl", "fees", "funding", "closed_ms"))
    [action] = row["actions"]  # type: ignore[misc]
    assert action["action"] == "exit_unknown" and "no fill or order" in action["reason"]
    assert action["price"] is None
    audit = row["audit"]
    assert (audit["breaches"], audit["summary"]["unknown_exits"]) == (0, 1)  # type: ignore[index]
    [audited] = audit["positions"]  # type: ignore[index]
    assert (audited["exit_price"], audited["realised"], audited["slippage_bps"]) == (None, None, None)
    assert audit["summary"]["worst_realised_pct_equity"] is None  # type: ignore[index]
    reader = JournalReader(url)
    try:
        assert reader.open_trades() == []  # a closed trade without a closing time is still closed
        assert [r["trade_id"] for r in reader.closed_positions()] == [row["trade_id"]]
    finally:
        reader.close()
