"""trading.performance: hand-computed P&L, drawdown, Sharpe, exposure and profit factor of a run."""

from __future__ import annotations

import json
import math
import random
import statistics
from decimal import Decimal

import pytest

from quantum_trader.domain.events import Direction, ExitReason, TradeClosed
from quantum_trader.trading.performance import (
    MIN_RETURNS,
    Drawdown,
    max_drawdown,
    performance_report,
    sharpe,
    sharpe_ratio,
)

D = Decimal


def closed(pnl: str, *, fees: str = "0", funding: str = "0", reason: ExitReason = ExitReason.STOP_LOSS,
           direction: Direction = Direction.LONG) -> TradeClosed:
    return TradeClosed(
        trade_id="t", symbol="BTCUSDT", direction=direction, quantity=D(1), entry_price=D(100), exit_price=D(100),
        exit_reason=reason, realized_pnl=D(pnl), fees=D(fees), funding=D(funding), planned_stop=D(98),
        planned_loss=D(2), leverage=5, equity_at_entry=D(1000), opened_ms=0, time_ms=1,
    )


def curve(*equities: str) -> list[tuple[int, Decimal]]:
    return [(i * 60_000, D(e)) for i, e in enumerate(equities)]


#: Three trades by hand: nets +27 (30 - 2 fees - 1 funding paid), -21 (-20 - 1.5 + 0.5 received), +9.
THREE = [
    closed("30", fees="2", funding="-1", reason=ExitReason.TAKE_PROFIT),
    closed("-20", fees="1.5", funding="0.5", direction=Direction.SHORT),
    closed("10", fees="1", reason=ExitReason.MANUAL),
]
THREE_CURVE = curve("1000", "1027", "1006", "1015")


def test_three_trades_by_hand() -> None:
    report = performance_report(THREE, THREE_CURVE, start_equity=D(1000), bars=100, bars_in_position=25,
                                periods_per_year=365.0)
    assert (report.trades, report.wins, report.losses) == (3, 2, 1)
    assert report.win_rate_pct == pytest.approx(200 / 3)
    assert report.net_pnl == D(15)
    assert report.gross_pnl == D(20)
    assert report.fees == D("4.5")
    assert report.funding == D("-0.5")
    assert report.return_pct == D("1.5")
    assert report.max_drawdown == Drawdown(D(21), D(21) / D(1027) * 100)
    assert report.exposure_pct == 25.0
    assert report.average_trade == D(5)
    assert report.worst_trade == D(-21)
    assert report.best_trade == D(27)
    assert report.profit_factor == D(36) / D(21)
    assert report.by_exit_reason == {"stop_loss": 1, "take_profit": 1, "manual": 1, "emergency": 0,
                                     "liquidation": 0, "kill_switch": 0, "unknown": 0}


def test_three_trade_sharpe_by_hand() -> None:
    returns = [1027 / 1000 - 1, 1006 / 1027 - 1, 1015 / 1006 - 1]  # 2.7 %, -2.04 %, +0.89 %
    expected = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(365)
    equities = [e for _, e in THREE_CURVE]
    assert sharpe_ratio(equities, periods_per_year=365.0, min_returns=3) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(4.1213, abs=1e-3)  # mean 0.005166, stdev 0.023949, x sqrt(365)


def test_a_sharpe_ratio_of_too_few_returns_is_na_with_the_reason() -> None:
    """Three daily returns gave 4.12 as if it were a figure; two days of a fast cross gave 737.9."""
    report = performance_report(THREE, THREE_CURVE, start_equity=D(1000), bars=100, bars_in_position=25,
                                periods_per_year=365.0)
    assert report.sharpe.value is None and report.sharpe.returns == 3
    assert report.sharpe.why_na == "3 daily returns, fewer than the 14 a Sharpe ratio needs to mean anything"
    doc = report.to_dict()
    assert (doc["sharpe"], doc["sharpe_returns"], doc["sharpe_na"]) == (None, 3, report.sharpe.why_na)


