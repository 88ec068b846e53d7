"""Skipping bars is an optimisation, never a different backtest.

The driver skips bars where risk must refuse a signal whatever the price (the symbol already holds a
position, every slot is taken). A run that visits every signal bar must give the very same trades:
same ids, exit reasons and exit prices to the last digit. That includes blocks that lift by themselves
(a daily-loss halt at midnight, a cooldown): a skipped bar is never revisited. Nor is the size of the
chunks the bars come in a different backtest.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

import quantum_trader.risk.manager as risk_manager
from quantum_trader.marketdata.bars import iter_binance_klines, synthetic_bars
from quantum_trader.research.backtest import run_backtest
from quantum_trader.runtime.wiring import TradingRules
from quantum_trader.signals.sma_cross import SmaCross
from quantum_trader.sim.universe import load_universe


def _trades(skip_refused: bool, n_symbols: int, n_bars: int, max_positions: int, *, chunk_bars: int = 1000,
            daily_loss_limit_pct: Decimal | None = None, cooldown_s: float = 0.0, seed: int = 3,
            jump_prob: float = 0.0005, strategy: SmaCross | None = None, min_confidence: float = 0.65,
            balance: int = 100_000) -> list[tuple[str, str, str, str]]:
    universe = load_universe()
    symbols = universe.top(n_symbols)
    instruments = {s: universe.instrument(s) for s in symbols}
    chunks = synthetic_bars(symbols, [float(instruments[s].typical_price) for s in symbols], n_bars, seed=seed,
                            chunk_bars=chunk_bars, vol=0.0007, jump_prob=jump_prob)
    rules = TradingRules(max_positions=max_positions, daily_loss_limit_pct=daily_loss_limit_pct, cooldown_s=cooldown_s,
                         min_confidence=min_confidence)
    result = asyncio.run(run_backtest(chunks, instruments, strategy or SmaCross(), rules,
                                      balance=Decimal(balance), skip_refused=skip_refused))
    return [(t.trade_id, t.exit_reason.value, str(t.exit_price), str(t.quantity)) for t in result.trades]


def test_skipping_refused_signals_changes_nothing_with_free_slots() -> None:
    fast = _trades(True, 12, 3000, max_positions=12)
    assert fast, "the scenario must trade"
    assert fast == _trades(False, 12, 3000, max_positions=12)


def test_skipping_refused_signals_changes_nothing_when_slots_run_out() -> None:
    fast = _trades(True, 12, 3000, max_positions=2)
    assert fast
    assert fast == _trades(False, 12, 3000, max_positions=2)


def test_skipping_changes_nothing_through_daily_loss_halts_and_cooldowns() -> None:
    """Chunks of 5 h: the equity snapshot at a chunk's end trips the limit, the kill switch closes positions
    there, and the halt lifts at midnight in the middle of a later chunk. Each halt must end on time when
    skipping too (it once muted every symbol until a later step that never came)."""
    def run(skip: bool) -> list[tuple[str, str, str, str]]:
        return _trades(skip, 3, 30_000, max_positions=2, chunk_bars=300, daily_loss_limit_pct=Decimal("0.3"),
                       cooldown_s=1800.0)

    fast = run(True)
    assert sum(reason == "kill_switch" for _, reason, _, _ in fast) >= 5, "the scenario must trip the limit"
    assert fast == run(False)


LINK = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance_um_1m_isda" / "LINKUSDT-1m-2026-02.csv.gz"


@pytest.mark.skipif(not LINK.exists(), reason="shared Binance data not available")
def test_the_chunk_size_the_reader_uses_changes_nothing() -> None:
    """LINKUSDT 2026-02 read in chunks of 1,000 and of 5,000 bars made 60 and 61 trades: sma-cross's running
    sum rounded an exact tie of its averages apart differently in each (signals/sma_cross.py)."""
    universe = load_universe()
    instruments = {"LINKUSDT": universe.instrument("LINKUSDT")}

    def trades(chunk_bars: int) -> list[tuple[str, str, str, str]]:
        result = asyncio.run(run_backtest(iter_binance_klines(LINK, chunk_bars=chunk_bars), instruments, SmaCross(),
                                          TradingRules(), balance=Decimal(10_000)))
        return [(t.trade_id, t.exit_reason.value, str(t.exit_price), str(t.quantity)) for t in result.trades]

    thousand = trades(1_000)
    assert len(thousand) > 30
    assert trades(5_000) == thousand


@pytest.mark.parametrize("margin_rule", [True, False], ids=["margin-rule", "sizing-refuses"])
def test_skipping_changes_nothing_when_signals_at_one_close_compete_for_margin(
        margin_rule: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """222 symbols until the margin runs out: at a close where a stop-out frees margin, the symbol it freed (muted
    until then) and the symbols the replay stopped for compete for it. They are handled in the chunk's column
    order either way; the freed symbol's signal once came after all the others and got nothing (1,317 trades
    against 1,310 in the stress run, 100 against 101 here). Without the margin rule (risk/rules.py), which mutes
    every symbol once the cross wallet cannot hold the smallest order, sizing alone refuses, and the replay keeps
    stopping for signals: the case the order matters most in."""
    if not margin_rule:
        every_rule = risk_manager.default_rules
        monkeypatch.setattr(risk_manager, "default_rules", lambda book, sizing=None: every_rule(book))

    def run(skip: bool) -> list[tuple[str, str, str, str]]:
        return _trades(skip, 222, 1500, max_positions=222, chunk_bars=2000, seed=1, jump_prob=0.0002,
                       strategy=SmaCross(10, 30), balance=1_000_000)

    fast = run(True)
    assert len(fast) > 90, "the scenario must trade until the margin runs out"
    assert fast == run(False)
