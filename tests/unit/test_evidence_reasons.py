"""Why a journaled session is no evidence for live trading: one reason that fits it.

A backtest journal read by `readiness` said its session's "adapter and clock were not journaled (a session from
before readiness recorded them)": a backtest created seconds earlier, which journals neither and needs neither.
"""

from __future__ import annotations

from quantum_trader.readmodels.evidence import not_counted_because


def test_a_backtest_is_not_paper_trading_and_nothing_more() -> None:
    assert not_counted_because({"mode": "backtest", "adapter": None, "clock": None}) == \
        "a backtest session, not paper trading"


def test_an_old_paper_session_without_its_path_says_so() -> None:
    assert "were not journaled" in str(not_counted_because({"mode": "paper", "adapter": None, "clock": None}))


def test_a_paper_session_on_the_live_path_counts() -> None:
    row = {"mode": "paper", "adapter": "ccxt", "exchange_url": "http://127.0.0.1:8090", "clock": "wall", "speed": "1"}
    assert not_counted_because(row) is None
