"""`quantum-trader run` with the AI scanner, as `make run` starts it: the shipped model, the synthetic market of 222
symbols, `--speed max`. Scored signals reach /api/v1/signals with their model version and reasons, /health
and /metrics report the scanner, and a missing model leaves the bot running, silent, saying why."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from test_run_session import bot_env, journal_rows, running_bot

from quantum_trader.ml.features import FEATURE_NAMES, WARMUP_BARS
from quantum_trader.ml.model_file import default_model_path

#: CONTRACT §4: a scanner signal carries these (the API may add more).
SIGNAL_KEYS = {"symbol", "direction", "confidence", "model_version", "time_ms", "reasons"}


def _poll(url: str, check: Any, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = check(httpx.get(url, timeout=5).json())
        except (httpx.TransportError, ValueError):
            answer = None
        if answer:
            return answer
        time.sleep(0.5)
    raise AssertionError(f"{url}: condition not met in {timeout} s")


def _sides_without_skill() -> set[str]:
    """The shipped model's sides that ship their training base rate (neither showed skill when it was trained)."""
    doc = json.loads(default_model_path().read_text())
    return {side for side, calibrator in doc["calibrators"].items() if calibrator["kind"] == "constant"}


def test_make_run_defaults_serve_scored_signals_within_a_minute(tmp_path: Path) -> None:
    env = bot_env(tmp_path, QT_SYMBOLS="222", QT_STRATEGY="ai-scanner")
    started = time.monotonic()
    with running_bot(env, "--speed", "max", "--duration", "120") as (_, url):
        signals = _poll(f"{url}/api/v1/signals?limit=50", lambda body: body["signals"])
        assert time.monotonic() - started < 60
        health = httpx.get(f"{url}/health", timeout=5).json()
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
    for signal in signals:
        assert set(signal) >= SIGNAL_KEYS
        assert signal["direction"] in ("long", "short") and 0.0 <= signal["confidence"] <= 1.0
        assert signal["model_version"] == health["scanner"]["model_version"]
        if signal["direction"] in _sides_without_skill():  # the base rate: no feature explains it
            assert signal["reasons"] == [] and "no skill: confidence is the training base rate" in signal["reason"]
        else:
            assert len(signal["reasons"]) == 3
        assert all(r["feature"] in FEATURE_NAMES and isinstance(r["contribution"], float) for r in signal["reasons"])
        assert isinstance(signal["expected_value"], float)
        decision = signal["decision"]
        if signal["confidence"] < 0.65:  # visible, never traded: risk's confidence rule refused it
            assert decision is not None and decision["approved"] is False and "QT_MIN_CONFIDENCE" in decision["reason"]
    scanner = health["scanner"]
    assert health["strategy"] == "ai-scanner" and health["strategy_status"].startswith("scanning: model")
    assert scanner["scored_last_bar"] == 222 and scanner["bars_scored"] >= 1 and scanner["lag_bars"] == 0
    assert scanner["signals_last_bar"] >= 3 and scanner["scan_ms_p99"] is not None
    assert scanner["last_bar_ms"] >= signals[0]["time_ms"] - 60_000
    assert 'qt_scanner_last_bar{count="scored"} 222.0' in metrics and "qt_scanner_scan_seconds" in metrics
    [(journaled,)] = journal_rows(tmp_path, "SELECT count(*) FROM signals WHERE model_version IS NOT NULL")
    assert journaled >= len(signals)
    # Reasons are journaled for the sides with skill; a side without has none to give (NULL).
    [(explained,)] = journal_rows(tmp_path, "SELECT count(*) FROM signals WHERE reasons IS NOT NULL")
    explained_sides = {s["direction"] for s in signals if s["direction"] not in _sides_without_skill()}
    assert (explained > 0) == bool(explained_sides)


