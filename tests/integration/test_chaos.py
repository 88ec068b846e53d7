"""`quantum-trader chaos` end to end, and the observer that grades it.

The command runs as a user runs it (the installed console script, in a subprocess). The campaign
must be reproducible (same N and seed, same document), its verdict must follow its figures, a calm
run must pass, and a bot without its monitor must fail: a campaign that cannot fail proves nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from quantum_trader.chaos.report import Observer, ScenarioResult, campaign_report
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.universe import load_universe

BIN = Path(sys.executable).parent / "quantum-trader"
TARGET_KEYS = ("longest_unprotected_s", "duplicate_orders", "unknown_positions", "unexplained_breaches")
SYM = "ETHUSDT"
T0 = 1_767_225_600_000


def chaos(*args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run([str(BIN), "chaos", *args, "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stderr
    document: dict[str, Any] = json.loads(done.stdout)  # the whole stdout is one JSON document
    return done.returncode, document


def meets_targets(doc: dict[str, Any]) -> bool:
    return bool(doc["longest_unprotected_s"] <= 2 * doc["monitor_interval_s"] and doc["duplicate_orders"] == 0
            and doc["unknown_positions"] == 0 and doc["unexplained_breaches"] == 0)


def test_the_campaign_is_deterministic_and_its_verdict_follows_its_figures() -> None:
    code, first = chaos("--scenarios", "5", "--seed", "1")
    _, second = chaos("--scenarios", "5", "--seed", "1")
    assert first == second
    assert {"scenarios", "seed", "positions_opened", "faults_injected", "restarts", "manual_cancels", "breaches",
            "passed", "worst", *TARGET_KEYS} <= set(first)
    assert (first["scenarios"], first["seed"]) == (5, 1)
    assert first["positions_opened"] > 0 and first["restarts"] > 0 and first["manual_cancels"] > 0
    assert {"server_error", "rate_limit", "timeout_after", "drop_events"} <= set(first["faults_injected"])
    assert first["passed"] is meets_targets(first)
    assert code == (0 if first["passed"] else 1)
    _, other = chaos("--scenarios", "5", "--seed", "2")
    assert other["faults_injected"] != first["faults_injected"]


def test_a_calm_run_passes() -> None:
    code, doc = chaos("--scenarios", "3", "--seed", "1", "--profile", "calm")
    assert doc["faults_injected"] == {} and doc["restarts"] == 0 and doc["manual_cancels"] == 0
    assert doc["positions_opened"] > 0
    assert doc["passed"] is True and code == 0


def test_a_bot_without_its_monitor_fails_the_campaign() -> None:
    code, doc = chaos("--scenarios", "3", "--seed", "1", "--no-monitor")
    assert doc["passed"] is False and code == 1
    assert doc["longest_unprotected_s"] > 2 * doc["monitor_interval_s"]
    assert doc["worst"]["longest_unprotected_s"] == doc["longest_unprotected_s"]
    assert any("cancel by hand" in a or "kill" in a or "restart" in a for a in doc["worst"]["actions_before"])


# --- the observer, on a simulator driven by hand -------------------------------------------------------
def market_sim() -> ExchangeSimulator:
    sim = ExchangeSimulator({SYM: load_universe().instrument(SYM)})
    sim.set_prices({SYM: "3000"})
    return sim


def stop(sim: ExchangeSimulator, client_id: str, trigger: str) -> None:
    sim.new_algo_order({"symbol": SYM, "side": "SELL", "type": "STOP_MARKET", "algoType": "CONDITIONAL",
                        "triggerPrice": trigger, "quantity": "0.1", "reduceOnly": "true",
                        "workingType": "MARK_PRICE", "clientAlgoId": client_id})


def test_the_observer_measures_a_naked_position_and_lingering_duplicate_stops() -> None:
    sim = market_sim()
    observer = Observer(sim, (SYM,), T0)
    sim.new_order({"symbol": SYM, "side": "BUY", "type": "MARKET", "quantity": "0.1"})
    observer.observe(T0 + 1000)  # naked from here
    observer.observe(T0 + 2000)
    stop(sim, "qt-T1-sl-0", "2900")
    observer.observe(T0 + 4000)  # protected again: a 3 s stretch
    stop(sim, "qt-T1-sl-1", "2890")
    observer.observe(T0 + 5000)  # two stops for one step: a replacement in progress, not yet a duplicate
    assert observer.duplicates()["extra_working_stops"] == 0
    observer.observe(T0 + 6000)
    observer.finish(T0 + 7000)
    assert observer.longest is not None and observer.longest.seconds == 3.0
    assert observer.opened == 1
    assert observer.duplicates() == {"client_id_reused": 0, "same_purpose_open": 1, "extra_working_stops": 1}


def test_a_stop_on_the_wrong_side_or_too_small_does_not_count_as_protection() -> None:
    sim = market_sim()
    observer = Observer(sim, (SYM,), T0)
    sim.new_order({"symbol": SYM, "side": "BUY", "type": "MARKET", "quantity": "0.2"})
    stop(sim, "qt-T2-sl-0", "2900")  # reduceOnly for 0.1 of a 0.2 position
    observer.observe(T0)
    observer.finish(T0 + 5000)
    assert observer.longest is not None and observer.longest.seconds == 5.0


def test_the_verdict_needs_all_four_targets() -> None:
    def result(**changes: Any) -> ScenarioResult:
        base: dict[str, Any] = {
            "index": 0, "seed": 1, "symbols": (SYM,), "positions_opened": 1, "longest_unprotected_s": 1.0,
            "longest_symbol": SYM, "longest_from_s": 0.0, "duplicates": {"client_id_reused": 0},
            "unknown_positions": [], "breaches": 1, "unexplained": [], "faults": Counter(), "restarts": 0,
            "manual_cancels": 0, "trades_closed": 1, "unexpected_errors": [], "events_lost": 0, "recent_actions": []}
        return ScenarioResult(**{**base, **changes})

    def passed(r: ScenarioResult) -> bool:
        return bool(campaign_report([r], scenarios=1, seed=1, monitor_interval_s=1.0)["passed"])

    assert passed(result())
    assert not passed(result(longest_unprotected_s=2.5))
    assert not passed(result(duplicates={"client_id_reused": 1}))
    assert not passed(result(unknown_positions=[SYM]))
    assert not passed(result(unexplained=[{"trade_id": "T1"}]))
    assert Decimal(campaign_report([result()], scenarios=1, seed=1, monitor_interval_s=1.0)["breaches"]) == 1
