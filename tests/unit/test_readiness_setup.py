"""readmodels/setup.py: which differences between a paper session's journaled settings and a start's matter,
and the bars readiness applies (the strictest of the start's, the paper sessions' and a floor)."""

from __future__ import annotations

import json
from typing import Any

from quantum_trader.readmodels.setup import (
    MIN_TRADES_FLOOR,
    required_confidence,
    required_trades,
    setup_differences,
    this_setup,
)
from quantum_trader.settings.model import Settings, load_settings


def start(**overrides: Any) -> Settings:
    return load_settings(overrides, env={})


def journaled(**overrides: Any) -> str:
    """A session's settings as `quantum-trader run` journals them."""
    return json.dumps(start(**overrides).public_dict(), sort_keys=True)


def test_the_same_settings_are_the_same_setup_whatever_the_rest() -> None:
    assert setup_differences(start(), journaled(symbols="BNBUSDT", monitor_interval=0.5, speed="max")) == []


def test_numbers_compare_by_value_not_text() -> None:
    recorded = json.dumps({**start().public_dict(), "stop_loss_pct": "2", "leverage": "5.0", "min_confidence": "0.650"})
    assert setup_differences(start(), recorded) == []


def test_each_rule() -> None:
    assert setup_differences(start(leverage=4, risk_per_trade_pct="0.5", min_confidence=0.9), journaled()) == []
    assert setup_differences(start(leverage=6), journaled()) == ["QT_LEVERAGE 6 here, 5 in paper (above paper)"]
    assert setup_differences(start(trailing_stop_pct="0.5"), journaled()) == [
        "QT_TRAILING_STOP_PCT 0.5 here, unset in paper"]
    assert setup_differences(start(), journaled(trailing_stop_pct="0.5")) == [
        "QT_TRAILING_STOP_PCT unset here, 0.5 in paper"]
    assert setup_differences(start(strategy="manual"), journaled(strategy="ai-scanner")) == [
        "QT_STRATEGY manual here, ai-scanner in paper"]


def test_what_a_session_did_not_record_is_a_difference() -> None:
    missing = setup_differences(start(), json.dumps({"monitor_interval": "1.0"}))
    assert len(missing) == 7 and all(line.endswith("here, not recorded by the paper session") for line in missing)
    assert setup_differences(start(), "not json") == missing
    assert setup_differences(start(), None) == missing


def test_this_setup_shows_what_a_user_writes() -> None:
    assert this_setup(start(leverage=10)) == {
        "QT_STRATEGY": "ai-scanner", "QT_STOP_LOSS_PCT": "2.0", "QT_TAKE_PROFIT_PCT": "4.0",
        "QT_TRAILING_STOP_PCT": "unset", "QT_LEVERAGE": "10", "QT_RISK_PER_TRADE_PCT": "1.0",
        "QT_MIN_CONFIDENCE": "0.65"}


def test_the_bars_are_the_strictest_of_the_start_the_sessions_and_the_floor() -> None:
    assert MIN_TRADES_FLOOR == 5
    assert required_trades(start(readiness_min_trades=1), [])[0] == 5
    assert required_trades(start(readiness_min_trades=7), [{"readiness_min_trades": "3"}])[0] == 7
    assert required_trades(start(), [{"readiness_min_trades": "9"}, {"readiness_min_trades": "x"}, {}])[0] == 9
    assert required_confidence(start(min_confidence=0.3), [{"min_confidence": "0.65"}])[0] == 0.65
    assert required_confidence(start(min_confidence=0.8), [{"min_confidence": "0.65"}])[0] == 0.8
    assert required_confidence(start(), [])[1] == {"this_start": 0.65, "paper_sessions": None,
                                                    "rule": "the larger of the two"}
