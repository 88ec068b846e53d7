"""A backtest says each kill switch once: when, why, how many positions it closed and which, not one warning per
position (research/kill_digest.py).

`backtest` printed an `emergency exit` warning for every position the daily loss limit's kill switch closed: 15
lines over one symbol's two years, hundreds over 222 symbols, before a report that counts them anyway. Sessions
(live, paper, staging) keep one warning per exit: tests/integration/test_staging_kill_switch.py. A failed exit
is never folded (tests/unit/test_kill_digest.py). Only names the old code has are imported: the test runs (and
fails) on it too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from structlog.testing import capture_logs

from quantum_trader.core.logging import add_simulated_time
from quantum_trader.domain.enums import ExitReason
from quantum_trader.marketdata.bars import synthetic_bars
from quantum_trader.research.backtest import run_backtest
from quantum_trader.runtime.wiring import TradingRules
from quantum_trader.signals.sma_cross import SmaCross
from quantum_trader.sim.universe import load_universe

MIDNIGHT = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SUMMARY = "kill switch closed positions"


def _backtest_logs() -> tuple[dict[int, list[str]], list[dict[str, Any]]]:
    """Seven symbols, seven positions at most, a 1 % daily loss limit: its kill switch closes all seven, several
    times. The kills (time → symbols closed, from the trades) and the warnings and errors logged."""
    universe = load_universe()
    symbols = universe.top(7)
    instruments = {s: universe.instrument(s) for s in symbols}
    chunks = synthetic_bars(symbols, [float(instruments[s].typical_price) for s in symbols], 6_000, seed=3,
                            chunk_bars=1_000, vol=0.0007, jump_prob=0.0005, start_ms=MIDNIGHT)
    rules = TradingRules(max_positions=7, daily_loss_limit_pct=Decimal(1))
    with capture_logs(processors=[add_simulated_time]) as logs:
        result = asyncio.run(run_backtest(chunks, instruments, SmaCross(), rules, balance=Decimal(100_000)))
    kills: dict[int, list[str]] = defaultdict(list)
    for trade in result.trades:
        if trade.exit_reason is ExitReason.KILL_SWITCH:
            kills[trade.time_ms].append(trade.symbol)
    return dict(kills), [dict(entry) for entry in logs if entry["log_level"] in ("warning", "error")]


def test_each_kill_switch_of_a_backtest_is_one_warning_naming_when_why_how_many_and_which() -> None:
    kills, logs = _backtest_logs()
    assert len(kills) >= 3 and all(len(closed) >= 5 for closed in kills.values()), "the scenario must kill several"
    assert not [e for e in logs if "emergency exit" in str(e["event"])]  # no line per position
    lines = [e for e in logs if e["event"] == SUMMARY]
    assert [e["log_level"] for e in lines] == ["warning"] * len(kills)  # one per kill switch
    for line, (time_ms, closed) in zip(lines, sorted(kills.items()), strict=True):
        when = dt.datetime.fromtimestamp(time_ms / 1000, dt.UTC).isoformat(timespec="seconds")
        assert line["sim_time"] == when
        assert str(line["reason"]).startswith("kill switch: daily loss limit: equity ")
        assert line["closed"] == len(closed) and line["summary"].endswith(f"closed {len(closed)} positions")
        shown, _, more = str(line["symbols"]).partition(" +")
        assert set(shown.split(", ")) <= set(closed) and len(shown.split(", ")) == min(5, len(closed))
        assert more == (f"{len(closed) - 5} more" if len(closed) > 5 else "")
    assert [e["event"] for e in logs] == [SUMMARY] * len(kills)  # nothing else: no failure here to report
