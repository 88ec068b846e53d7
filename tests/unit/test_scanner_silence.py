"""Silent for a reason (task M, issue 11): a refused model, a scan that raised, symbols that lost an input or a
strategy that raised each become one `ScannerSilent` event per change of reason (not one per bar), journaled
in the errors table as kind `no_signal` and served beside the signals; never a trade, never a dead feed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from scanner_fixtures import SYMBOLS, market, tiny_model

from quantum_trader.core.bus import EventBus
from quantum_trader.domain.events import ScannerSilent
from quantum_trader.journal import Journal, JournalReader
from quantum_trader.marketdata.bars import BarChunk
from quantum_trader.ml.model_file import ScannerModel
from quantum_trader.readmodels.journal import no_signal_json
from quantum_trader.runtime.silence import SilenceReporter, scan_safely
from quantum_trader.signals.ai_scanner import AiScanner, ScannerConfig
from quantum_trader.signals.strategy import SignalBatch


def events_over(strategy: AiScanner, chunk: BarChunk, reporter: SilenceReporter) -> list[ScannerSilent]:
    """The live path: one bar at a time, the reporter asked after each."""
    out = []
    for t in range(len(chunk)):
        _, raised = scan_safely(strategy, chunk.slice(t, t + 1))
        event = reporter.event(strategy, raised, int(chunk.open_time[t]))
        if event is not None:
            out.append(event)
    return out


def test_a_missing_model_is_one_no_signal_event_not_one_per_bar(tmp_path: Path) -> None:
    strategy = AiScanner(ScannerConfig(model=str(tmp_path / "nowhere.json")))
    events = events_over(strategy, market(5), SilenceReporter())
    assert [(e.kind, e.source, e.symbols) for e in events] == [("no_model", "ai-scanner", ())]
    assert "does not exist" in events[0].reason


def test_a_scan_error_is_reported_once_until_it_clears(monkeypatch: pytest.MonkeyPatch) -> None:
    chunk = market(300)
    strategy = AiScanner(ScannerConfig(min_confidence=0.9), model=tiny_model())
    strategy.warm_up(chunk.slice(0, 280))
    reporter = SilenceReporter()

    def broken(self: ScannerModel, x: object, side: str) -> object:
        raise ValueError("booster exploded")

    monkeypatch.setattr(ScannerModel, "predict_raw", broken)
    first = events_over(strategy, chunk.slice(280, 283), reporter)
    assert [e.kind for e in first] == ["scan_error"] and "booster exploded" in first[0].reason
    monkeypatch.undo()
    assert events_over(strategy, chunk.slice(283, 285), reporter) == []  # scoring again: nothing to say
    monkeypatch.setattr(ScannerModel, "predict_raw", broken)
    assert [e.kind for e in events_over(strategy, chunk.slice(285, 286), reporter)] == ["scan_error"]


def test_a_symbol_that_loses_an_input_is_missing_data_once() -> None:
    chunk = market(300)
    close = chunk.close.copy()
    close[285:, 4] = np.nan  # symbol 4 stops arriving
    holed = BarChunk(chunk.symbols, chunk.open_time, chunk.open, chunk.high, chunk.low, close, chunk.volume,
                     chunk.interval_ms)
    strategy = AiScanner(ScannerConfig(min_confidence=0.9), model=tiny_model())
    strategy.warm_up(holed.slice(0, 280))
    events = events_over(strategy, holed.slice(280, 300), SilenceReporter())
    assert [(e.kind, e.symbols) for e in events] == [("missing_data", (SYMBOLS[4],))]
    assert f"1 symbol(s) with a missing input on the last bar: {SYMBOLS[4]}" in events[0].reason


class Exploding:
    name = "exploding"

    def on_chunk(self, chunk: BarChunk) -> SignalBatch:
        raise RuntimeError("bug in a strategy")


def test_a_strategy_that_raises_gives_no_signal_and_says_why() -> None:
    chunk = market(3)
    batch, raised = scan_safely(Exploding(), chunk.slice(0, 1))
    assert not batch.mask.any() and raised is not None and raised.kind == "strategy_error"
    reporter = SilenceReporter()
    event = reporter.event(Exploding(), raised, 1)
    assert event is not None and event.reason == "RuntimeError: bug in a strategy"
    assert reporter.event(Exploding(), raised, 2) is None


def test_the_journal_records_it_as_a_no_signal_error_row_served_beside_the_signals(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    event = ScannerSilent(source="ai-scanner", kind="missing_data", reason="no signals for 2 symbol(s)",
                          time_ms=123, symbols=("AUSDT", "BUSDT"))
    with Journal.open(url) as journal:
        bus = EventBus()
        journal.attach(bus)
        asyncio.run(bus.publish(event))
        journal.flush()
    reader = JournalReader(url)
    try:
        [row] = reader.no_signals()
        assert reader.errors() == [row]
    finally:
        reader.close()
    assert json.loads(row["details"]) == {"kind": "no_signal", "cause": "missing_data", "symbols": "AUSDT,BUSDT"}
    assert row["fatal"] in (False, 0)
    assert no_signal_json(row) == {"source": "ai-scanner", "cause": "missing_data",
                                   "reason": "no signals for 2 symbol(s)", "symbols": ["AUSDT", "BUSDT"],
                                   "time_ms": 123}


def test_a_bar_with_no_input_at_all_is_missing_data_for_every_symbol_scored_before() -> None:
    chunk = market(284)
    close = chunk.close.copy()
    close[-1, :] = np.nan  # the feed delivered a row of NaN (nothing arrived for that minute)
    holed = BarChunk(chunk.symbols, chunk.open_time, chunk.open, chunk.high, chunk.low, close, chunk.volume,
                     chunk.interval_ms)
    strategy = AiScanner(ScannerConfig(min_confidence=0.9), model=tiny_model())
    strategy.warm_up(holed.slice(0, 280))
    events = events_over(strategy, holed.slice(280, 284), SilenceReporter())
    assert [(e.kind, e.symbols) for e in events] == [("missing_data", SYMBOLS)]
