"""The HTML reports in a real headless Chromium: written by the installed command, opened from the file.

`backtest --report` over two real monthly files (two symbols: the selector), `audit --report` on the
journal that backtest wrote, `evaluate --report` with the shipped model on three real days. Each page
must open offline with no console error and no request at all leaving the machine, and draw what it
promises: a canvas for the equity curve, the trades-on-price chart holding every entry and exit marker.
Screenshots go to build/test-artifacts/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import PlaywrightTimeout, browser_page, requires_browser, screenshot

BIN = Path(sys.executable).parent / "quantum-trader"
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance_um_1m_isda"
LINK = DATA / "LINKUSDT-1m-2026-02.csv.gz"
AVAX = DATA / "AVAXUSDT-1m-2026-02.csv.gz"
TIMING = ("seconds", "bars_per_s")

pytestmark = [requires_browser, pytest.mark.skipif(not (LINK.is_file() and AVAX.is_file()),
                                                   reason=f"real Binance kline files not found under {DATA}")]


def cli(*args: str, codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=300)
    assert done.returncode in codes, done.stderr
    return done


@pytest.fixture(scope="module")
def backtest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], Path]:
    """Two symbols backtested with --report (and --db, for the audit); returns report, --json document, db."""
    folder = tmp_path_factory.mktemp("reports")
    data = folder / "data"
    data.mkdir()
    for path in (LINK, AVAX):
        shutil.copy(path, data / path.name)
    report, db = folder / "backtest.html", folder / "journal.db"
    done = cli("backtest", "--data", str(data), "--json", "--report", str(report), "--png", str(folder / "png"),
               "--db", f"sqlite:///{db}")
    document: dict[str, Any] = json.loads(done.stdout)  # --report leaves stdout one JSON document
    assert sorted(p.name for p in (folder / "png").iterdir()) == ["equity.png", "slippage.png"]
    return report, document, db


def test_a_report_changes_nothing_of_the_backtest(backtest: tuple[Path, dict[str, Any], Path]) -> None:
    report, document, _ = backtest
    data = report.parent / "data"
    # The same run without --report (into a fresh journal too: trade ids carry the journal's session).
    again = json.loads(cli("backtest", "--data", str(data), "--json", "--db",
                           f"sqlite:///{report.parent / 'plain.db'}").stdout)
    assert {k: v for k, v in again.items() if k not in TIMING} == \
        {k: v for k, v in document.items() if k not in TIMING}


def test_backtest_report_opens_offline_with_equity_and_trades_on_price(
        backtest: tuple[Path, dict[str, Any], Path]) -> None:
    report, document, _ = backtest
    by_symbol = {s: sum(1 for t in document["trades"] if t["symbol"] == s) for s in ("AVAXUSDT", "LINKUSDT")}
    assert all(by_symbol.values())
    with browser_page() as (page, watch):
        page.goto(report.as_uri())
        page.wait_for_selector("#price-chart[data-markers]")
        assert page.locator("#equity-chart canvas").count() > 0
        assert page.locator("#price-chart canvas").count() > 0
        chart = page.locator("#price-chart")
        assert chart.get_attribute("data-symbol") == "AVAXUSDT"
        assert chart.get_attribute("data-precision") == "3"  # AVAXUSDT's tick is 0.001
        assert int(chart.get_attribute("data-markers") or 0) == 2 * by_symbol["AVAXUSDT"]
        assert int(page.locator("#equity-chart").get_attribute("data-points") or 0) > 20
        assert page.locator("#trades-table tbody tr").count() == document["performance"]["trades"]
        assert document["performance"]["net_pnl"] in page.locator("body").inner_text()
        screenshot(page, "report-backtest")
        page.select_option("#symbol", "LINKUSDT")
        assert chart.get_attribute("data-symbol") == "LINKUSDT"
        assert int(chart.get_attribute("data-markers") or 0) == 2 * by_symbol["LINKUSDT"]
        page.locator("#trades-table tbody tr").last.click()  # zoom on a trade: its entry, stop and target lines
        page.wait_for_timeout(300)
        screenshot(page, "report-backtest-trade")
        watch.assert_clean()


def test_audit_report_opens_offline_with_its_charts(backtest: tuple[Path, dict[str, Any], Path]) -> None:
    _, document, db = backtest
    report = db.parent / "audit.html"
    audit = json.loads(cli("audit", "--db", f"sqlite:///{db}", "--json", "--report", str(report), codes=(0, 5)).stdout)
    assert audit["summary"]["trades"] == document["performance"]["trades"]
    with browser_page() as (page, watch):
        page.goto(report.as_uri())
        for chart in ("#loss-chart", "#slippage-chart", "#reasons-chart"):
            assert page.locator(chart).is_visible()
        judged = sum(1 for r in audit["positions"] if r["planned_loss"] is not None and r["exit_reason"] != "unknown")
        assert page.locator("#loss-chart circle").count() == judged > 0
        assert page.locator("#audit-table tbody tr").count() == len(audit["positions"])
        assert page.locator("#audit-table tr.breach").count() == audit["breaches"]
        footer = page.locator("footer").inner_text()  # true to the file: SVG, no library inlined
        assert "inline SVG" in footer and "Lightweight" not in footer and "TradingView" not in report.read_text()
        screenshot(page, "report-audit")
        watch.assert_clean()


def test_evaluation_report_opens_offline_with_the_reliability_diagrams(tmp_path: Path) -> None:
    report = tmp_path / "evaluation.html"
    doc = json.loads(cli("evaluate", "--model", "default", "--data", str(LINK), "--start", "2026-02-07",
                         "--end", "2026-02-09", "--json", "--report", str(report)).stdout)
    with browser_page() as (page, watch):
        page.goto(report.as_uri())
        for side in ("long", "short"):
            bins = [r for r in doc["sides"][side]["reliability"] if r["count"]]
            assert page.locator(f"#reliability-{side} circle").count() == len(bins) > 0
        assert doc["model_version"] in page.locator("body").inner_text()
        screenshot(page, "report-evaluation")
        watch.assert_clean()


#: How far a table reaches and where its verdict column ends, at the page's width (read in the page).
TABLE_FIT_JS = """(id) => { const table = document.getElementById(id); const panel = table.parentElement;
  const verdict = table.querySelector('thead th:last-child').getBoundingClientRect();
  return { table: table.scrollWidth, panel: panel.clientWidth, panelContent: panel.scrollWidth,
           verdictRight: verdict.right, page: document.documentElement.scrollWidth, viewport: window.innerWidth }; }"""
#: Lit pixels on a chart's time axis: in its two leftmost columns (a date label cut off by the chart's edge)
#: and in its first 80 (the first label, drawn whole).
TIME_AXIS_JS = """(id) => { const canvases = [...document.querySelectorAll('#' + id + ' canvas')];
  const box = (c) => c.getBoundingClientRect();
  const bottom = Math.max(...canvases.map((c) => box(c).bottom));
  const axis = canvases.filter((c) => box(c).bottom === bottom);
  const left = Math.min(...axis.map((c) => box(c).left));
  const lit = (width) => axis.filter((c) => box(c).left === left).reduce((n, canvas) => {
    const px = canvas.getContext('2d').getImageData(0, 0, width, canvas.height).data;
    for (let i = 0; i < px.length; i += 4) n += px[i] + px[i + 1] + px[i + 2] > 300 ? 1 : 0;
    return n; }, 0);
  return { edge: lit(2), first: lit(80), axes: axis.length }; }"""


def assert_table_fits(page: Any, table_id: str) -> None:
    """The table fits its panel (no sideways scroll inside it, none on the page) and its last column, the
    verdict, is on screen."""
    fit = page.evaluate(TABLE_FIT_JS, table_id)
    assert fit["table"] <= fit["panel"] and fit["panelContent"] <= fit["panel"], fit
    assert fit["verdictRight"] <= fit["viewport"], fit
    assert fit["page"] <= fit["viewport"], fit


def first_date_shows(page: Any, chart: str) -> bool:
    """The chart's first date label drawn whole: nothing lit at the axis' left edge, something lit near it.
    Waited for: the library sizes (and redraws) the chart after the page's script has run."""
    try:
        page.wait_for_function(f"(() => {{ const a = ({TIME_AXIS_JS})('{chart}'); "
                               "return a.axes > 0 && a.edge === 0 && a.first > 0; })()", timeout=5_000)
    except PlaywrightTimeout:
        return False
    return True


def test_report_tables_fit_and_the_first_date_shows_in_a_1300_px_window(
        backtest: tuple[Path, dict[str, Any], Path]) -> None:
    """A user trial at 1300 px: the audit's breach column needed a sideways scroll and the equity chart's first
    date label ("Feb") was cut in half by the chart's left edge."""
    report, _, db = backtest
    audit = db.parent / "audit-1300.html"
    cli("audit", "--db", f"sqlite:///{db}", "--report", str(audit), codes=(0, 5))
    with browser_page(width=1300, height=900) as (page, watch):
        page.goto(report.as_uri())
        page.wait_for_selector("#price-chart[data-markers]")
        assert_table_fits(page, "trades-table")
        for chart in ("equity-chart", "price-chart"):
            assert first_date_shows(page, chart), (chart, page.evaluate(TIME_AXIS_JS, chart))
        screenshot(page, "report-backtest-1300")
        page.goto(audit.as_uri())
        assert_table_fits(page, "audit-table")
        screenshot(page, "report-audit-1300")
        watch.assert_clean()
