"""A backtest's entry fills at the close its order was sent at, and funding due at that close is not charged to it.

A signal is decided at a bar's close, and the journal stamps the entry order then. The simulator used to stay at
the bar's open while the engine acted, so the entry's fill (and its order updates) carried a time 60 s before the
order that caused it: 62 of 62 entries in the default LINK run. And a funding payment due exactly at that close
(00:00, 08:00, 16:00 UTC) was charged to the new position as the replay moved on, though on Binance the order
goes after the kline has closed, after the funding moment: only positions held at that moment pay it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal
from pathlib import Path

import numpy as np

from quantum_trader.journal.db import migrate
from quantum_trader.journal.writer import Journal
from quantum_trader.marketdata.bars import BarChunk, synthetic_bars
from quantum_trader.research.backtest import BacktestResult, run_backtest
from quantum_trader.runtime.wiring import TradingRules
from quantum_trader.signals.strategy import SignalBatch
from quantum_trader.sim.universe import load_universe

SYMBOLS = ["BNBUSDT", "ETHUSDT"]
MIDNIGHT = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTE = 60_000
EIGHT = MIDNIGHT + 8 * 3_600_000  # a funding time
#: Bar opening times of the scripted long entries: BNB's closes exactly at 08:00, ETH's a minute before.
ENTRIES = {"BNBUSDT": EIGHT - MINUTE, "ETHUSDT": EIGHT - 2 * MINUTE}


class ScriptedLongs:
    """One long signal per symbol, at the bar opening at `ENTRIES[symbol]` (decided at its close)."""

    name = "scripted"

    def on_chunk(self, chunk: BarChunk) -> SignalBatch:
        batch = SignalBatch.empty(len(chunk), len(chunk.symbols))
        for s, symbol in enumerate(chunk.symbols):
            for t in np.flatnonzero(chunk.open_time == ENTRIES[symbol]):
                batch.direction[t, s], batch.confidence[t, s] = 1, 1.0
        return batch


def _backtest(db: Path) -> BacktestResult:
    universe = load_universe()
    instruments = {s: universe.instrument(s) for s in SYMBOLS}
    chunks = synthetic_bars(SYMBOLS, [float(instruments[s].typical_price) for s in SYMBOLS], 12 * 60, seed=3,
                            chunk_bars=300, vol=0.002, jump_prob=0.0, start_ms=MIDNIGHT)
    migrate(f"sqlite:///{db}")
    journal = Journal(f"sqlite:///{db}", batch_size=100)
    journal.start_session("backtest", "{}", "test")
    try:
        rules = TradingRules(stop_loss_pct=Decimal("0.8"), take_profit_pct=Decimal("0.8"))
        return asyncio.run(run_backtest(chunks, instruments, ScriptedLongs(), rules, journal=journal))
    finally:
        journal.close()


def test_entries_fill_at_their_orders_close_and_pay_no_funding_due_then(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    result = _backtest(db)
    trades = {t.symbol: t for t in result.trades}
    assert set(trades) == set(SYMBOLS), "both scripted trades opened and closed within the data"
    assert all(t.time_ms < EIGHT + 8 * 3_600_000 for t in trades.values()), "closed before the next funding time"

    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT o.purpose, o.symbol, o.created_ms, f.time_ms FROM fills f "
                           "JOIN orders o ON o.client_id = f.client_id").fetchall()
    assert rows, "the journal holds the fills"
    late = [(purpose, symbol, created, filled) for purpose, symbol, created, filled in rows if filled < created]
    assert late == [], "no fill is stamped before the order that caused it"
    entries = {symbol: (created, filled) for purpose, symbol, created, filled in rows if purpose == "entry"}
    assert entries == {s: (t + MINUTE, t + MINUTE) for s, t in ENTRIES.items()}, "each entry fills at its close"

    # ETH was held at 08:00 and pays that funding; BNB's entry went after the 08:00 moment and pays none.
    assert trades["ETHUSDT"].funding != 0
    assert trades["BNBUSDT"].funding == 0
    assert trades["BNBUSDT"].opened_ms == EIGHT
