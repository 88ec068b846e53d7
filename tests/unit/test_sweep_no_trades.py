"""A run that made no trade ranks after every run that traded, under every objective, and a walk-forward fold
never chooses it: under `max_drawdown_pct` a run of 0 trades (drawdown 0) ranked best, and a fold chose its
parameters. The sweeps here run the real engine on the in-process pool of test_sweep_check.py; at 75x every
2 % stop lies beyond liquidation, so risk refuses every signal and the run makes no trade."""

from __future__ import annotations

from typing import Any

import pytest
from test_sweep_check import JOB, InProcessPool, bars

from quantum_trader.cli.sweep_cmd import _print
from quantum_trader.research.sweep import sweep
from quantum_trader.research.sweep_plan import OBJECTIVES, GridAxis, Run, no_choice, ranked

LEVERAGE = [GridAxis("leverage", ("75", "5"))]  # the idle run first: an order-preserving tie would keep it first


def _run(name: str, trades: int, value: float | None, error: str | None = None) -> Run:
    performance: dict[str, Any] = {"trades": trades, **dict.fromkeys(OBJECTIVES, value)}
    return Run({"v": name}, result=None if error else {"performance": performance, "open_positions_at_end": 0},
               error=error)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_a_run_without_trades_ranks_after_every_run_that_traded(objective: str) -> None:
    idle = _run("idle", 0, 0.0)
    runs = [idle, _run("worse", 3, -50.0), _run("better", 4, 20.0), _run("n/a", 2, None), _run("failed", 0, None,
                                                                                                "boom")]
    order = [r.params["v"] for r in ranked(runs, objective)]
    best_two = ["better", "worse"] if OBJECTIVES[objective] else ["worse", "better"]
    assert order == [*best_two, "n/a", "idle", "failed"]
    still_open = Run({"v": "open"}, result={"performance": {"trades": 0, objective: 1.0}, "open_positions_at_end": 1})
    assert ranked([idle, still_open], objective)[0] is still_open  # a position open at the end is a trade made
    assert ranked(runs, objective)[0].to_json(objective, {})["no_trades"] is False
    assert idle.to_json(objective, {})["no_trades"] is True


def test_a_training_window_where_nothing_traded_chooses_nothing() -> None:
    assert no_choice([_run("idle", 0, 0.0), _run("idle too", 0, 0.0)], "max_drawdown_pct") == (
        "no run of the training window made a trade: nothing to choose by; give longer windows (fewer "
        "--walk-forward folds) or grid values that trade")
    assert no_choice([_run("idle", 0, 0.0), _run("traded", 1, 3.0)], "max_drawdown_pct") is None


def test_a_sweep_ranks_its_idle_run_last_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = sweep(JOB, LEVERAGE, InProcessPool(), objective="max_drawdown_pct", bars=bars())  # type: ignore[arg-type]
    doc = outcome.to_json()
    traded, idle = doc["runs"]
    assert (traded["params"]["leverage"], traded["no_trades"], traded["result"]["performance"]["trades"] > 0) == (
        5, False, True)
    assert (idle["params"]["leverage"], idle["no_trades"], idle["objective"]) == (75, True, 0.0)
    assert traded["objective"] > idle["objective"]  # the better drawdown, ranked after the run that traded
    outcome.engine = {"name": "ray", "version": "x", "address": "local", "cpus": 1}
    _print(outcome)
    text = capsys.readouterr().out
    assert "0 (no trades)" in text
    assert "1 run made no trade: ranked after every run that traded, whatever the objective" in text


def test_walk_forward_chooses_parameters_that_traded_over_a_drawdown_of_0() -> None:
    doc = sweep(JOB, LEVERAGE, InProcessPool(), objective="max_drawdown_pct", walk_forward=1,  # type: ignore[arg-type]
                bars=bars()).to_json()
    (fold,) = doc["walk_forward"]
    assert fold["error"] is None and fold["chosen"]["leverage"] == 5
    assert fold["in_sample"] > 0 and fold["out_of_sample_no_trades"] is False
    training = [r for r in doc["runs"] if r["stage"] == "train"]
    assert [r["params"]["leverage"] for r in training] == [5, 75] and training[1]["no_trades"]
