"""A sweep's runs checked whole on the driver (research/sweep_check.py): the fixed `--param`s with each
combination, never on their own; refused combinations fail without a task; every run's params are complete.
The sweep runs here on an in-process pool (no Ray) over synthetic bars."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from quantum_trader.marketdata.bars import BarChunk, synthetic_bars
from quantum_trader.research.backtest_job import BacktestJob, comparable, prepare
from quantum_trader.research.sweep import execute, sweep
from quantum_trader.research.sweep_check import candidates, none_can_run, refusal
from quantum_trader.research.sweep_plan import GridAxis, Run
from quantum_trader.sim.universe import load_universe


class InProcessPool:
    """RayPool's interface, each job run here in turn; remembers which runs were sent."""

    cpus = 2

    def __init__(self) -> None:
        self.bars: list[BarChunk] = []
        self.symbols: tuple[str, ...] = ()
        self.sent: list[dict[str, str]] = []

    def share(self, bars: list[BarChunk]) -> None:
        self.bars, self.symbols = bars, bars[0].symbols

    def engine(self) -> dict[str, Any]:
        return {"name": "in-process"}

    def run(self, jobs: Sequence[tuple[Run, BacktestJob]], on_done: Any = None) -> list[Run]:
        for run, job in jobs:
            self.sent.append(dict(run.params))
            answer = execute(job, self.bars)
            run.result, run.error = answer["result"], answer["error"]
        return [run for run, _ in jobs]


def bars() -> list[BarChunk]:
    inst = load_universe().instrument("LINKUSDT")
    return list(synthetic_bars(["LINKUSDT"], [float(inst.typical_price)], 600, seed=5, chunk_bars=300))


JOB = BacktestJob(Path("LINKUSDT-1m-2026-02.csv"), "sma-cross", {"fast": "5"})
LINK = ("LINKUSDT",)


def test_the_fixed_params_are_judged_with_each_combination_not_alone() -> None:
    slow_8 = BacktestJob(JOB.data, "sma-cross", {"slow": "8"})
    assert refusal(slow_8, LINK) is not None  # with the default fast (10): refused on its own
    assert none_can_run(slow_8, [GridAxis("fast", ("5",))], None, LINK) is None  # fine with the grid's fast
    assert none_can_run(slow_8, [GridAxis("fast", ("10", "20"))], None, LINK) == (
        "sweep: none of the 2 combinations of --grid with the fixed --param values can run; the first: "
        "--param slow=8 --grid fast=10: sma-cross: fast (10) must be at least 1 and below slow (8)")


def test_a_search_is_judged_on_the_corners_of_its_space() -> None:
    axes = [GridAxis("fast", low="3", high="12"), GridAxis("slow", ("8", "40"))]
    assert candidates(axes, 5) == [{"fast": "3", "slow": "8"}, {"fast": "3", "slow": "40"},
                                   {"fast": "12", "slow": "8"}, {"fast": "12", "slow": "40"}]
    assert none_can_run(BacktestJob(JOB.data), axes, 5, LINK) is None
    assert none_can_run(BacktestJob(JOB.data), [GridAxis("fast", low="9", high="12"), GridAxis("slow", ("8",))], 5,
                        LINK)


def test_the_same_refusal_for_every_run_is_that_refusal_alone() -> None:
    job = BacktestJob(JOB.data, "sma-cross", {"stop_loss_pct": "70"})
    assert none_can_run(job, [GridAxis("fast", ("5", "6"))], None, LINK) == (
        "--param stop_loss_pct=70: out of range (float from 0.05 to 50.0, default 2.0: stop-loss distance, % of "
        "the entry price)")


def test_runs_carry_the_fixed_params_and_refused_ones_fail_without_a_task() -> None:
    pool = InProcessPool()
    outcome = sweep(JOB, [GridAxis("slow", ("4", "8"))], pool, objective="net_pnl", bars=bars())  # type: ignore[arg-type]
    doc = outcome.to_json()
    assert doc["fixed_params"] == {"fast": 5}
    assert sorted((r["params"]["fast"], r["params"]["slow"], r["error"] is None) for r in doc["runs"]) == [
        (5, 4, False), (5, 8, True)]
    assert pool.sent == [{"fast": "5", "slow": "8"}]  # slow=4 (not above fast=5) never reached a worker
    refused = next(r for r in doc["runs"] if r["error"])
    assert refused["error"].startswith("ParamError: --param fast=5 --grid slow=4: sma-cross: fast (5) must be")


