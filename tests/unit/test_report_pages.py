"""The HTML reports (reports/): self-contained, escaped, and showing the figures of the run they report.

A real backtest (the live engine over synthetic bars with jumps, so some stops slip and two breach) feeds
the backtest and audit pages; the evaluation page gets a document built by ml/metrics on real numbers.
The browser half (the pages open with no error and draw their charts) is tests/e2e/test_reports.py.
"""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from quantum_trader.domain.events import Direction, TradeOpened
from quantum_trader.marketdata.bars import BarChunk, synthetic_bars
from quantum_trader.ml import metrics
from quantum_trader.reports import prices, svg
from quantum_trader.reports.audit_report import audit_html
from quantum_trader.reports.backtest_report import backtest_html, chart_data
from quantum_trader.reports.evaluation_report import evaluation_html
from quantum_trader.reports.page import LICENCE_NOTICE, SVG_NOTICE, inline_json
from quantum_trader.reports.write import write_audit_png, write_backtest_png
from quantum_trader.research.backtest import BacktestResult, run_backtest
from quantum_trader.research.price_tape import PriceTape
from quantum_trader.runtime.wiring import TradingRules
from quantum_trader.signals.registry import build_strategy
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.audit import audit_rows, audit_summary
from quantum_trader.webassets import chart_library

