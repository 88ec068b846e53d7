"""`quantum-trader backtest` without `--json`, at 80 columns: the tables a trader reads.

At 80 columns the trades table cut every trade id to `LINKUSDT…` and the stop audit printed Python's values
(`{'stop_loss': 7, 'take_profit': 3, ...}`, `None`, `False`). The command runs here as a user runs it, over
real Binance klines (test_backtest_cli.py's), with COLUMNS=80; its `--json` of the same run is the reference.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
from rich.console import Console
from test_backtest_cli import BIN, LINK, backtest_json

WIDTH = 80
pytestmark = pytest.mark.skipif(not LINK.is_file(), reason=f"real Binance kline file not found: {LINK}")


def _text_at_80(*args: str) -> str:
    done = subprocess.run([str(BIN), "backtest", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": str(WIDTH)})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_at_80_columns_every_trade_id_is_whole_and_every_cell_is_a_word() -> None:
    args = ("--data", str(LINK), "--start", "2026-02-03", "--end", "2026-02-06")
    doc, text = backtest_json(*args), _text_at_80(*args)
    lines = [line for line in text.splitlines() if not line.startswith("run: ")]  # `run:` is one line, unwrapped
    assert max(len(line) for line in lines) <= WIDTH
    trades = doc["trades"]
    assert trades and all(f"│ {t['trade_id']} " in text for t in trades[-15:])
    assert "…" not in text
    for python in ("None", "False", "True", "{'", "'stop_loss'"):
        assert python not in text, python
    assert {k: v for k, v in doc["stop_audit"]["by_exit_reason"].items() if v} == {"stop_loss": 7, "take_profit": 3}
    assert "│ by_exit_reason            │ stop-loss 7, take-profit 3 │" in text
    take = next(t for t in trades if t["exit_reason"] == "take_profit")
    row = next(line for line in lines if f"│ {take['trade_id']} " in line)
    cells = [cell.strip() for cell in row.split("│")[2:-1]]
    assert cells == [take["direction"], "take-profit", take["entry_price"], take["exit_price"], "—"]  # no slippage
    assert "Last trades (no breach)" in text
    assert "slip bps: a stop-loss fill against its trigger (— for other exits)" in text


def test_a_breach_and_an_id_longer_than_the_terminal_allows_still_show_whole() -> None:
    from quantum_trader.cli.backtest_text import trades_table  # the table alone, at the same width

    doc: dict[str, Any] = backtest_json("--data", str(LINK), "--start", "2026-02-03", "--end", "2026-02-06")
    rows = [dict(t) for t in doc["trades"]]
    rows[-1].update(trade_id="1000000MOGUSDT_t9uw00_123456", breach=True, exit_price="0.00012345678")
    console = Console(width=WIDTH, record=True, color_system=None)
    console.print(trades_table(rows))
    text = console.export_text()
    assert "1000000MOGUSDT_t9uw00_123456" in text and "…" not in text
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    breach_column = [line.split("│")[-2].strip() for line in text.splitlines() if line.startswith("│ LINK")]
    assert set(breach_column) == {"no"} and "yes" in text
    assert json.dumps(doc["trades"][-1]["breach"]) == "false"  # the document itself is untouched


def test_at_80_columns_a_position_open_at_the_end_shows_every_figure_whole() -> None:
    """The open-at-the-end table was 82 wide for one LINKUSDT short and folded its figures mid-number at 80
    columns (funding `1.2658083` over a line holding `6`, header `unrealise`/`d`); where it does not fit, each
    position is now two lines with every figure whole."""
    args = ("--data", str(LINK), "--start", "2026-02-01", "--end", "2026-02-08")
    doc, text = backtest_json(*args), _text_at_80(*args)
    (position,) = doc["positions_at_end"]
    assert max(len(line) for line in text.splitlines() if not line.startswith("run: ")) <= WIDTH
    section = text[text.index("Open at the end"):text.index("Risk:")]
    for key in ("quantity", "entry_price", "mark_price", "unrealised_pnl", "fees", "funding"):
        assert f" {position[key]} " in section.replace("\n", " \n"), (key, position[key], section)
    assert "unrealised" in section and "…" not in section