def test_search_and_walk_forward_runs_carry_the_fixed_params_too() -> None:
    pool = InProcessPool()
    search = sweep(JOB, [GridAxis("slow", low="6", high="30")], pool, objective="net_pnl", trials=2,  # type: ignore[arg-type]
                   bars=bars()).to_json()
    assert [r["params"]["fast"] for r in search["runs"]] == [5, 5]
    folds = sweep(JOB, [GridAxis("slow", ("8", "20"))], pool, objective="net_pnl", walk_forward=1,  # type: ignore[arg-type]
                  bars=bars()).to_json()
    assert all(r["params"]["fast"] == 5 for r in folds["runs"])
    assert folds["walk_forward"][0]["chosen"]["fast"] == 5


def test_a_leverage_above_what_the_datas_symbols_allow_is_refused_per_run() -> None:
    most = load_universe().instrument("LINKUSDT").max_leverage
    assert refusal(BacktestJob(JOB.data, params={"leverage": str(most)}), LINK) is None
    assert refusal(BacktestJob(JOB.data, params={"leverage": str(most + 1)}), LINK) == (
        f"ParamError: --param leverage={most + 1}: above the largest leverage the data's symbols allow "
        f"(LINKUSDT {most}x); give {most} or less")
    assert none_can_run(BacktestJob(JOB.data), [GridAxis("leverage", ("5", "100"))], None, LINK) is None
    assert none_can_run(BacktestJob(JOB.data), [GridAxis("leverage", ("100",))], None, LINK) == (
        f"--grid leverage=100: above the largest leverage the data's symbols allow (LINKUSDT {most}x); "
        f"give {most} or less")


def test_each_runs_result_says_why_risk_refused_its_signals_naming_the_grid() -> None:
    """`sweep --grid leverage=50,75` reported 0 trades for each run and 0 failed, and nothing said why: at
    those leverages every position would be liquidated before its 2 % stop, so risk refused every signal."""
    outcome = sweep(JOB, [GridAxis("leverage", ("5", "50"))], InProcessPool(), objective="net_pnl",  # type: ignore[arg-type]
                    bars=bars()).to_json()
    by_leverage = {r["params"]["leverage"]: r["result"] for r in outcome["runs"]}
    high = by_leverage[50]["refusals"]
    assert high["signals"] == high["refused"] > 0 and high["approved"] == 0
    (kind, seen), = high["by_kind"].items()
    assert kind == "stop_beyond_liquidation" and seen["count"] == high["refused"]
    assert seen["example"].endswith("could fire: lower --grid leverage or QT_STOP_LOSS_PCT")
    assert by_leverage[5]["refusals"]["approved"] > 0


def test_an_ai_scanner_model_refused_for_some_settings_fails_those_runs_only() -> None:
    scanner = BacktestJob(JOB.data, "ai-scanner")
    assert refusal(scanner, LINK) is None  # the shipped model, trained for the default SL/TP
    refused = refusal(BacktestJob(JOB.data, "ai-scanner", {"stop_loss_pct": "1.5"}), LINK)
    assert refused is not None and refused.startswith("StrategyUnusable: --strategy ai-scanner cannot trade: model "
                                                      "refused: ") and "sl_pct model=2.0 settings=1.5" in refused
    assert none_can_run(scanner, [GridAxis("stop_loss_pct", ("1.5", "2"))], None, LINK) is None
    assert none_can_run(scanner, [GridAxis("stop_loss_pct", ("1.5", "2.5"))], None, LINK)


