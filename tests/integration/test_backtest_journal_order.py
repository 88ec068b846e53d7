"""A backtest's journal tells what happened in time order, at a chunk's end as at every step.

Funding paid while the replay runs through quiet bars is told at the next step. At a chunk's end the engine
read the day's equity first and told the funding after it: over the peers' BNBUSDT data, read in chunks of
2,000 bars, the journal had the daily loss limit's reference of 00:00 before the funding of 16:00 the day
before. Which chunk a bar falls in decides nothing, so the journal must not depend on it either.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from quantum_trader.journal.db import migrate
from quantum_trader.journal.writer import Journal
from quantum_trader.marketdata.bars import synthetic_bars
from quantum_trader.research.backtest import run_backtest
from quantum_trader.runtime.wiring import TradingRules
from quantum_trader.signals.sma_cross import SmaCross
from quantum_trader.sim.universe import load_universe

SYMBOLS = ["BNBUSDT", "ETHUSDT", "SOLUSDT"]


def _actions(db: Path, chunk_bars: int) -> list[tuple[str, str, int, str]]:
    universe = load_universe()
    instruments = {s: universe.instrument(s) for s in SYMBOLS}
    chunks = synthetic_bars(SYMBOLS, [float(instruments[s].typical_price) for s in SYMBOLS], 6 * 1440, seed=5,
                            chunk_bars=chunk_bars, vol=0.0007, jump_prob=0.0002)
    migrate(f"sqlite:///{db}")
    journal = Journal(f"sqlite:///{db}", batch_size=500)
    journal.start_session("backtest", "{}", "test")
    try:
        rules = TradingRules(max_positions=3, daily_loss_limit_pct=Decimal("5"), cooldown_s=0.0)
        asyncio.run(run_backtest(chunks, instruments, SmaCross(), rules, balance=Decimal(100_000), journal=journal))
    finally:
        journal.close()
    with sqlite3.connect(db) as conn:
        return list(conn.execute("select symbol, action, time_ms, coalesce(trade_id, '') from protection_actions "
                                 "order by id"))


@pytest.mark.parametrize("chunk_bars", [420, 5_000])
def test_protection_actions_are_journaled_in_time_order_at_chunk_ends(tmp_path: Path, chunk_bars: int) -> None:
    # Chunks of 7 h and of 3.5 days: their ends fall after funding times (00:00, 08:00, 16:00), across midnights.
    actions = _actions(tmp_path / "j.db", chunk_bars=chunk_bars)
    assert any(action == "funding" for _, action, _, _ in actions), "the scenario must pay funding"
    assert any(action == "daily_reference" for _, action, _, _ in actions), "and read each day's equity"
    late = [(before, after) for before, after in itertools.pairwise(actions) if after[2] < before[2]]
    assert late == []


def test_the_journal_is_the_same_whatever_the_chunk_size(tmp_path: Path) -> None:
    assert _actions(tmp_path / "a.db", chunk_bars=420) == _actions(tmp_path / "b.db", chunk_bars=5_000)