def test_the_sharpe_ratio_needs_two_weeks_of_daily_returns() -> None:
    rng = random.Random(3)
    equities = [D(1000)]
    for _ in range(MIN_RETURNS):
        equities.append(equities[-1] * D(str(round(1 + rng.uniform(-0.02, 0.025), 4))))
    assert MIN_RETURNS == 14
    assert sharpe_ratio(equities[:-1], periods_per_year=365.0) is None  # 13 returns
    full = sharpe(equities, periods_per_year=365.0)
    assert full.value is not None and full.returns == 14 and full.why_na is None


def test_to_json_rounds_and_keeps_money_as_strings() -> None:
    report = performance_report(THREE, THREE_CURVE, start_equity=D(1000), bars=100, bars_in_position=25,
                                periods_per_year=365.0)
    doc = json.loads(report.to_json())
    assert doc["net_pnl"] == "15"
    assert doc["fees"] == "4.5"
    assert doc["funding"] == "-0.5"
    assert doc["return_pct"] == "1.5"
    assert doc["max_drawdown_usdt"] == "21"
    assert doc["max_drawdown_pct"] == "2.0448"
    assert doc["profit_factor"] == "1.7143"
    assert doc["win_rate_pct"] == 66.67
    assert doc["exposure_pct"] == 25.0
    assert doc["worst_trade"] == "-21"
    assert doc["sharpe"] is None  # three returns: n/a


def test_monotonic_curve_has_no_drawdown() -> None:
    assert max_drawdown([D(1000), D(1000), D(1010), D("1020.5")], start_equity=D(1000)) == Drawdown(D(0), D(0))


def test_known_ten_percent_drawdown() -> None:
    # peak 1100, trough 990: 110 USDT, 10 %; the later new high does not undo it.
    assert max_drawdown([D(1000), D(1100), D(990), D(1200)], start_equity=D(1000)) == Drawdown(D(110), D(10))


def test_drawdown_worsts_in_usdt_and_percent_are_tracked_separately() -> None:
    # 60 from 500 is 12 %; 100 from 10 000 is 1 % but more USDT.
    assert max_drawdown([D(500), D(440), D(10_000), D(9_900)]) == Drawdown(D(100), D(12))


def test_drawdown_counts_a_fall_below_the_start_before_the_first_point() -> None:
    assert max_drawdown([D(950), D(1000)], start_equity=D(1000)) == Drawdown(D(50), D(5))


@pytest.mark.parametrize(("equities", "why"), [
    ([], "0 daily returns"), (["1000"], "0 daily returns"), (["1000", "1100"], "1 daily return,"),
    (["1000", "1100", "1210"], "never varied"), (["5", "5", "5"], "never varied"),
], ids=["empty", "one point", "one return", "constant growth", "flat"])
def test_sharpe_is_none_never_zero_when_undefined(equities: list[str], why: str) -> None:
    """0.0 read as "measured: no edge" (a one-day run printed it, as a flat month did)."""
    result = sharpe([D(e) for e in equities], periods_per_year=365.0, min_returns=2)
    assert result.value is None and why in (result.why_na or "")


def test_sharpe_sign_follows_the_drift() -> None:
    up = [D(e) for e in ("100", "102", "101", "104")]
    down = [D(e) for e in ("104", "101", "102", "100")]
    assert (sharpe_ratio(up, periods_per_year=252.0, min_returns=3) or 0) > 0
    assert (sharpe_ratio(down, periods_per_year=252.0, min_returns=3) or 0) < 0


def test_no_losses_gives_no_profit_factor() -> None:
    report = performance_report([closed("5"), closed("0")], curve("1000", "1005"), start_equity=D(1000),
                                bars=10, bars_in_position=10, periods_per_year=365.0)
    assert report.profit_factor is None
    assert (report.wins, report.losses) == (1, 0)  # a zero net is neither
    assert report.exposure_pct == 100.0
    assert json.loads(report.to_json())["profit_factor"] is None


def test_empty_run() -> None:
    report = performance_report([], [], start_equity=D(1000), bars=0, bars_in_position=0, periods_per_year=365.0)
    assert report.trades == 0
    assert report.win_rate_pct == 0.0
    assert report.net_pnl == D(0)
    assert report.return_pct == D(0)
    assert report.max_drawdown == Drawdown(D(0), D(0))
    assert report.sharpe.value is None
    assert report.exposure_pct == 0.0
    assert report.average_trade is None
    assert report.worst_trade is None
    json.loads(report.to_json())