def test_a_min_confidence_grid_sets_the_scanners_threshold_and_each_run_is_its_backtest() -> None:
    """`--grid min_confidence` sets both places the threshold acts (the scanner's choice of signals and risk's
    confidence rule, named as given), each run equals the backtest with that `--param`, and the threshold decides
    the trades (the shipped model's confidences are about 0.2 on these bars). sma-cross refuses it: every run
    would be the same."""
    ready = prepare(BacktestJob(JOB.data, "ai-scanner", {"min_confidence": "0.4"}).with_grid({"stop_loss_pct": 2}))
    assert ready.settings.min_confidence == ready.rules.min_confidence == 0.4
    assert ready.strategy.config.min_confidence == 0.4  # type: ignore[attr-defined]
    assert ready.rules.setting_names == {"min_confidence": "--param min_confidence",
                                         "stop_loss_pct": "--grid stop_loss_pct"}  # risk's refusals say these
    pool = InProcessPool()
    grid = [GridAxis("min_confidence", ("0.16", "0.2", "0.25"))]
    doc = sweep(BacktestJob(JOB.data, "ai-scanner"), grid, pool, objective="net_pnl", bars=scanner_bars()).to_json()  # type: ignore[arg-type]
    trades = {r["params"]["min_confidence"]: r["result"]["performance"]["trades"] for r in doc["runs"]}
    # The shipped model answers its sides' base rates (0.169 long, 0.209 short): from 0.16 to 0.2 the short's
    # higher confidence wins every bar of the one symbol, and nothing reaches 0.25.
    assert trades[0.16] == trades[0.2] > trades[0.25] == 0, trades
    for run in doc["runs"]:
        alone = execute(BacktestJob(JOB.data, "ai-scanner", {"min_confidence": run["params_text"]["min_confidence"]}),
                        pool.bars)
        assert comparable(alone["result"]) == comparable(run["result"]), run["params"]
    assert none_can_run(JOB, grid, None, LINK) == (
        "sweep: none of the 3 combinations of --grid with the fixed --param values can run; the first: --grid "
        "min_confidence=0.16: has no effect with --strategy sma-cross (a cross is a rule, not an estimate: every "
        "signal has confidence 1.0, which no threshold from 0 to 1 refuses); it is the threshold of the signals of "
        "--strategy ai-scanner: leave it out")


def scanner_bars() -> list[BarChunk]:
    """Bars on which the shipped model emits signals of several confidences (warm-up is 1,000 bars or so)."""
    inst = load_universe().instrument("LINKUSDT")
    return list(synthetic_bars(["LINKUSDT"], [float(inst.typical_price)], 3000, seed=5, chunk_bars=1000, vol=0.003))


def test_params_are_written_in_their_declared_types_and_as_given() -> None:
    """A user trial: `sweep --json` gave `"fast": "10"`. Each parameter is now its declared type (sma-cross's
    fast and slow are ints, stop_loss_pct a float: JSON numbers), with the text as given beside it (the form a
    consumer of the old document read); both go back into a backtest as they are."""
    pool = InProcessPool()
    grid = [GridAxis("slow", ("8", "20")), GridAxis("stop_loss_pct", ("1.5",))]
    doc = json.loads(json.dumps(sweep(JOB, grid, pool, objective="net_pnl", bars=bars()).to_json()))  # type: ignore[arg-type]
    assert doc["fixed_params"] == {"fast": 5} and doc["fixed_params_text"] == {"fast": "5"}
    assert sorted((r["params"]["slow"], r["params_text"]["slow"]) for r in doc["runs"]) == [(8, "8"), (20, "20")]
    for run in doc["runs"]:
        assert run["params"] == {"fast": 5, "slow": run["params"]["slow"], "stop_loss_pct": 1.5}, run["params"]
        assert type(run["params"]["fast"]) is int and type(run["params"]["stop_loss_pct"]) is float
        assert run["params_text"] == {k: str(v) for k, v in run["params"].items()}
    best = doc["runs"][0]
    again = [execute(BacktestJob(JOB.data, "sma-cross", params), pool.bars)["result"]
             for params in (best["params"], best["params_text"])]
    timing = ("seconds", "bars_per_s")
    assert [{k: v for k, v in r.items() if k not in timing} for r in again] == [
        {k: v for k, v in best["result"].items() if k not in timing}] * 2
    folds = sweep(JOB, [GridAxis("slow", ("8", "20"))], pool, objective="net_pnl", walk_forward=1,  # type: ignore[arg-type]
                  bars=bars()).to_json()
    assert folds["walk_forward"][0]["chosen"]["fast"] == 5 and folds["walk_forward"][0]["chosen_text"]["fast"] == "5"
