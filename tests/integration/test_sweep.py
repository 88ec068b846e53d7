"""`sweep` on a local Ray against real data: each run equals the `backtest --param` a user would type, a
failing run is reported with its parameters while the others go on, and the search and walk-forward modes
run the same jobs (in-process Ray, started once for the module)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_run_session import BIN

from quantum_trader.marketdata.selection import Selection, parse_time_ms
from quantum_trader.research.backtest_job import BacktestJob, comparable, run_job
from quantum_trader.research.sweep import RayPool, sweep
from quantum_trader.research.sweep_plan import GridAxis

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance_um_1m_isda"
LINK = DATA / "LINKUSDT-1m-2026-02.csv.gz"
pytestmark = pytest.mark.skipif(not LINK.exists(), reason=f"real data not found at {LINK}")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=600)


def test_a_grid_on_ray_gives_each_backtest_exactly_and_reports_the_runs_that_fail() -> None:
    done = cli("sweep", "--data", str(LINK), "--grid", "fast=5,10,40", "--grid", "slow=20,30", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout)
    assert doc["engine"]["name"] == "ray" and doc["engine"]["version"] and doc["engine"]["address"] == "local"
    assert len(doc["runs"]) == 6 and doc["failed"] == 2
    failed = [r for r in doc["runs"] if r["error"]]
    assert sorted(r["params"]["fast"] for r in failed) == [40, 40]  # fast must be below slow
    assert all("fast (40) must be at least 1 and below slow" in r["error"] for r in failed)
    assert doc["runs"][-2:] == failed  # failures rank last
    ran = [r for r in doc["runs"] if not r["error"]]
    objectives = [r["objective"] for r in ran]
    assert objectives == sorted(objectives, reverse=True) and doc["objective"] == "net_pnl"
    for run in ran:
        single = cli("backtest", "--data", str(LINK), "--param", f"fast={run['params']['fast']}",
                     "--param", f"slow={run['params']['slow']}", "--json")
        assert single.returncode == 0, single.stderr[-2000:]
        assert comparable(run["result"]) == comparable(json.loads(single.stdout)), run["params"]
        assert run["peak_rss_mb"] < 300


@pytest.mark.parametrize(("args", "named"), [
    (("backtest", "--param", "fats=5"), "unknown parameter 'fats' for sma-cross"),
    (("backtest", "--param", "slow=ten"), "--param slow=ten: not an integer"),
    (("sweep", "--grid", "fats=5,10"), "unknown parameter 'fats'"),
    (("sweep", "--grid", "fast=5", "--objective", "luck"), "--objective luck: choose one of"),
    (("sweep", "--grid", "fast=5..9"), "a range needs --trials"),
    (("backtest", "--strategy", "ai-scanner", "--param", "min_confidence=1.5"), "--param min_confidence=1.5: out of "
     "range (float from 0.0 to 1.0"),
    (("sweep", "--strategy", "ai-scanner", "--grid", "min_confidence=0.5,x"), "--grid min_confidence=x: not a number"),
    (("backtest", "--param", "min_confidence=0.7"), "--param min_confidence=0.7: has no effect with --strategy "
     "sma-cross (a cross is a rule, not an estimate"),
    (("sweep", "--grid", "min_confidence=0.5,0.7"), "--grid min_confidence=0.5,0.7: has no effect with --strategy "
     "sma-cross"),
    (("sweep", "--grid", "fast=5", "--trials", "0"), "error: --trials 0: give 1 or more runs"),  # typer's box
    (("sweep", "--grid", "fast=5", "--walk-forward", "0"), "error: --walk-forward 0: give 1 or more folds"),
    # typed `int`, these were typer's boxed usage error; a negative seed failed in Optuna, after Ray started
    (("sweep", "--grid", "fast=5..9", "--trials", "abc"), "error: --trials abc: give 1 or more runs, a whole number"),
    (("sweep", "--grid", "fast=5", "--walk-forward", "1.5"), "error: --walk-forward 1.5: give 1 or more folds"),
    (("sweep", "--grid", "fast=5..9", "--trials", "2", "--seed", "x"), "error: --seed x: give a whole number from 0 "
     "to 4294967295"),
    (("sweep", "--grid", "fast=5..9", "--trials", "2", "--seed", "-1"), "error: --seed -1: give a whole number"),
    # declared up to 500 while the settings refuse 100 and above: a search spent its trials on refusals
    (("sweep", "--grid", "take_profit_pct=50..300", "--trials", "2"), "error: --grid take_profit_pct=300: out of "
     "range (float above 0 and below 100"),
])
def test_bad_parameters_are_one_line_and_exit_2_before_anything_runs(args: tuple[str, ...], named: str) -> None:
    done = cli(args[0], "--data", str(LINK), *args[1:])
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert named in done.stderr and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_min_confidence_grid_gives_each_ai_scanner_backtest_exactly() -> None:
    """QT_MIN_CONFIDENCE was neither a `--param` nor a `--grid` name. A sweep over it on a week of LINKUSDT (the
    shipped model answers its base rates there, 0.169 long and 0.209 short, so the threshold decides the trades)
    equals the backtest with each `--param min_confidence`, field for field."""
    week = ("--strategy", "ai-scanner", "--data", str(LINK), "--end", "2026-02-08")
    done = cli("sweep", *week, "--grid", "min_confidence=0.16,0.2,0.21,0.65", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    runs = {r["params"]["min_confidence"]: r for r in json.loads(done.stdout)["runs"]}
    assert sorted(runs) == [0.16, 0.2, 0.21, 0.65] and not [r["error"] for r in runs.values() if r["error"]]
    trades = [runs[c]["result"]["performance"]["trades"] for c in sorted(runs)]
    assert trades[0] >= trades[1] > trades[2] == trades[3] == 0, trades  # the short's 0.209 is the best signal
    assert [runs[c]["result"]["why_no_trade"] is None for c in sorted(runs)] == [True, True, False, False]
    assert runs[0.65]["result"]["why_no_trade"].startswith("ai-scanner scored 9,840 symbol-bars and no confidence "
                                                           "reached min_confidence 0.65 (the highest: long 0.")
    for confidence, run in runs.items():
        single = cli("backtest", *week, "--param", f"min_confidence={confidence}", "--json")
        assert single.returncode == 0, single.stderr[-2000:]
        assert comparable(run["result"]) == comparable(json.loads(single.stdout)), confidence


@pytest.fixture(scope="module")
def pool() -> Iterator[RayPool]:
    """A local Ray as `sweep` starts it (on loopback only: tests/integration/test_sweep_loopback.py)."""
    started = RayPool(cpus=2)
    try:
        yield started
    finally:
        started.close()


def test_walk_forward_chooses_on_each_window_and_judges_on_the_next(pool: RayPool) -> None:
    base = BacktestJob(LINK, "sma-cross", selection=Selection(parse_time_ms("2026-02-01", "--start"),
                                                              parse_time_ms("2026-02-16", "--end")))
    outcome = sweep(base, [GridAxis("fast", ("5", "10")), GridAxis("slow", ("30",))], pool, objective="net_pnl",
                    walk_forward=2)
    doc: dict[str, Any] = outcome.to_json()
    folds = doc["walk_forward"]
    assert [f["fold"] for f in folds] == [0, 1] and doc["out_of_sample"]["folds"] == 2
    for fold in folds:
        assert fold["train"][1] == fold["test"][0]  # the test window starts where training stopped
        training = [r for r in doc["runs"] if r.get("fold") == fold["fold"] and r["stage"] == "train"]
        best = max(training, key=lambda r: r["objective"])
        assert fold["chosen"] == best["params"] and fold["in_sample"] == best["objective"]
        alone = run_job(BacktestJob(LINK, "sma-cross", best["params"],
                                    Selection(fold["test"][0], fold["test"][1]))).to_json()
        assert fold["out_of_sample"] == pytest.approx(float(alone["performance"]["net_pnl"]))
    assert folds[0]["test"] == [folds[1]["train"][0], folds[1]["train"][1]]
    mean = doc["out_of_sample"]["mean"]
    assert mean == round(sum(f["out_of_sample"] for f in folds) / 2, 8) and len(repr(mean)) <= 20  # no float tail


def test_walk_forward_windows_too_short_for_a_sharpe_ratio_choose_nothing(pool: RayPool) -> None:
    """Five-day windows have 5 daily returns: every training run's Sharpe ratio is n/a (it was 0.0, or hundreds),
    so a fold has nothing to choose by; it used to "choose" the grid's first run and judge it out of sample."""
    base = BacktestJob(LINK, "sma-cross", selection=Selection(parse_time_ms("2026-02-01", "--start"),
                                                              parse_time_ms("2026-02-16", "--end")))
    doc = sweep(base, [GridAxis("fast", ("5", "10")), GridAxis("slow", ("30",))], pool, objective="sharpe",
                walk_forward=2).to_json()
    for fold in doc["walk_forward"]:
        assert (fold["chosen"], fold["in_sample"], fold["out_of_sample"], fold["test_result"]) == ({}, None, None, None)
        assert fold["error"].startswith("no run of the training window has a sharpe (5 daily returns, fewer than")
    assert doc["out_of_sample"]["mean"] is None and doc["out_of_sample"]["net_pnl_total"] is None
    training = [r for r in doc["runs"] if r["stage"] == "train"]
    assert len(training) == 4 and all(r["error"] is None and r["objective"] is None for r in training)


