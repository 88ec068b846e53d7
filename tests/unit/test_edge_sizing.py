"""Size scaled by the expected edge, capped by the planned-loss sizing (issue 11, QT_EV_FULL_SIZE_PCT, off by
default): it can only take risk away, and a signal without an expected value is sized as before."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

import pytest
from instrument_fixtures import btc_like
from test_risk_manager import FakeAccount

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.events import Direction, RiskDecision, Signal
from quantum_trader.risk.manager import RiskManager
from quantum_trader.risk.rules import RiskLimits
from quantum_trader.risk.sizing import SizingRefused, SizingRules, edge_scale, size_entry
from quantum_trader.settings.model import load_settings

D = Decimal
RULES = SizingRules(stop_loss_pct=D("2"), take_profit_pct=D("4"), risk_per_trade_pct=D("1"), leverage=5)
SCALED = replace(RULES, ev_full_size_pct=D("2"))


def test_off_by_default_and_without_an_expected_value_the_size_is_the_planned_loss_size() -> None:
    assert load_settings(env={}).ev_full_size_pct is None
    full = size_entry(btc_like(), Direction.LONG, D("50000"), D("10000"), D("10000"), RULES)
    assert size_entry(btc_like(), Direction.LONG, D("50000"), D("10000"), D("10000"), RULES,
                      expected_value=0.001) == full  # off: an expected value changes nothing
    assert size_entry(btc_like(), Direction.LONG, D("50000"), D("10000"), D("10000"), SCALED) == full  # no EV
    assert full.quantity == D("0.093")


@pytest.mark.parametrize(("ev", "scale"), [(0.005, D("0.25")), (0.01, D("0.5")), (0.02, D(1)), (0.08, D(1))])
def test_the_planned_loss_shrinks_with_the_edge_and_never_grows(ev: float, scale: Decimal) -> None:
    assert edge_scale(ev, SCALED) == scale
    full = size_entry(btc_like(), Direction.LONG, D("50000"), D("10000"), D("10000"), RULES)
    sized = size_entry(btc_like(), Direction.LONG, D("50000"), D("10000"), D("10000"), SCALED, expected_value=ev)
    assert sized.planned_loss <= full.planned_loss * scale
    assert sized.quantity == (D("100") * scale / D("1074")).quantize(D("0.001"), rounding="ROUND_DOWN")


@pytest.mark.parametrize("ev", [0.0, -0.004])
def test_no_edge_is_refused_when_scaling_is_on(ev: float) -> None:
    with pytest.raises(SizingRefused, match="no edge to size"):
        size_entry(btc_like(), Direction.LONG, D("50000"), D("10000"), D("10000"), SCALED, expected_value=ev)


def test_risk_sizes_a_scanner_signal_by_its_edge_and_says_so() -> None:
    bus, decisions = EventBus(), []
    risk = RiskManager(bus, SimulatedClock(start_ms=1_000_000), {"BTCUSDT": btc_like()}, FakeAccount(), SCALED,
                       RiskLimits(max_positions=4, min_confidence=0.65))
    risk.attach()
    bus.subscribe(RiskDecision, decisions.append)
    signal = Signal(symbol="BTCUSDT", direction=Direction.LONG, confidence=0.7, source="ai-scanner",
                    time_ms=1, expected_value=0.01)
    asyncio.run(bus.publish(signal))
    [decision] = decisions
    assert decision.approved and decision.quantity == D("0.046")  # half of 0.093's budget, rounded down
    assert decision.reason == "sized by planned loss x 0.50 (expected edge)"