def test_without_its_model_the_scanner_is_silent_and_health_says_why(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model.json"
    env = bot_env(tmp_path, QT_STRATEGY="ai-scanner", QT_MODEL=str(missing))
    with running_bot(env, "--speed", "max", "--duration", "60") as (_, url):
        health = _poll(f"{url}/health", lambda body: body if body["feed_bars"] > WARMUP_BARS + 20 else None)
        body = httpx.get(f"{url}/api/v1/signals", timeout=5).json()
    signals = body["signals"]
    assert signals == []
    # Task M: the silence is one journaled "no signal" event with its reason, not one per bar.
    [silent] = body["no_signal"]
    assert (silent["source"], silent["cause"], silent["symbols"]) == ("ai-scanner", "no_model", [])
    assert silent["reason"] == f"no signals: no model: QT_MODEL {missing} does not exist"
    assert health["strategy_status"] == f"no signals: no model: QT_MODEL {missing} does not exist"
    assert health["scanner"]["bars_scored"] == 0 and health["scanner"]["model_version"] is None
    assert health["status"] == "degraded"  # a bot that can never trade is not healthy (it was), nor unhealthy


#: /health's `scanner` keys before its tally joined them: each must stay, with its meaning.
SCANNER_KEYS = {"model_version", "last_bar_ms", "bars_scored", "lag_bars", "max_lag_bars", "behind", "skipped_bars",
                "scan_ms_p50", "scan_ms_p99", "scored_last_bar", "signals_last_bar", "confident_last_bar",
                "signals_total", "confident_total", "errors", "last_error", "symbols", "warm_symbols", "history_bars"}


def test_health_shows_the_scanner_tally_and_what_risk_decided_on_its_signals(tmp_path: Path) -> None:
    """/health told the last bar's counts, but not what the scanner had scored since start, the highest
    confidence each side reached against the threshold, what risk refused of its signals and why, nor when it
    last scanned: a bot that traded nothing all day did not say why (only a backtest's `why_no_trade` did)."""
    env = bot_env(tmp_path, QT_SYMBOLS="20", QT_STRATEGY="ai-scanner")
    began_ms = time.time_ns() // 1_000_000
    with running_bot(env, "--speed", "max", "--duration", "120") as (_, url):
        health = _poll(f"{url}/health", lambda body: body if body["scanner"]["risk"]["signals"] >= 5 else None)
        later = httpx.get(f"{url}/health", timeout=5).json()["scanner"]
    scanner = health["scanner"]
    assert set(scanner) >= SCANNER_KEYS
    assert scanner["symbol_bars_scored"] >= scanner["bars_scored"] >= 1 and scanner["scored_last_bar"] == 20
    assert later["symbol_bars_scored"] >= scanner["symbol_bars_scored"]  # since start, never reset
    assert all(0.0 <= scanner[side] <= 1.0 for side in ("best_long", "best_short"))
    assert scanner["min_confidence"] == 0.65
    assert began_ms <= scanner["last_scan_ms"] <= time.time_ns() // 1_000_000 and 0 <= scanner["last_scan_age_s"] < 30
    risk = scanner["risk"]
    assert risk["signals"] == risk["approved"] + risk["refused"] and risk["signals"] <= scanner["signals_total"]
    assert sum(kind["count"] for kind in risk["by_kind"].values()) == risk["refused"]
    if max(scanner["best_long"], scanner["best_short"]) < 0.65:  # the shipped model's usual scores: none trades
        assert risk["approved"] == 0 and "QT_MIN_CONFIDENCE" in risk["by_kind"]["low_confidence"]["example"]
    [(journaled,)] = journal_rows(tmp_path, "SELECT count(*) FROM risk_decisions")
    assert journaled >= risk["signals"]


def test_health_has_no_scanner_object_for_another_strategy(tmp_path: Path) -> None:
    with running_bot(bot_env(tmp_path, QT_STRATEGY="sma-cross"), "--duration", "60") as (_, url):
        health = httpx.get(f"{url}/health", timeout=5).json()
    assert "scanner" not in health and health["strategy"] == "sma-cross"