def test_a_search_with_trials_runs_that_many_seeded_runs_in_the_ranges(pool: RayPool) -> None:
    base = BacktestJob(LINK, "sma-cross", selection=Selection(None, parse_time_ms("2026-02-08", "--end")))
    axes = [GridAxis("fast", low="3", high="12"), GridAxis("slow", ("20", "40"))]
    first = sweep(base, axes, pool, objective="sharpe", trials=4, seed=3).to_json()
    again = sweep(base, axes, pool, objective="sharpe", trials=4, seed=3).to_json()
    assert len(first["runs"]) == 4 and first["failed"] == 0
    assert all(3 <= int(r["params"]["fast"]) <= 12 and r["params"]["slow"] in (20, 40) for r in first["runs"])
    assert sorted(r["trial"] for r in first["runs"]) == [0, 1, 2, 3]
    assert [r["params"] for r in first["runs"]] == [r["params"] for r in again["runs"]]  # the seed decides


def test_a_local_pools_workers_run_numpy_on_one_thread_and_the_driver_keeps_its_environment() -> None:
    """Set while the local node starts (a runtime environment cost each worker 0.4 s more to start)."""
    script = ("import os, ray\n"
              "from quantum_trader.research.sweep import RayPool\n"
              "pool = RayPool(cpus=1)\n"
              "seen = ray.get(ray.remote(lambda: os.environ.get('OMP_NUM_THREADS')).remote())\n"
              "print(seen, os.environ.get('OMP_NUM_THREADS', 'unset'))\n"
              "pool.close()\n")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "unset"]


def test_the_in_process_pool_is_a_loopback_node_and_leaves_rays_mode_as_it_found_it(pool: RayPool) -> None:
    """Ray was imported before the pool set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER, so it is its constant, held
    false while the node started, that made the node 127.0.0.1; the constant and the environment are restored."""
    import ray
    from ray._private import ray_constants

    assert ray.util.get_node_ip_address() == "127.0.0.1"
    assert ray_constants.ENABLE_RAY_CLUSTER is True and "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in os.environ
