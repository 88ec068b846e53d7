"""`quantum-trader audit` and `quantum-trader readiness` as a user runs them: the console script on a real journal.

The journals are written in-process through the real writer and bus (the builder of test_live_gate),
then read by a separate process, so exit codes, stdout (one JSON document with `--json`) and stderr
are what a script or cron job would see.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from rich.console import Console
from test_live_gate import HOUR, INPROCESS_MAX, PAPER_ENV, Recipe, build_journal
from test_run_session import BIN

from quantum_trader.cli.audit_cmd import render_audit


def cli(*args: str, db_env: str | None = None, **qt_env: str) -> subprocess.CompletedProcess[str]:
    """The console script with no QT_ variable but the Recipe's setup (PAPER_ENV), `db_env` and `qt_env`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_") and k != "STAGING_MODE"}
    env.update({**PAPER_ENV, **qt_env})
    if db_env is not None:
        env["QT_DB_URL"] = db_env
    return subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=60)


def document(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.stdout.count("\n") == 1, done.stdout  # one document, one line, nothing else on stdout
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


# --- audit -------------------------------------------------------------------------------------------------
def test_audit_of_a_clean_journal_lists_every_closed_position_and_exits_0(tmp_path: Path) -> None:
    url = build_journal(tmp_path / "paper.db")
    done = cli("audit", "--db", url, "--json")
    assert done.returncode == 0, done.stderr
    doc = document(done)
    assert doc["breaches"] == 0 and len(doc["positions"]) == 5
    stop = next(p for p in doc["positions"] if p["exit_reason"] == "stop_loss")
    assert stop["planned_stop"] == "594" and stop["planned_loss"] == "6.5" and stop["exit_price"] == "594"
    assert stop["slippage_bps"] == "0" and stop["breach"] is False
    assert stop["realised"] == {"usdt": "-6.5", "pct_notional": "-1.0833", "pct_margin": "-5.4167",
                                "pct_equity": "-0.0650"}
    assert sorted(p["exit_reason"] for p in doc["positions"]) == ["stop_loss"] + ["take_profit"] * 4


def test_audit_exits_5_on_a_breach_and_names_it(tmp_path: Path) -> None:
    url = build_journal(tmp_path / "breach.db", Recipe(breach=True))
    done = cli("audit", "--db", url, "--json")
    assert done.returncode == 5, done.stderr
    doc = document(done)
    assert doc["breaches"] == 1
    breached = [p for p in doc["positions"] if p["breach"]]
    assert len(breached) == 1 and breached[0]["exit_price"] == "540" and breached[0]["slippage_bps"] == "909.09"
    table = cli("audit", "--db", url)
    assert table.returncode == 5
    assert "BREACH" in table.stdout and breached[0]["trade_id"] in table.stdout


def test_audit_reads_qt_db_url_when_no_flag_is_given(tmp_path: Path) -> None:
    url = build_journal(tmp_path / "paper.db")
    done = cli("audit", db_env=url)
    assert done.returncode == 0, done.stderr
    assert "Stop audit" in done.stdout and "stop_loss" in done.stdout and "take_profit" in done.stdout


def test_audit_of_a_missing_journal_is_an_empty_list_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "journal.db"
    done = cli("audit", "--db", f"sqlite:///{missing}", "--json")
    assert done.returncode == 0, done.stderr
    doc = document(done)
    assert doc["positions"] == [] and doc["breaches"] == 0
    assert "no journal" in done.stderr
    assert not missing.parent.exists()


def test_a_malformed_url_exits_2_naming_it(tmp_path: Path) -> None:
    for command in ("audit", "readiness"):
        done = cli(command, "--db", "not a url", "--json")
        assert done.returncode == 2
        assert done.stdout == "" and "not a url" in done.stderr


# --- readiness ---------------------------------------------------------------------------------------------
def test_readiness_of_a_full_paper_journal_exits_0(tmp_path: Path) -> None:
    url = build_journal(tmp_path / "paper.db")
    done = cli("readiness", "--db", url, "--json")
    assert done.returncode == 0, done.stderr
    doc = document(done)
    assert doc["ready"] is True
    assert [i["name"] for i in doc["items"]] == ["closed_trades", "protection_acknowledged", "no_rejected_protection",
                                                 "stops_held", "monitor_clean", "confidence", "live_position_cap",
                                                 "same_setup"]
    table = cli("readiness", "--db", url)
    assert table.returncode == 0 and "READY" in table.stdout and "NOT READY" not in table.stdout
    # A line per item under the table: which sessions (adapter, clock) its evidence came from.
    lines = table.stdout.splitlines()
    for name in ("closed_trades", "stops_held", "confidence"):
        assert f"{name}: counted sessions: #1 paper, ccxt at http://127.0.0.1:8090, wall clock" in lines, lines
    assert "monitor_clean: counted sessions: #1 paper, ccxt at http://127.0.0.1:8090, wall clock, clean 7200 s" in lines
    assert "live_position_cap: from the settings of this start, not paper-trading evidence" in lines


def test_readiness_lists_sessions_off_the_live_path_as_not_counted(tmp_path: Path) -> None:
    """An in-process `--speed max` session: two hours of simulated time in five seconds are no evidence."""
    dev = Recipe(path=dict(INPROCESS_MAX), wall_factor=5_000 / (2 * HOUR))
    url = build_journal(tmp_path / "dev.db", dev)
    done = cli("readiness", "--db", url, "--json")
    assert done.returncode == 1, done.stderr
    monitor = next(i for i in document(done)["items"] if i["name"] == "monitor_clean")
    assert monitor["passed"] is False and monitor["evidence"]["longest_clean_s"] == 0
    table = cli("readiness", "--db", url)
    assert table.returncode == 1 and "NOT READY" in table.stdout
    assert ("monitor_clean: counted sessions: none; not counted: #1 (the in-process simulator, not the adapter "
            "live trading uses; a simulated clock (speed max): its hours are not wall-clock hours; 7200 s of session "
            "time in 5 s of wall time)") in table.stdout


def test_readiness_of_a_short_journal_exits_1_with_the_failed_item(tmp_path: Path) -> None:
    url = build_journal(tmp_path / "short.db", Recipe(trades=3))
    done = cli("readiness", "--db", url, "--json")
    assert done.returncode == 1, done.stderr
    doc = document(done)
    failed = {i["name"] for i in doc["items"] if not i["passed"]}
    assert doc["ready"] is False and failed == {"closed_trades"}
    table = cli("readiness", "--db", url, COLUMNS="250")
    assert table.returncode == 1 and "NOT READY" in table.stdout and "closed_trades" in table.stdout
    # The evidence in words and the fix, the words `run` refuses a live start with (not the JSON documents).
    assert "3 of the 5 closed trades wanted were opened by the strategy" in table.stdout
    assert "fix: 2 more closed paper trades opened by the strategy" in table.stdout
    assert '{"' not in table.stdout and "{'" not in table.stdout


def test_readiness_uses_the_settings_from_the_environment(tmp_path: Path) -> None:
    url = build_journal(tmp_path / "paper.db")
    env_done = subprocess.run([str(BIN), "readiness", "--db", url, "--json"], capture_output=True, text=True,
                              timeout=60, env={**{k: v for k, v in os.environ.items() if not k.startswith("QT_")},
                                               "QT_LIVE_MAX_POSITIONS": "3", "QT_READINESS_MIN_TRADES": "6",
                                               **PAPER_ENV})
    assert env_done.returncode == 1, env_done.stderr
    failed = {i["name"] for i in document(env_done)["items"] if not i["passed"]}
    assert failed == {"closed_trades", "live_position_cap"}


def test_readiness_of_a_missing_journal_is_not_ready(tmp_path: Path) -> None:
    done = cli("readiness", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--json")
    assert done.returncode == 1, done.stderr
    assert document(done)["ready"] is False
    assert not (tmp_path / "none.db").exists()


def test_audit_on_an_80_column_terminal_shows_every_figure_whole(tmp_path: Path) -> None:
    """On a terminal the table takes the terminal's width; at 80 columns its 13 columns were all cut.
    There, each position prints as three lines instead, nothing ellipsized."""
    url = build_journal(tmp_path / "breach.db", Recipe(breach=True))
    doc = document(cli("audit", "--db", url, "--json"))
    console = Console(width=80, record=True, highlight=False)
    render_audit(doc, console)
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    breached = next(p for p in doc["positions"] if p["breach"])
    assert f"{breached['trade_id']} {breached['symbol']}" in text and "BREACH" in text
    assert f"exit {breached['exit_price']}  slip {breached['slippage_bps']} bps" in text
    assert f"{breached['realised']['pct_margin']} % margin" in text
