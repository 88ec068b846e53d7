"""A risk rule added to the pipeline changes live refusals and backtest skipping together.

Two toy rules, of the two kinds the backtest can skip on: one blocks a symbol (asked through `blocked`),
one refuses every short (`signal_only`, asked once per kind of signal before the replay). Added to
`default_rules`, they refuse live signals in their own words; the backtest then trades neither, never
sends those signals to risk at all when skipping (nothing is journaled for them), and gives the very
same trades as a run that sends every signal to risk (where the journal shows them refused).
"""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

import quantum_trader.risk.manager as risk_manager
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.events import Direction, RiskDecision, Signal
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.journal.db import migrate
from quantum_trader.journal.writer import Journal
from quantum_trader.marketdata.bars import synthetic_bars
from quantum_trader.research.backtest import run_backtest
from quantum_trader.risk import rules
from quantum_trader.risk.sizing import SizingRules
from quantum_trader.runtime.wiring import TradingRules, wire_engine
from quantum_trader.signals.sma_cross import SmaCross
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

N_SYMBOLS = 6
BANNED_REASON = "on the toy ban list"
SHORT_REASON = "shorts are switched off"


class BanSymbol:
    """No position on one symbol, ever: a block that lasts, so `blocked` names it."""

    signal_only = False

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol

    def refusal(self, signal: Signal, now_ms: int) -> str | None:
        return f"{signal.symbol}: {BANNED_REASON}" if signal.symbol == self.symbol else None

    def blocked(self, symbols: frozenset[str], now_ms: int) -> rules.Blocked:
        return symbols & {self.symbol}


class NoShorts:
    """Refuses every short: it reads the signal alone."""

    signal_only = True

    def refusal(self, signal: Signal, now_ms: int) -> str | None:
        return SHORT_REASON if signal.direction is Direction.SHORT else None

    def blocked(self, symbols: frozenset[str], now_ms: int) -> rules.Blocked:
        return rules.NONE


def symbols() -> list[str]:
    return list(load_universe().top(N_SYMBOLS))


@pytest.fixture
def toy_rules(monkeypatch: pytest.MonkeyPatch) -> str:
    """Adds both toy rules at the end of the default pipeline, as a developer would; returns the banned symbol."""
    banned = symbols()[1]

    def with_toys(book: rules.RiskBook, sizing: SizingRules | None = None) -> list[rules.RiskRule]:
        return [*rules.default_rules(book, sizing), BanSymbol(banned), NoShorts()]

    monkeypatch.setattr(risk_manager, "default_rules", with_toys)
    return banned


def backtest(folder: Path, skip_refused: bool) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str]]]:
    """Trades (symbol, direction, exit reason, exit price) and every journaled decision (symbol, direction, reason)."""
    universe = load_universe()
    instruments = {s: universe.instrument(s) for s in symbols()}
    chunks = synthetic_bars(list(instruments), [float(i.typical_price) for i in instruments.values()], 3000, seed=3,
                            chunk_bars=1000, vol=0.0007, jump_prob=0.0005)
    path = folder / f"skip_{skip_refused}.db"
    migrate(f"sqlite:///{path}")
    journal = Journal(f"sqlite:///{path}", batch_size=500)
    journal.start_session("backtest", "{}", "test")
    result = asyncio.run(run_backtest(chunks, instruments, SmaCross(), TradingRules(max_positions=3),
                                      balance=Decimal(100_000), journal=journal, skip_refused=skip_refused))
    journal.close()
    with sqlite3.connect(path) as db:
        decisions = db.execute("SELECT symbol, direction, reason FROM risk_decisions ORDER BY id").fetchall()
    trades = [(t.symbol, t.direction.value, t.exit_reason.value, str(t.exit_price)) for t in result.trades]
    return trades, decisions


def test_live_refuses_with_the_new_rules_words(toy_rules: str) -> None:
    universe = load_universe()
    instruments = {s: universe.instrument(s) for s in symbols()}
    sim = ExchangeSimulator(instruments, SimConfig(balance=Decimal(100_000), seed=1, start_time_ms=0))
    engine = wire_engine(SimulatedClock(0), InProcessExchange(sim), sim.state.instruments, TradingRules())
    decisions: list[RiskDecision] = []
    engine.bus.subscribe(RiskDecision, decisions.append)
    free = next(s for s in instruments if s != toy_rules)

    async def main() -> None:
        for symbol, direction in ((toy_rules, Direction.LONG), (free, Direction.SHORT), (free, Direction.LONG)):
            await engine.bus.publish(Signal(symbol, direction, 1.0, "sma-cross", 0))

    asyncio.run(main())
    assert [(d.approved, d.reason) for d in decisions[:2]] == [(False, f"{toy_rules}: {BANNED_REASON}"),
                                                               (False, SHORT_REASON)]
    assert decisions[2].approved


def test_the_backtest_skips_what_the_new_rules_refuse_and_trades_the_same(toy_rules: str, tmp_path: Path) -> None:
    fast, fast_decisions = backtest(tmp_path, skip_refused=True)
    slow, slow_decisions = backtest(tmp_path, skip_refused=False)
    assert fast, "the scenario must trade"
    assert all(symbol != toy_rules and direction == "long" for symbol, direction, *_ in fast)
    assert fast == slow
    toy_refusals = [d for d in slow_decisions if d[2].endswith(BANNED_REASON) or d[2] == SHORT_REASON]
    assert {d[0] for d in toy_refusals} >= {toy_rules} and {d[1] for d in toy_refusals} == {"long", "short"}
    # Skipping: those signals never reached risk (nor the journal).
    assert all(symbol != toy_rules and direction == "long" for symbol, direction, _ in fast_decisions)


def test_without_the_toy_rules_the_scenario_trades_the_banned_symbol_and_shorts(tmp_path: Path) -> None:
    """The control: the toy rules above are what removes those trades."""
    trades, _ = backtest(tmp_path, skip_refused=True)
    banned = symbols()[1]
    assert any(symbol == banned for symbol, *_ in trades)
    assert any(direction == "short" for _, direction, *_ in trades)
