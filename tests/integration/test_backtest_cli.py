"""`quantum-trader backtest` end to end: the console script over real Binance public-data klines.

Each test runs the installed command as a user would and reads what it prints (and, with `--db`, the
SQLite journal it wrote). The data are real monthly 1m files from /work/shared/data; without them the
tests are skipped, not passed.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from quantum_trader.sim.universe import load_universe

BIN = Path(sys.executable).parent / "quantum-trader"
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance_um_1m_isda"
LINK = DATA / "LINKUSDT-1m-2026-02.csv.gz"
AVAX = DATA / "AVAXUSDT-1m-2026-02.csv.gz"
TIMING_KEYS = ("seconds", "bars_per_s")

pytestmark = pytest.mark.skipif(not (LINK.is_file() and AVAX.is_file()),
                                reason=f"real Binance kline files not found under {DATA}")


def backtest(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), "backtest", *args], capture_output=True, text=True, timeout=timeout)


def backtest_json(*args: str) -> dict[str, Any]:
    done = backtest(*args, "--json")
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)  # the whole stdout is one JSON document
    return document


def kline_rows(path: Path) -> int:
    """Data rows of a Binance kline file (the header line, when present, is not a bar)."""
    with gzip.open(path, "rt", newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    return len(rows) - (1 if rows and not rows[0][0].isdigit() else 0)


def without_timing(document: dict[str, Any]) -> dict[str, Any]:
    """The document but its timing and its `run` (which names the data and period as they were given)."""
    return {k: v for k, v in document.items() if k not in (*TIMING_KEYS, "run")}


def test_same_file_twice_gives_the_same_document(tmp_path: Path) -> None:
    first, second = backtest_json("--data", str(LINK)), backtest_json("--data", str(LINK))
    assert set(TIMING_KEYS) <= set(first)
    assert without_timing(first) == without_timing(second)
    assert first["performance"]["trades"] > 0
    assert len(first["trades"]) == first["performance"]["trades"]
    assert {"breaches", "by_exit_reason", "worst_slippage_bps"} <= set(first["stop_audit"])
    assert first["bars"] == kline_rows(LINK)
    assert {t["symbol"] for t in first["trades"]} == {"LINKUSDT"}


def test_a_folder_of_two_symbols_trades_both(tmp_path: Path) -> None:
    for path in (LINK, AVAX):
        shutil.copy(path, tmp_path / path.name)
    document = backtest_json("--data", str(tmp_path))
    assert {t["symbol"] for t in document["trades"]} == {"LINKUSDT", "AVAXUSDT"}
    assert document["symbol_bars"] == kline_rows(LINK) + kline_rows(AVAX)


def test_start_end_and_symbols_pick_a_week_of_one_symbol_out_of_a_folder(tmp_path: Path) -> None:
    for path in (LINK, AVAX):
        shutil.copy(path, tmp_path / path.name)
    week = backtest_json("--data", str(tmp_path), "--symbols", "avaxusdt", "--start", "2026-02-03",
                         "--end", "2026-02-10", "--param", "fast=5", "--param", "slow=20")
    assert week["bars"] == week["symbol_bars"] == 7 * 1440
    assert {t["symbol"] for t in week["trades"]} == {"AVAXUSDT"}
    alone = backtest_json("--data", str(AVAX), "--start", "2026-02-03", "--end", "2026-02-10",
                          "--param", "fast=5", "--param", "slow=20")
    assert without_timing(week) == without_timing(alone)  # the same bars whether the folder or the file is read
    default = backtest_json("--data", str(AVAX), "--start", "2026-02-03", "--end", "2026-02-10")
    assert without_timing(default) != without_timing(week)  # the parameters reached the strategy


def test_a_day_file_beside_the_month_gives_the_months_backtest(tmp_path: Path) -> None:
    """`LINKUSDT-1m-2026-02-06.csv` sorts before `LINKUSDT-1m-2026-02.csv.gz`: read in name order, Feb 1-5
    of the month were dropped without a word (33,120 bars)."""
    shutil.copy(LINK, tmp_path / LINK.name)
    day = 1_770_336_000_000  # 2026-02-06T00:00:00Z
    with gzip.open(LINK, "rt") as handle:
        header, *rows = handle.read().splitlines()
    (tmp_path / "LINKUSDT-1m-2026-02-06.csv").write_text(
        "\n".join([header, *(r for r in rows if day <= int(r.split(",")[0]) < day + 86_400_000)]) + "\n")
    both = backtest_json("--data", str(tmp_path))
    assert both["bars"] == kline_rows(LINK) == 40_320
    assert without_timing(both) == without_timing(backtest_json("--data", str(LINK)))


@pytest.mark.parametrize(("order", "line"), [
    (lambda rows: rows[::-1], 3),  # all reversed: 1 bar was read, exit 0
    (lambda rows: rows[1_499:] + rows[:1_499], 1_502),  # halves swapped: 1,499 of 2,999 bars lost
    (lambda rows: [*rows[:99], rows[100], rows[99], *rows[101:]], 102),  # two rows swapped: one bar lost
], ids=["reversed", "halves-swapped", "two-rows-swapped"])
def test_rows_out_of_time_order_exit_2_naming_the_file_the_line_and_the_fix(
        tmp_path: Path, order: Any, line: int) -> None:
    with gzip.open(LINK, "rt") as handle:
        header, *rows = handle.read().splitlines()[:3_000]
    path = tmp_path / "LINKUSDT-1m-2026-02.csv"
    path.write_text("\n".join([header, *order(rows)]) + "\n")
    done = backtest("--data", str(path), "--json")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: {path}: line {line} (open time ")
    assert "sort it by open time" in done.stderr and done.stderr.count("\n") == 1


def test_symbol_bars_count_only_the_symbols_bars_in_the_period(tmp_path: Path) -> None:
    """A folder of 2023-02 and 2026-02 files run to --end 2023-03-01: DOT has no file of 2023, and its empty
    column counted (282,240 symbol-bars for the shared folder's 201,600, and bars/s with them)."""
    old = DATA / "LINKUSDT-1m-2023-02.csv.gz"
    dot = DATA / "DOTUSDT-1m-2026-02.csv.gz"
    if not (old.is_file() and dot.is_file()):
        pytest.skip(f"{old} or {dot} not found")
    for source in (old, LINK, dot):
        shutil.copy(source, tmp_path / source.name)
    folder = backtest_json("--data", str(tmp_path), "--end", "2023-03-01")
    assert folder["symbol_bars"] == folder["bars"] == kline_rows(old)
    assert without_timing(folder) == without_timing(backtest_json("--data", str(old)))


WEEK = ("--end", "2026-02-08")


def test_a_leverage_at_which_every_position_would_be_liquidated_says_why_there_is_no_trade() -> None:
    """`--param leverage=40` (up to 75 passes the check on LINKUSDT) made 0 trades, exit 0, and nothing said why:
    each entry would be liquidated before its 2 % stop could fire, which only a --db journal showed."""
    done = backtest("--data", str(LINK), *WEEK, "--param", "leverage=40", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(done.stdout)
    refusals = doc["refusals"]
    assert doc["performance"]["trades"] == 0 and refusals["approved"] == 0
    assert refusals["refused"] == refusals["signals"] > 100
    (kind, seen), = refusals["by_kind"].items()
    assert kind == "stop_beyond_liquidation" and seen["count"] == refusals["refused"]
    assert seen["example"].startswith("LINKUSDT: at 40x the position would be liquidated at about ")
    assert seen["example"].endswith("could fire: lower --param leverage or QT_STOP_LOSS_PCT")
    assert done.stderr.splitlines() == [
        f"warning: risk refused all {refusals['refused']:,} signals, every one for the same reason "
        f"(stop_beyond_liquidation), so no position was opened: {seen['example']}"]
    text = backtest("--data", str(LINK), *WEEK, "--param", "leverage=40")
    assert "stop_beyond_liquidation" in text.stdout and "0 approved" in text.stdout
    assert text.stderr == done.stderr


def test_a_leverage_from_the_environment_is_named_as_the_variable_in_the_refusals() -> None:
    done = subprocess.run([str(BIN), "backtest", "--data", str(LINK), *WEEK, "--json"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "QT_LEVERAGE": "40"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.startswith("warning: risk refused all ")
    assert done.stderr.rstrip().endswith("could fire: lower QT_LEVERAGE or QT_STOP_LOSS_PCT")


def test_a_run_that_trades_lists_its_refusals_and_warns_of_nothing() -> None:
    done = backtest("--data", str(LINK), *WEEK, "--json")
    assert done.returncode == 0 and done.stderr == "", done.stderr[-2000:]
    refusals = json.loads(done.stdout)["refusals"]
    assert refusals["approved"] > 0 and refusals["signals"] == refusals["approved"] + refusals["refused"]
    assert sum(kind["count"] for kind in refusals["by_kind"].values()) == refusals["refused"]


def test_each_kill_switch_is_one_line_on_stderr_naming_when_why_how_many_and_which() -> None:
    """The daily loss limit over the seven symbols of February 2026 closes four positions at a time: that printed
    one `emergency exit` warning per position; each kill switch is now one line (research/kill_digest.py)."""
    done = backtest("--data", str(DATA / "*-1m-2026-02.csv.gz"), *WEEK, "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    kills: dict[int, list[str]] = {}
    for trade in json.loads(done.stdout)["trades"]:
        if trade["exit_reason"] == "kill_switch":
            kills.setdefault(trade["closed_ms"], []).append(trade["symbol"])
    assert len(kills) >= 3 and max(len(closed) for closed in kills.values()) >= 4, "the limit must close several"
    assert "emergency exit" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if "kill switch closed positions" in line]
    assert len(lines) == len(kills)
    for line, (closed_ms, closed) in zip(lines, sorted(kills.items()), strict=True):
        when = datetime.fromtimestamp(closed_ms / 1000, UTC).isoformat(timespec="seconds")
        assert "[warning  ]" in line and f"sim_time={when}" in line and f"closed={len(closed)} " in line
        assert 'reason="kill switch: daily loss limit: equity ' in line
        assert all(symbol in line for symbol in closed)  # at most five: each is named


def test_a_position_still_open_at_the_end_is_shown_with_how_the_final_equity_follows_from_net_pnl() -> None:
    """The default LINKUSDT run ends with a short open: net_pnl -1698.71 (-16.99 %) counts closed trades, while
    the report's final equity read 8268.94 (-17.31 %); the short's unrealised -30.41 and its entry fee were in
    no field. net_pnl is unchanged; the difference is shown and explained."""
    doc = backtest_json("--data", str(LINK))
    perf = doc["performance"]
    assert (perf["net_pnl"], perf["return_pct"], doc["open_positions_at_end"]) == ("-1698.71020987", "-16.9871", 1)
    assert (doc["final_equity"], doc["final_return_pct"]) == ("8268.94366329", "-17.3106")
    assert (doc["unrealised_at_end"], doc["open_pnl_at_end"]) == ("-30.41313", "-32.34612684")
    (short,) = doc["positions_at_end"]
    assert {k: short[k] for k in ("symbol", "side", "quantity", "entry_price", "mark_price", "unrealised_pnl", "fees",
                                  "funding")} == {
        "symbol": "LINKUSDT", "side": "short", "quantity": "440.77", "entry_price": "8.771", "mark_price": "8.84",
        "unrealised_pnl": "-30.41313", "fees": "1.93299684", "funding": "0"}
    assert Decimal(doc["final_equity"]) == Decimal(10_000) + Decimal(perf["net_pnl"]) + Decimal(doc["open_pnl_at_end"])
    text = backtest("--data", str(LINK)).stdout
    assert "8268.94366329 (-17.3106 %) = start_equity 10000 +" in text and "-32.34612684" in text
    assert "Open at the end" in text and "-30.41313" in text and "1.93299684" in text


def _realised_drawdown(doc: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """The deepest fall of start_equity plus the closed trades' net P&L, in closing order (USDT, % of the peak):
    what the equity fell by at the trades' closes, open positions aside."""
    equity = peak = Decimal(doc["performance"]["start_equity"])
    usdt = pct = Decimal(0)
    for trade in sorted(doc["trades"], key=lambda t: t["closed_ms"]):
        equity += Decimal(trade["realised"]["usdt"])
        peak = max(peak, equity)
        usdt, pct = max(usdt, peak - equity), max(pct, (peak - equity) / peak * 100)
    return usdt, pct


def test_the_max_drawdown_reads_every_close_and_a_two_day_sharpe_is_na() -> None:
    """Read from the daily closes only, a month's drawdown was 18.6221 % while its closed trades alone fell 19.33 %,
    and two days of a fast cross reported 0 USDT (their trades fell 200.98) and a Sharpe ratio of 737.9."""
    two_days = ("--data", str(LINK), "--start", "2026-02-03", "--end", "2026-02-05", "--param", "fast=3",
                "--param", "slow=5")
    doc = backtest_json(*two_days)
    perf = doc["performance"]
    realised = _realised_drawdown(doc)
    assert realised[0] > Decimal("200.98")
    assert Decimal(perf["max_drawdown_usdt"]) >= realised[0] and Decimal(perf["max_drawdown_pct"]) >= realised[1]
    assert (perf["sharpe"], perf["sharpe_returns"]) == (None, 2)
    assert "sharpe            │ n/a (2 daily returns, fewer than the 14" in backtest(*two_days).stdout
    month = backtest_json("--data", str(LINK))["performance"]
    assert Decimal(month["max_drawdown_pct"]) > Decimal("19.33") > Decimal("18.6221")
    assert (month["sharpe_returns"], month["sharpe_na"]) == (28, None) and month["sharpe"] < 0


def test_the_result_says_which_strategy_parameters_settings_data_and_period_ran() -> None:
    """Neither the table nor --json said which strategy ran with which values (backtest defaults to sma-cross
    10/30, `run` to the AI scanner): every parameter and setting in effect is in `run`, defaults filled in, a
    value from the environment too, and one line of the table says it."""
    args = ("--data", str(LINK), "--start", "2026-02-03", "--end", "2026-02-05", "--param", "fast=3")
    env = {**os.environ, "QT_STOP_LOSS_PCT": "1.5"}
    done = subprocess.run([str(BIN), "backtest", *args, "--json"], capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)["run"]
    assert run == {
        "strategy": "sma-cross", "params": {"fast": 3, "slow": 30, "stop_loss_pct": 1.5, "take_profit_pct": 4.0,
                                            "leverage": 5, "risk_per_trade_pct": 1.0, "max_positions": 4},
        "params_text": {"fast": "3"},
        "settings": {"daily_loss_limit_pct": 5.0, "cooldown_s": 300.0, "ev_full_size_pct": None},
        "data": str(LINK), "symbols": ["LINKUSDT"], "balance": "10000",
        "period": {"start": "2026-02-03T00:00Z", "end": "2026-02-05T00:00Z", "asked_start": "2026-02-03T00:00Z",
                   "asked_end": "2026-02-05T00:00Z"}}  # no min_confidence: no threshold acts on a cross
    text = backtest(*args, "--param", "leverage=3").stdout
    assert text.startswith("run: sma-cross fast=3 slow=30 stop_loss_pct=2.0 take_profit_pct=4.0 leverage=3 ")


def test_an_ai_scanner_run_without_a_trade_says_why() -> None:
    """At the default threshold (0.65) a week of LINKUSDT printed trades 0 and `Risk: 0 signals decided` and
    nothing else: no score reached the threshold, and the replay skips such signals before risk."""
    args = ("--data", str(LINK), "--strategy", "ai-scanner", "--start", "2026-02-15", "--end", "2026-02-22")
    done = backtest(*args, "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["performance"]["trades"] == 0 and doc["refusals"]["signals"] == 0
    tally = doc["signal_tally"]
    assert (tally["bars_scored"], tally["symbol_bars_scored"], tally["min_confidence"]) == (9_840, 9_840, 0.65)
    assert tally["at_or_above_min_confidence"] == 0 and max(tally["best_long"], tally["best_short"]) < 0.65
    why = (f"ai-scanner scored 9,840 symbol-bars and no confidence reached min_confidence 0.65 (the highest: long "
           f"{tally['best_long']}, short {tally['best_short']}), so no signal could trade: lower min_confidence "
           "(--param min_confidence) to trade the most confident ones")
    assert doc["why_no_trade"] == why and done.stderr == f"warning: {why}\n"
    assert (doc["run"]["params"]["min_confidence"], doc["run"]["settings"]["model"]) == (0.65, "default")
    assert f"warning: {why}" in backtest(*args).stderr
    assert "why_no_trade" not in backtest_json("--data", str(LINK), *WEEK)  # a strategy without a tally


def test_manual_strategy_never_trades() -> None:
    document = backtest_json("--data", str(LINK), "--strategy", "manual")
    assert document["performance"]["trades"] == 0
    assert document["trades"] == []


@pytest.mark.parametrize(("args", "message"), [
    (("--data", str(LINK), "--strategy", "nope"), "nope"),
    (("--data", "/does/not/exist"), "/does/not/exist"),
])
def test_bad_input_exits_2_and_says_why(args: tuple[str, ...], message: str) -> None:
    done = backtest(*args, "--json")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert done.stdout == ""


def _bad_data(folder: Path, kind: str) -> Path:
    """A kline file or folder as a user might give it by mistake."""
    folder.mkdir()
    if kind == "truncated":
        path = folder / LINK.name
        path.write_bytes(LINK.read_bytes()[:500_000])
    elif kind == "plain named .gz":
        path = folder / LINK.name
        with gzip.open(LINK, "rt") as handle:
            path.write_text(handle.read(200_000))
    elif kind in ("empty", "header only"):
        path = folder / "LINKUSDT-1m-2026-02.csv"
        with gzip.open(LINK, "rt") as handle:
            path.write_text("" if kind == "empty" else handle.readline())
    else:  # a name without its symbol
        path = folder / "data.csv"
        with gzip.open(LINK, "rt") as handle:
            path.write_text("".join(handle.readline() for _ in range(3_000)))
    return path


@pytest.mark.parametrize(("kind", "says"), [
    ("truncated", "the compressed data is cut short or damaged (Truncated compressed stream), as an interrupted "
                  "download or copy leaves it: download or copy the file again"),
    ("plain named .gz", "not gzip data, though its name ends in .gz (Not a gzipped file (b'op')): if it is a plain "
                        "CSV, rename it to end in .csv"),
    ("empty", "the file is empty or holds only a header; give a kline file with rows"),
    ("header only", "the file is empty or holds only a header; give a kline file with rows"),
    ("no symbol", "no instrument 'data' in the universe: a kline file's symbol is the first part of its name, as "
                  "in BTCUSDT-1m-2024-01.csv; name the file after its symbol"),
], ids=["truncated", "plain-named-gz", "empty", "header-only", "no-symbol"])
@pytest.mark.parametrize("give", ["file", "folder"])
def test_bad_data_exits_2_naming_the_file_what_is_wrong_and_the_fix(tmp_path: Path, kind: str, says: str,
                                                                    give: str) -> None:
    """They said 'Truncated compressed stream', 'Not a gzipped file (b'op')', 'the data holds no bars' and
    'no instrument for data (not in the universe)': no file, no fix."""
    path = _bad_data(tmp_path / "data", kind)
    done = backtest("--data", str(path if give == "file" else path.parent), "--json")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and str(path) in done.stderr and says in done.stderr, done.stderr


def test_a_period_outside_the_data_says_where_the_data_is() -> None:
    done = backtest("--data", str(LINK), "--start", "2025-01-01", "--end", "2025-02-01", "--json")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (f"error: no bars in {LINK} from --start 2025-01-01 00:00 UTC --end 2025-02-01 00:00 UTC: "
                           "the data's bars open from 2026-02-01 00:00 UTC to 2026-02-28 23:59 UTC; choose "
                           "--start/--end where the data has bars\n")
    later = backtest("--data", str(DATA), "--symbols", "LINKUSDT", "--start", "2024-01-01", "--end", "2024-02-01")
    assert later.returncode == 2
    assert "the data's bars open from 2023-02-01 00:00 UTC to 2026-02-28 23:59 UTC, with a hole there" in later.stderr


def test_db_journals_the_run(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    document = backtest_json("--data", str(LINK), "--db", f"sqlite:///{db}")
    with sqlite3.connect(db) as conn:
        positions = conn.execute("select count(*) from positions").fetchone()[0]
        closed = conn.execute("select count(*) from positions where closed_ms is not null").fetchone()[0]
        orders = conn.execute("select count(*) from orders").fetchone()[0]
        sessions = conn.execute("select mode from sessions").fetchall()
    assert closed == len(document["trades"]) == document["performance"]["trades"]
    assert positions == closed + document["open_positions_at_end"]
    assert orders > 0
    assert sessions == [("backtest",)]


def test_json_mode_prints_one_document_and_nothing_else() -> None:
    done = backtest("--data", str(LINK), "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and done.stdout.endswith("\n")
    assert isinstance(json.loads(done.stdout), dict)


def test_table_mode_prints_the_stop_audit() -> None:
    done = backtest("--data", str(LINK))
    assert done.returncode == 0, done.stderr
    assert "Stop audit" in done.stdout and "Backtest" in done.stdout
    assert "breaches" in done.stdout


def test_journaled_signals_carry_the_price_the_simulator_traded_not_the_datas_off_tick_close(tmp_path: Path) -> None:
    """Data whose prices are finer than the symbol's tick (a vendor's, or from before a tick change): the
    simulator trades them on the tick, and a journaled signal's reference price is that price."""
    tick = load_universe().instrument("LINKUSDT").tick_size
    with gzip.open(LINK, "rt", newline="") as handle:
        rows = [row for row in csv.reader(handle) if row and row[0].isdigit()][:6_000]
    off_grid = tmp_path / "LINKUSDT-1m-2026-02.csv"
    with off_grid.open("w", newline="") as handle:
        writer = csv.writer(handle)
        for row in rows:
            writer.writerow([row[0], *(f"{float(x) * 1.0000317:.9f}" for x in row[1:5]), *row[5:]])
    db = tmp_path / "off_grid.db"
    backtest_json("--data", str(off_grid), "--db", f"sqlite:///{db}", "--param", "fast=5", "--param", "slow=12")
    with sqlite3.connect(db) as conn:
        prices = [Decimal(row[0]) for row in conn.execute("select reference_price from signals")]
    assert len(prices) > 10
    assert [p for p in prices if p % tick != 0] == []


def test_a_hole_in_the_data_is_refused_with_the_way_round_it(tmp_path: Path) -> None:
    """Two months three years apart in one folder: a position open at the first month's end was carried
    across the hole and paid 1,423 USDT of funding for it. The command now says where the hole is and how
    to run each period; the same folder with --start picks one period and runs. Files are read by pyarrow
natively here (.csv.gz): a refusal half way through one exits 2 every time (through Python's gzip it
sometimes aborted or hung at exit, pyarrow's read-ahead thread waiting on the GIL)."""
    old = DATA / "LINKUSDT-1m-2023-02.csv.gz"
    if not old.is_file():
        pytest.skip(f"{old} not found")
    folder = tmp_path / "two-periods"
    folder.mkdir()
    for source in (old, LINK):
        shutil.copy(source, folder / source.name)
    done = backtest("--data", str(folder))
    assert done.returncode == 2 and done.stdout == ""
    assert "no bar for any symbol between 2023-02-28 23:59 UTC and 2026-02-01 00:00 UTC" in done.stderr
    assert "run each period on its own (--start/--end" in done.stderr and "Traceback" not in done.stderr
    alone = backtest_json("--data", str(folder), "--start", "2026-02-01")
    assert alone["bars"] == kline_rows(LINK) and alone["performance"]["trades"] > 0
