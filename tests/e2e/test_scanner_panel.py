"""The AI scanner's tally on the dashboard, in Debian's Chromium against a running bot.

/health kept the scanner's tally (symbol-bars scored, the best confidence each side reached against
min_confidence, when it last scanned, what risk refused of its signals), but the page showed only
`strategy_status`: a trader watching a bot that traded nothing all day could not see why. The scanner panel
shows it, from the same snapshot every half second, readable at a laptop's 1,300 px and at 1,920 px; it is
hidden for strategies without a scanner. Screenshots go to build/test-artifacts/.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from browser import browser_page, requires_browser, screenshot
from test_run_session import bot_env, running_bot

pytestmark = requires_browser

#: The panel is on screen and risk has refused at least one of the scanner's signals.
REFUSALS_SHOWN = ("!document.getElementById('scanner-panel').hidden"
                  " && document.querySelectorAll('#refusals tbody td.wrap').length > 0")
#: What the panel shows: its summary, each figure by label, each refusal row's cells.
PANEL = """() => ({
  summary: ['textContent', 'className'].map((key) => document.getElementById('scanner-summary')[key]),
  figures: Object.fromEntries([...document.querySelectorAll('#scanner-figures .fig')].map((f) => [
    f.querySelector('.label').textContent,
    {value: f.querySelector('.value').textContent, cls: f.querySelector('.value').className.trim(),
     note: f.querySelector('.small').textContent}])),
  refusals: [...document.querySelectorAll('#refusals tbody tr')].map((r) => [...r.cells].map((c) => c.textContent)),
})"""
#: The panel scrolls nothing sideways and every refusal's words end inside it.
FITS = """() => { const panel = document.getElementById('scanner-panel'), box = panel.getBoundingClientRect();
  const cells = [...document.querySelectorAll('#refusals tbody td.wrap')];
  return panel.scrollWidth <= panel.clientWidth && cells.length > 0
    && cells.every((c) => c.getBoundingClientRect().right <= box.right); }"""
#: The live scanner object rendered as a scanner that stopped 212.3 s ago would be, read before the next snapshot.
STALE = """() => { const h = structuredClone(window.qtDashboard.state.snapshot.health);
  Object.assign(h.scanner, {last_scan_age_s: 212.3, stale: true});
  renderScanner(h);
  const fig = [...document.querySelectorAll('#scanner-figures .fig')]
    .find((f) => f.textContent.startsWith('last scan'));
  return [fig.querySelector('.value').textContent, fig.querySelector('.value').className.trim()]; }"""

#: The header under a /health that says why it is degraded: the line under the header and the status pill's title.
REASONS = """() => { const h = structuredClone(window.qtDashboard.state.snapshot.health);
  Object.assign(h, {status: 'degraded', reasons: ['the AI scanner has not scanned for 212.3 s (limit 30 s)']});
  renderHeader({...window.qtDashboard.state.snapshot, health: h});
  const why = document.getElementById('health-reasons');
  return [why.hidden ? '' : why.textContent, document.getElementById('status').title]; }"""


def scanner(url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{url}/health", timeout=10).json()["scanner"]
    return body


def number(text: str) -> int:
    return int(text.split()[0].replace(",", ""))


def test_the_scanner_panel_says_how_far_its_best_confidence_is_from_trading_and_what_risk_refused(
        tmp_path: Path) -> None:
    env = bot_env(tmp_path, QT_SYMBOLS="20", QT_STRATEGY="ai-scanner")
    with running_bot(env, "--speed", "max", "--duration", "120") as (_, url), browser_page(width=1920) as (page, watch):
        page.goto(url + "/")
        page.wait_for_function(REFUSALS_SHOWN, timeout=60_000)
        shown = page.evaluate(PANEL)
        now = scanner(url)  # the tally only grows: the page's snapshot is at most this
        figures, risk, threshold = shown["figures"], now["risk"], now["min_confidence"]
        assert threshold == 0.65
        for side in ("long", "short"):
            best = figures[f"best {side}"]
            assert best["note"] == "min confidence 0.65" and 0 <= float(best["value"]) <= now[f"best_{side}"]
        if max(now["best_long"], now["best_short"]) < threshold:  # the shipped model's usual scores
            summary, style = shown["summary"]
            match = re.fullmatch(r"nothing reaches 0\.65: best long (0\.\d+), short (0\.\d+)", summary)
            assert match and style == "warn", shown["summary"]
            assert [float(g) for g in match.groups()] == [float(figures["best long"]["value"]),
                                                          float(figures["best short"]["value"])]
        assert 0 < number(figures["scored"]["value"]) <= now["symbol_bars_scored"]
        assert figures["scored"]["note"] == "last bar: 20 of 20 symbols"
        last = figures["last scan"]
        assert re.fullmatch(r"\d+(\.\d)? s ago", last["value"]) and "warn" not in last["cls"], last
        assert last["note"] == "stale after 30 s without a scan" and now["stale_after_s"] == 30 and not now["stale"]
        decided = figures["risk decided"]
        assert 0 < number(decided["value"]) <= risk["signals"]
        assert re.fullmatch(r"[\d,]+ approved · [\d,]+ refused", decided["note"]), decided
        for kind, count, _share, example in shown["refusals"]:  # risk's own words, as /health keeps them
            assert example == risk["by_kind"][kind]["example"] and 0 < number(count) <= risk["by_kind"][kind]["count"]
        if risk["approved"] == 0 and max(now["best_long"], now["best_short"]) < threshold:
            [(kind, _, share, example)] = shown["refusals"]
            assert kind == "low_confidence" and share == "100.0 %" and "below QT_MIN_CONFIDENCE 0.65" in example
        assert page.evaluate(FITS)
        screenshot(page, "dashboard-scanner-1920")
        page.set_viewport_size({"width": 1300, "height": 1000})
        page.wait_for_function(FITS)
        screenshot(page, "dashboard-scanner-1300")
        assert page.evaluate(STALE) == ["STALE: 3 min 32 s ago", "value warn"]
        assert page.evaluate(REASONS) == ["degraded: the AI scanner has not scanned for 212.3 s (limit 30 s)",
                                          "the AI scanner has not scanned for 212.3 s (limit 30 s)"]
        watch.assert_clean()


def test_the_scanner_panel_is_hidden_for_a_strategy_without_a_scanner(tmp_path: Path) -> None:
    with running_bot(bot_env(tmp_path, QT_STRATEGY="sma-cross")) as (_, url), browser_page() as (page, watch):
        page.goto(url + "/")
        page.wait_for_function("document.getElementById('health-detail').textContent.includes('strategy sma-cross')")
        assert "scanner" not in httpx.get(f"{url}/health", timeout=10).json()
        assert page.locator("#scanner-panel").count() == 1 and page.locator("#scanner-panel").is_hidden()
        watch.assert_clean()