BARS = 12_000
EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|@import|import\s*\("""
                      r"""|url\(\s*["']?(?:https?:)?//""", re.IGNORECASE)


def market() -> tuple[dict[str, Any], list[BarChunk]]:
    universe = load_universe()
    instruments = {s: universe.instrument(s) for s in universe.top(2)}
    return instruments, list(synthetic_bars(list(instruments), [float(i.typical_price) for i in instruments.values()],
                                            BARS, seed=3, chunk_bars=3_000, vol=0.003, jump_prob=0.002, jump_vol=0.03))


def run(keep_prices: bool) -> BacktestResult:
    instruments, chunks = market()
    return asyncio.run(run_backtest(chunks, instruments, build_strategy("sma-cross"),
                                    TradingRules(max_positions=2, cooldown_s=0.0), keep_prices=keep_prices))


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    return run(keep_prices=True)


@pytest.fixture(scope="module")
def page(result: BacktestResult) -> str:
    return backtest_html(result, data_name="synthetic <bars>", strategy="sma-cross")


class Scripts(HTMLParser):
    """The text of each <script> element, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._open = dict(attrs)
            self.scripts.append((self._open, ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


def report_data(html: str) -> Any:
    parser = Scripts()
    parser.feed(html)
    texts = [text for attrs, text in parser.scripts if attrs.get("id") == "report-data"]
    assert len(texts) == 1
    return json.loads(texts[0])


def footer(html: str) -> str:
    """The page's footer text, unescaped."""
    found = re.search(r"<footer>(.*?)</footer>", html, re.DOTALL)
    assert found, "no footer"
    return unescape(found.group(1))


def outside_library(html: str) -> str:
    """The page without the inlined library (whose own licence header names its URLs)."""
    return html.replace(chart_library(), "")


def test_keeping_prices_changes_nothing_of_the_result(result: BacktestResult) -> None:
    plain = run(keep_prices=False)
    assert plain.prices is None and plain.opened == []
    timing = ("seconds", "bars_per_s")
    assert {k: v for k, v in plain.to_json().items() if k not in timing} == \
        {k: v for k, v in result.to_json().items() if k not in timing}
    assert result.prices is not None and len(result.opened) >= len(result.trades) > 50


def test_backtest_page_is_self_contained(page: str) -> None:
    assert chart_library() in page  # inlined once, whole
    assert page.count("LightweightCharts") >= 2
    rest = outside_library(page)
    assert not EXTERNAL.findall(rest), EXTERNAL.findall(rest)
    assert "http://" not in rest and "https://" not in rest
    assert LICENCE_NOTICE in rest and "Apache-2.0" in rest and "TradingView, Inc." in rest
    assert footer(page) == LICENCE_NOTICE  # the library is inlined: its notice is the footer


def test_backtest_page_shows_the_result(result: BacktestResult, page: str) -> None:
    perf = result.report["performance"]
    final = result.equity_curve[-1][1]
    data = report_data(page)
    assert data["result"]["performance"] == json.loads(json.dumps(perf, default=str))
    assert data["equity"][-1][1] == float(final)
    assert data["equity"][-1][0] == result.equity_curve[-1][0] // 1000
    assert len(data["trades"]) == perf["trades"] == len(result.trades)
    rest = outside_library(page)
    assert f"{perf['trades']} trades" in rest and f"net P&amp;L {perf['net_pnl']} USDT" in rest
    assert rest.count("<tr class=\"breach\">") == len(result.report["stop_audit"]["breach_trade_ids"]) > 0
    assert "synthetic &lt;bars&gt;" in rest and "<bars>" not in rest


def test_the_positions_open_at_the_end_are_shown_and_make_up_the_final_equity(result: BacktestResult,
                                                                              page: str) -> None:
    """net_pnl counts closed trades; the equity curve also holds what is open at its mark, which no field showed:
    the final equity read -17.31 % beside a return_pct of -16.99 % with nothing to say why."""
    doc = result.to_json()
    perf, positions = doc["performance"], doc["positions_at_end"]
    assert len(positions) == doc["open_positions_at_end"] > 0
    final = Decimal(doc["final_equity"])
    assert final == result.equity_curve[-1][1]  # the curve's (and the report's) last point
    assert final == Decimal(perf["start_equity"]) + Decimal(perf["net_pnl"]) + Decimal(doc["open_pnl_at_end"])
    assert Decimal(doc["unrealised_at_end"]) == sum(Decimal(p["unrealised_pnl"]) for p in positions)
    for position in positions:
        assert Decimal(position["open_pnl"]) == (Decimal(position["unrealised_pnl"]) - Decimal(position["fees"])
                                                 + Decimal(position["funding"]))
        assert Decimal(position["fees"]) > 0 and position["side"] in ("long", "short")
        assert position["trade_id"] not in {t.trade_id for t in result.trades}  # in no trade list
    assert float(doc["final_return_pct"]) == pytest.approx(float((final / 10_000 - 1) * 100), abs=1e-4)
    rest = outside_library(page)
    assert f"Open at the end ({len(positions)})" in rest and f"final equity {doc['final_equity']} USDT" in rest
    assert all(f"<td>{p['unrealised_pnl']}</td>" in rest for p in positions)


def test_drawdown_is_measured_from_the_running_peak(result: BacktestResult) -> None:
    data = chart_data(result)
    values = [v for _, v in data["equity"]]
    peak, worst = 10_000.0, 0.0
    for value in values:
        peak = max(peak, value)
        worst = min(worst, (value - peak) / peak * 100)
    assert min(v for _, v in data["drawdown"]) == pytest.approx(worst)
    assert all(v <= 0 for _, v in data["drawdown"])


def test_prices_are_light_but_exact_around_each_trade(result: BacktestResult) -> None:
    assert result.prices is not None
    data = chart_data(result)
    assert set(data["symbols"]) == {t.symbol for t in result.trades}
    _, chunks = market()
    for symbol, chart in data["symbols"].items():
        s = chunks[0].symbol_index(symbol)
        times = np.concatenate([c.open_time for c in chunks])
        closes = np.concatenate([c.close[:, s] for c in chunks])
        kept = dict(chart["prices"])
        assert len(kept) == len(chart["prices"]) < BARS  # unique times, fewer than all bars
        assert [t for t, _ in chart["prices"]] == sorted(kept)
        trades = [t for t in result.trades if t.symbol == symbol]
        assert len(chart["markers"]) == 2 * len(trades)
        for marker in chart["markers"]:
            assert marker["time"] in kept  # every entry and exit sits on a kept bar
        for trade in trades:  # the bars either side of each entry and exit are all there, exactly
            for moment in (trade.opened_ms, trade.time_ms):
                i = prices.bar_index(times, moment)
                for j in range(max(i - prices.PAD_BARS, 0), min(i + prices.PAD_BARS, BARS)):
                    assert kept[int(times[j]) // 1000] == pytest.approx(float(closes[j]), rel=1e-6)


def opened(symbol: str, time_ms: int) -> TradeOpened:
    return TradeOpened(f"{symbol}_{time_ms}", symbol, Direction.LONG, Decimal(1), Decimal(100), Decimal(99),
                       Decimal(102), Decimal(1), 5, Decimal(1_000), time_ms)


def test_the_tape_is_reduced_as_the_run_goes_and_exact_around_trades() -> None:
    """A year of minutes in 53 chunks: at most 2 × max_points sampled bars plus the bars near each trade,
    which are exact even when a trade sits on a chunk boundary (its pad reaching into the chunk before)."""
    tape, n, chunk_bars = PriceTape(max_points=1_000, pad_bars=5), 525_600, 10_000
    closes = np.arange(n, dtype=np.float64) % 977 + 100.0
    closes[123_456] = np.nan  # a bar the symbol misses
    events = [7, 20_000, 30_000, 30_003, 123_450, 525_599]  # bar numbers; 20_000 and 30_000 open a chunk
    for start in range(0, n, chunk_bars):
        stop = min(start + chunk_bars, n)
        for bar in (e for e in events if start <= e < stop):
            tape.on_trade(opened("X", bar * 60_000 + 60_000))  # at the bar's close, as the engine decides
        block = closes[start:stop, None]
        tape.add(BarChunk(("X",), np.arange(start, stop, dtype=np.int64) * 60_000, block, block, block, block,
                          block, 60_000))
    times, kept = tape.series("X")
    bars = times // 60_000
    assert len(bars) <= 2 * 1_000 + len(events) * 12 and bars.tolist() == sorted(set(bars.tolist()))
    assert 123_456 not in bars.tolist()
    for event in events:
        near = [b for b in range(event - 4, event + 6) if 0 <= b < n and b != 123_456]
        assert set(near) <= set(bars.tolist()), event
    assert np.array_equal(kept, closes[bars].astype(np.float32))


def test_kept_indices_cap_the_line_and_keep_trade_ends() -> None:
    times = np.arange(200_000, dtype=np.int64) * 60_000
    trade = type("T", (), {})()
    span = prices.TradeSpan(trade, None, 50_000, 150_000)  # only the indices matter here
    kept = prices.kept_indices(len(times), [span])
    assert kept[0] == 0 and kept[-1] == len(times) - 1
    assert len(kept) <= prices.MAX_POINTS + 1 + 4 * prices.TRADE_END_BARS
    assert set(range(50_000 - prices.PAD_BARS, 50_000 + 5)) <= set(kept.tolist())
    assert set(range(150_000 - 5, 150_000 + prices.PAD_BARS + 1)) <= set(kept.tolist())


def test_inline_json_cannot_close_its_script() -> None:
    nasty = {"symbol": "</script><script>alert(1)</script><!--", "n": float("nan")}
    text = inline_json(nasty)
    assert "<" not in text
    assert json.loads(text) == {"symbol": nasty["symbol"], "n": None}


def audit_document(result: BacktestResult) -> dict[str, Any]:
    """What `audit --json` prints (readmodels/journal.audit_from_journal), from the run's trades."""
    rows = audit_rows(result.trades)
    return {"positions": [r.to_dict() for r in rows], "summary": audit_summary(rows),
            "breaches": sum(1 for r in rows if r.breach)}


def test_audit_page_highlights_breaches_and_draws_every_judged_position(result: BacktestResult) -> None:
    document = audit_document(result)
    html = audit_html(document, source="sqlite:///x.db")
    assert not EXTERNAL.findall(html) and "https://" not in html
    assert chart_library() not in html  # no time series: no library needed
    assert footer(html) == SVG_NOTICE  # it said "TradingView Lightweight Charts ... inlined in this file"
    assert "Lightweight" not in html and "TradingView" not in html
    breaches = document["breaches"]
    assert breaches > 0 and f"{breaches} breach(es)" in html
    assert html.count('<tr class="breach">') == breaches
    assert html.count('class="point breach"') == breaches
    assert html.count('class="point') == len([r for r in document["positions"] if r["planned_loss"]])
    assert report_data(html)["audit"] == json.loads(json.dumps(document))
    slips = [float(r["slippage_bps"]) for r in document["positions"] if r["slippage_bps"] is not None]
    assert sum(int(m) for m in re.findall(r"to [-\d.e+]+: (\d+)</title>", html)) == len(slips)


def test_an_empty_audit_still_renders() -> None:
    rows = audit_rows([])
    html = audit_html({"positions": [], "summary": audit_summary(rows), "breaches": 0}, source="sqlite:///new.db")
    assert "No closed positions" in html and "no stop-loss exits" in html
    assert "stop-loss fills against their stop&#x27;s trigger only" in html  # what a slippage figure is of


def test_histogram_counts_every_value() -> None:
    values = [0.1, 0.2, 0.2, 5.0, 9.9, 10.0]
    chart = svg.histogram("h", "t", values, "bps", bins=5)
    counts = [int(n) for n in re.findall(r": (\d+)</title></rect>", chart)]
    assert sum(counts) == len(values) and counts[0] == 3 and counts[-1] == 2


def evaluation_document() -> dict[str, Any]:
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 4_000)
    y = (rng.uniform(0, 1, 4_000) < p).astype(np.float64)
    side = {"rows": len(p), "base_rate": float(y.mean()), "calibrator": "isotonic", "auc": metrics.auc(p, y),
            "brier": metrics.brier(p, y), "ece": metrics.ece(p, y), "reliability": metrics.reliability_table(p, y),
            "uncertainty": {"ece": {"lo": 0.01, "hi": 0.03}, "ece_share_at_or_below_bar": 0.9,
                            "win_rate": {"lo": 0.45, "hi": 0.55}, "effective_outcomes": 1234.0},
            "signals": {"count": int((p >= 0.6).sum()), "hit_rate": float(y[p >= 0.6].mean()),
                        "ev_per_trade_pct": 0.2, "predicted_ev_pct": 0.25},
            "baseline_constant": {"brier": 0.25, "ece": 0.0, "ece_interval": None},
            "baseline_always_trade": {"count": len(p), "hit_rate": float(y.mean()), "ev_per_trade_pct": -0.1}}
    return {"model_version": "abc<123>", "labels": {"tp_pct": 4.0}, "min_confidence": 0.6, "ece": side["ece"],
            "ece_definition": "10 bins", "sides": {"long": side, "short": side},
            "data": {"rows": len(p), "symbols": ["LINKUSDT"], "first_time_ms": 0, "last_time_ms": 86_400_000,
                     "files": ["x.csv.gz"]}}


def test_evaluation_page_draws_each_bin_with_its_count() -> None:
    doc = evaluation_document()
    html = evaluation_html(doc)
    assert not EXTERNAL.findall(html) and "https://" not in html
    assert "abc&lt;123&gt;" in html and "abc<123>" not in html
    rows = doc["sides"]["long"]["reliability"]
    assert html.count('class="point"') == 2 * sum(1 for r in rows if r["count"])
    for r in rows:
        assert f"{r['lo']:.1f}-{r['hi']:.1f}: {r['count']:,} rows" in html
    assert report_data(html)["evaluation"]["sides"]["long"]["auc"] == pytest.approx(doc["sides"]["long"]["auc"])
    assert footer(html) == SVG_NOTICE and chart_library() not in html and "TradingView" not in html


def test_png_files_are_written(result: BacktestResult, tmp_path: Path) -> None:
    paths = write_backtest_png(result, tmp_path / "bt") + write_audit_png(audit_document(result), tmp_path / "au")
    assert sorted(p.name for p in paths) == ["equity.png", "realised_vs_planned.png", "slippage.png", "slippage.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000


def test_bar_index_puts_a_fill_on_the_bar_it_belongs_to() -> None:
    times = np.array([0, 60_000, 120_000], dtype=np.int64)
    assert [prices.bar_index(times, t) for t in (0, 59_999, 60_000, 500_000, -5)] == [0, 0, 1, 2, 0]
