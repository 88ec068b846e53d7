"""Risk's position-cap and confidence refusals name the setting as the user gave it.

A backtest run with `--param max_positions=1` (or a sweep's `--grid max_positions=...`) refused its second
entry in a bar with "1 position open: QT_MAX_POSITIONS is 1", pointing its user at a variable they never set;
the leverage refusals already named `--param leverage` (risk/sizing.py). The job as `backtest` and `sweep`
prepare it (research/backtest_job.py), the engine as they wire it, on the in-process simulator.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.events import Direction, RiskDecision, Signal
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.research.backtest_job import BacktestJob, prepare
from quantum_trader.risk.rules import ConfidenceRule, RiskBook, RiskLimits
from quantum_trader.runtime.wiring import TradingRules, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

PRICES = {"BTCUSDT": "100000", "ETHUSDT": "2500"}


def _second_refusal(rules: TradingRules) -> str:
    """Two signals in one bar with one slot: risk's reason for the second."""
    universe = load_universe()
    sim = ExchangeSimulator({s: universe.instrument(s) for s in PRICES}, SimConfig())
    sim.set_prices(PRICES)
    engine = wire_engine(SimulatedClock(sim.state.now_ms), InProcessExchange(sim), dict(sim.state.instruments),
                         rules)
    decisions: list[RiskDecision] = []
    engine.bus.subscribe(RiskDecision, decisions.append)

    async def signals() -> None:
        for symbol in PRICES:
            await engine.bus.publish(Signal(symbol, Direction.LONG, 0.9, "sma-cross", engine.clock.now_ms()))

    asyncio.run(signals())
    assert [d.approved for d in decisions] == [True, False], decisions
    return decisions[1].reason


@pytest.mark.parametrize(("job", "named"), [
    (BacktestJob(Path("data")).with_params({"max_positions": 1}), "--param max_positions is 1"),
    (BacktestJob(Path("data")).with_grid({"max_positions": 1}), "--grid max_positions is 1"),
])
def test_a_position_cap_given_as_an_option_is_named_as_that_option(job: BacktestJob, named: str) -> None:
    assert _second_refusal(prepare(job).rules) == f"1 position open: {named}"  # was: QT_MAX_POSITIONS is 1


def test_a_position_cap_from_the_environment_is_named_as_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_MAX_POSITIONS", "1")
    assert _second_refusal(prepare(BacktestJob(Path("data"))).rules) == "1 position open: QT_MAX_POSITIONS is 1"


@pytest.mark.parametrize(("names", "named"), [
    ({}, "QT_MIN_CONFIDENCE"), ({"min_confidence": "--param min_confidence"}, "--param min_confidence"),
])
def test_the_confidence_floor_is_named_as_it_was_given(names: dict[str, str], named: str) -> None:
    """No command sets the floor otherwise than as QT_MIN_CONFIDENCE today; the refusal names it by the same rule
    as the others, so an option that sets it is named as that option."""
    rule = ConfidenceRule(RiskBook(RiskLimits(max_positions=4, min_confidence=0.65, setting_names=names), {}))
    assert rule.refusal(Signal("BTCUSDT", Direction.LONG, 0.5, "ai-scanner", 0), 0) == (
        f"confidence 0.50 below {named} 0.65")
