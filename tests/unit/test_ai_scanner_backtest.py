"""The AI scanner in a backtest: its signals reach risk and the journal with their score, only confident ones
trade, and skipping the signals risk refuses on their own changes no trade."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

from scanner_fixtures import tiny_model

from quantum_trader.journal.db import migrate
from quantum_trader.journal.writer import Journal
from quantum_trader.marketdata.bars import synthetic_bars
from quantum_trader.ml.features import FEATURE_NAMES
from quantum_trader.research.backtest import run_backtest
from quantum_trader.runtime.wiring import TradingRules
from quantum_trader.signals.ai_scanner import AiScanner, ScannerConfig
from quantum_trader.sim.universe import load_universe

THRESHOLD = 0.9


def backtest(folder: Path, *, skip_refused: bool) -> tuple[list[tuple[str, str, str, str]], list[Any]]:
    universe = load_universe()
    instruments = {s: universe.instrument(s) for s in universe.top(6)}
    chunks = synthetic_bars(list(instruments), [float(i.typical_price) for i in instruments.values()], 1_500,
                            seed=4, chunk_bars=500, vol=0.003)
    url = f"sqlite:///{folder / f'skip_{skip_refused}.db'}"
    migrate(url)
    journal = Journal(url, batch_size=500)
    journal.start_session("backtest", "{}", "test")
    strategy = AiScanner(ScannerConfig(min_confidence=THRESHOLD), model=tiny_model())
    result = asyncio.run(run_backtest(chunks, instruments, strategy,
                                      TradingRules(max_positions=2, min_confidence=THRESHOLD, cooldown_s=0.0),
                                      balance=Decimal(100_000), journal=journal, skip_refused=skip_refused))
    journal.close()
    with sqlite3.connect(folder / f"skip_{skip_refused}.db") as db:
        signals = db.execute("SELECT s.confidence, s.model_version, s.reasons, s.expected_value, d.approved "
                             "FROM signals s LEFT JOIN risk_decisions d ON d.signal_id = s.id ORDER BY s.id").fetchall()
    trades = [(t.symbol, t.direction.value, t.exit_reason.value, str(t.exit_price)) for t in result.trades]
    return trades, signals


def test_scanner_signals_are_journaled_with_their_score_and_only_confident_ones_trade(tmp_path: Path) -> None:
    trades, signals = backtest(tmp_path, skip_refused=True)
    assert trades, "the scenario must trade"
    assert signals and all(conf >= THRESHOLD for conf, *_ in signals)  # the rest never reached risk
    for _, version, reasons, ev, _ in signals:
        assert version == tiny_model().model_version and isinstance(ev, float)
        assert [name for name, _ in json.loads(reasons)] and all(n in FEATURE_NAMES for n, _ in json.loads(reasons))
    everything, all_signals = backtest(tmp_path, skip_refused=False)
    assert everything == trades
    below = [row for row in all_signals if row[0] < THRESHOLD]
    assert below and not any(approved for *_, approved in below)  # scored, journaled, refused
