"""Readiness counts only proof from the live path, measured on the wall clock (issue 10).

Journals are written through the real writer and bus by test_live_gate's Recipe, with the path each
session ran on (`adapter`, `exchange_url`, `clock`, `speed`) and the wall clock the writer stamps on each
heartbeat. A session on the in-process simulator, or on a simulated clock, is listed as not counted
whatever it holds; a live-path session (ccxt against a simulator URL, wall clock) of an hour counts.
The last tests run the real bot both ways and read what its sessions journaled.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from test_live_gate import HOUR, INPROCESS_MAX, LIVE_PATH, MINUTE, T0, Recipe, build_journal, failed_items, readiness
from test_run_session import BIN, bot_env
from test_simserver_support import API_KEY, API_SECRET, running_server

from quantum_trader.core.clock import SimulatedClock, WallClock
from quantum_trader.journal.db import alembic_config, create_engine_for
from quantum_trader.readmodels.evidence import longest_clean_ms, public_url, session_path
from quantum_trader.settings.model import load_settings

ITEMS = ("closed_trades", "protection_acknowledged", "no_rejected_protection", "stops_held", "monitor_clean",
         "confidence", "live_position_cap", "same_setup")
#: Items whose evidence is the start's settings, not sessions.
SETTINGS_ITEMS = ("live_position_cap",)
#: What an empty or uncounted journal fails (nothing rejected and the cap at 2 pass without evidence; there is no
#: paper session on the live path to compare the setup with).
EVIDENCE_ITEMS = {"closed_trades", "protection_acknowledged", "stops_held", "monitor_clean", "confidence",
                  "same_setup"}


def item(result: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(i for i in result["items"] if i["name"] == name)
    return found


def speed_max(span_ms: int) -> Recipe:
    """An in-process `--speed max` session: `span_ms` of simulated time in about 5 s of wall time."""
    return Recipe(path=dict(INPROCESS_MAX), equity_span_ms=span_ms, wall_factor=5_000 / span_ms)


# --- sessions not on the live path count for nothing ------------------------------------------------------------
@pytest.mark.parametrize("span_ms", [2 * HOUR, 7 * 24 * HOUR], ids=["2h", "7d"])
def test_an_in_process_speed_max_session_never_passes_monitor_clean(tmp_path: Path, span_ms: int) -> None:
    result = readiness(build_journal(tmp_path / "dev.db", speed_max(span_ms)))
    assert result["ready"] is False
    assert failed_items(result) == EVIDENCE_ITEMS  # its trades, stops and signals are not evidence either
    monitor = item(result, "monitor_clean")["evidence"]
    assert monitor["longest_clean_s"] == 0 and monitor["sessions"] == []
    [left_out] = monitor["not_counted"]
    assert (left_out["id"], left_out["adapter"], left_out["clock"], left_out["speed"]) == (1, "inprocess",
                                                                                           "simulated", "max")
    assert "in-process simulator" in left_out["why"] and "simulated clock" in left_out["why"]
    assert left_out["session_time_s"] == span_ms // 1000 and left_out["wall_s"] <= 5


@pytest.mark.parametrize(("path", "why"), [
    ({**INPROCESS_MAX, "clock": "wall", "speed": "1"}, "in-process simulator"),
    ({**LIVE_PATH, "clock": "simulated", "speed": "max"}, "simulated clock"),
    (None, "not journaled"),
], ids=["in-process-on-the-wall-clock", "ccxt-on-a-simulated-clock", "path-not-recorded"])
def test_any_other_path_is_not_counted_even_with_hours_of_wall_time(tmp_path: Path, path: dict[str, Any] | None,
                                                                   why: str) -> None:
    result = readiness(build_journal(tmp_path / "other.db", Recipe(path=path, wall_factor=1.0)))
    assert failed_items(result) == EVIDENCE_ITEMS
    for name in (n for n in ITEMS if n not in SETTINGS_ITEMS):
        evidence = item(result, name)["evidence"]
        assert evidence["sessions"] == []
        if name not in ("no_rejected_protection", "same_setup"):  # nothing to look at: no protection order; no setup
            assert [s["id"] for s in evidence["not_counted"]] == [1] and why in evidence["not_counted"][0]["why"]


def test_a_live_session_is_not_paper_evidence(tmp_path: Path) -> None:
    result = readiness(build_journal(tmp_path / "live.db", Recipe(mode="live")))
    assert failed_items(result) == EVIDENCE_ITEMS
    assert "not paper trading" in item(result, "closed_trades")["evidence"]["not_counted"][0]["why"]


# --- the live path counts, on the wall clock ---------------------------------------------------------------
def test_an_hour_on_the_live_path_passes_and_every_item_names_its_sessions(tmp_path: Path) -> None:
    result = readiness(build_journal(tmp_path / "paper.db", speed_max(2 * HOUR), Recipe(equity_span_ms=HOUR)))
    assert result["ready"] is True, result
    assert [i["name"] for i in result["items"]] == list(ITEMS)
    # CONTRACT 7's three keys, and the evidence in words beside them (an extension: the dashboard shows those).
    assert all(set(i) == {"name", "passed", "evidence", "text", "fix", "sessions_text"} for i in result["items"])
    assert all(i["fix"] is None and i["text"] for i in result["items"])
    live = {"id": 2, "mode": "paper", **LIVE_PATH}
    for name in (n for n in ITEMS if n not in SETTINGS_ITEMS):
        evidence = item(result, name)["evidence"]
        assert [{k: s[k] for k in live} for s in evidence["sessions"]] == [live], (name, evidence)
        if name not in ("no_rejected_protection", "same_setup"):  # no protection order; session 1 is off the path
            assert [s["id"] for s in evidence["not_counted"]] == [1], (name, evidence)
    monitor = item(result, "monitor_clean")["evidence"]
    assert monitor["longest_clean_s"] == 3600 and monitor["measured_on"] == "wall clock"
    assert monitor["sessions"][0]["clean_s"] == 3600
    assert item(result, "closed_trades")["evidence"]["closed"] == 5  # the in-process session's five are not counted
    cap = item(result, "live_position_cap")["evidence"]
    assert cap["sessions"] == [] and "settings" in cap["source"]


def test_trades_are_counted_only_from_live_path_sessions(tmp_path: Path) -> None:
    url = build_journal(tmp_path / "mixed.db", speed_max(2 * HOUR), Recipe(trades=4, equity_span_ms=2 * HOUR))
    result = readiness(url)
    assert failed_items(result) == {"closed_trades"}
    assert item(result, "closed_trades")["evidence"]["closed"] == 4


def test_a_silent_monitor_breaks_the_hour(tmp_path: Path) -> None:
    """A missed heartbeat ends a stretch: beats are a minute apart, late by at most 3 intervals (at least 10 s)."""
    gap = Recipe(equity_span_ms=HOUR + 40 * MINUTE, silent=(50 * MINUTE + 1, 51 * MINUTE + 1))  # the 51st is missing
    result = readiness(build_journal(tmp_path / "gap.db", gap))
    assert failed_items(result) == {"monitor_clean"}
    assert item(result, "monitor_clean")["evidence"]["longest_clean_s"] == 50 * 60
    late = readiness(build_journal(tmp_path / "late.db", Recipe(heartbeat_ms=MINUTE + 10_000)))
    assert late["ready"] is True, late  # every beat 10 s late: still continuous
    later = readiness(build_journal(tmp_path / "later.db", Recipe(heartbeat_ms=MINUTE + 11_000)))
    assert failed_items(later) == {"monitor_clean"}
    assert item(later, "monitor_clean")["evidence"]["longest_clean_s"] == 0


def test_longest_clean_measures_wall_time_between_errors() -> None:
    beats = [{"time_ms": t, "wall_ms": 10 * t} for t in range(0, 10_001, 1_000)]
    assert longest_clean_ms(beats, [], max_gap_ms=10_000) == 100_000
    assert longest_clean_ms(beats, [4_500], max_gap_ms=10_000) == 50_000  # 50 000..100 000 after the error
    assert longest_clean_ms(beats, [], max_gap_ms=9_999) == 0  # every gap too long
    beats[5]["wall_ms"] = None  # a heartbeat that cannot be measured interrupts the stretch
    assert longest_clean_ms(beats, [], max_gap_ms=10_000) == 40_000


def test_a_journal_from_before_the_path_columns_is_readable_and_not_counted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine_for(url)
    try:
        command.upgrade(alembic_config(engine), "0001_initial")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO sessions (started_ms, mode, settings, version) "
                              f"VALUES ({T0}, 'paper', '{{}}', 'old')"))
            conn.execute(text("INSERT INTO equity_snapshots (session_id, wallet, equity, available, open_positions,"
                              f" time_ms) VALUES (1, '1', '1', '1', 0, {T0})"))
    finally:
        engine.dispose()
    result = readiness(url)
    assert failed_items(result) == EVIDENCE_ITEMS
    [old] = item(result, "monitor_clean")["evidence"]["not_counted"]
    assert old["id"] == 1 and "not journaled" in old["why"] and old["wall_s"] is None


# --- what the real bot journals -----------------------------------------------------------------------------
def test_session_path_from_settings_and_clock() -> None:
    sim = load_settings({"exchange": "sim", "speed": "max"}, env={})
    assert session_path(sim, SimulatedClock(T0)) == {"adapter": "inprocess", "exchange_url": None,
                                                     "clock": "simulated", "speed": "max"}
    url = load_settings({"exchange": "http://127.0.0.1:8090/", "feed": "exchange"}, env={})
    assert session_path(url, WallClock()) == {"adapter": "ccxt", "exchange_url": "http://127.0.0.1:8090",
                                              "clock": "wall", "speed": "1"}
    assert public_url("https://key:secret@fapi.example:8443/x?y=1") == "https://fapi.example:8443"  # never credentials


def _session_rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("select mode, adapter, exchange_url, clock, speed from sessions order by id").fetchall()


def test_the_bot_journals_the_path_it_ran_on(tmp_path: Path) -> None:
    """In process at `--speed max`, then paper against `sim-server` with the exchange feed: what each journals,
    and that the first is not counted (its heartbeats span simulated time, not wall time)."""
    db = tmp_path / "journal.db"
    done = subprocess.run([str(BIN), "run", "--duration", "3"], env=bot_env(tmp_path), capture_output=True,
                          text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    with running_server() as server:
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_FEED="exchange", QT_API_KEY=API_KEY,
                      QT_API_SECRET=API_SECRET, QT_SYMBOLS="BNBUSDT,BTCUSDT")
        done = subprocess.run([str(BIN), "run", "--duration", "3"], env=env, capture_output=True, text=True,
                              timeout=90)
        assert done.returncode == 0, done.stderr
        server_url = server.url
    assert _session_rows(db) == [("paper", "inprocess", None, "simulated", "max"),
                                 ("paper", "ccxt", server_url, "wall", "1")]
    with sqlite3.connect(db) as conn:
        beats = conn.execute("select session_id, time_ms, wall_ms from equity_snapshots order by id").fetchall()
    assert {s for s, _, _ in beats} == {1, 2} and all(wall is not None for _, _, wall in beats)
    result = readiness(f"sqlite:///{db}", strategy="manual")  # bot_env's setup: what both sessions journaled
    monitor = item(result, "monitor_clean")["evidence"]
    assert [s["id"] for s in monitor["sessions"]] == [2] and monitor["longest_clean_s"] < 10
    [dev] = monitor["not_counted"]
    assert dev["id"] == 1 and dev["session_time_s"] > dev["wall_s"]  # simulated time ran ahead of the wall clock
