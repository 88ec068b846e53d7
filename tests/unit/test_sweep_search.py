"""`sweep --trials N`: proposals a backtest would refuse are no trials of the N (research/sweep_search.py), and
the sweep's small words: a count of one is "1 run". On the in-process pool of test_sweep_check.py."""

from __future__ import annotations

import pytest
from test_sweep_check import JOB, InProcessPool, bars

from quantum_trader.cli.sweep_cmd import _print
from quantum_trader.research.sweep import sweep
from quantum_trader.research.sweep_plan import GridAxis
from quantum_trader.research.sweep_search import search


def test_a_refused_proposal_is_no_trial_and_costs_no_task() -> None:
    """`sweep --trials 12` over fast=3..30 slow=20..120 proposed fast=29 slow=22 (fast must be below slow): one
    failed run of the 12. With fast=5 fixed, slow=2..7 is refused below 6; four runs must still run."""
    pool = InProcessPool()
    doc = sweep(JOB, [GridAxis("slow", low="2", high="7")], pool, objective="net_pnl", trials=4,  # type: ignore[arg-type]
                bars=bars()).to_json()
    assert len(doc["runs"]) == 4 and doc["failed"] == 0
    assert all(r["params"]["slow"] in (6, 7) for r in doc["runs"])
    assert len(pool.sent) == 4 and all(int(p["slow"]) > 5 for p in pool.sent)
    refused = doc["refused_proposals"]
    assert refused["count"] >= 1 and 1 <= refused["distinct"] <= 4
    assert int(refused["first"]["params"]["slow"]) <= 5
    assert refused["first"]["error"].startswith("ParamError: --param fast=5 --grid slow=")


def test_a_space_with_nothing_left_to_run_ends_the_search() -> None:
    """Every combination refused (the command refuses such a space before Ray; here the search is asked
    directly): it stops once each was proposed, rather than asking for ever."""
    pool = InProcessPool()
    pool.share(bars())
    runs, refused = search(JOB, [GridAxis("slow", low="2", high="5")], pool, "net_pnl", 3, 7, None)  # type: ignore[arg-type]
    assert runs == [] and pool.sent == [] and refused.to_json()["distinct"] == 4


def test_a_count_of_one_is_one_run(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = sweep(JOB, [GridAxis("slow", ("20",))], InProcessPool(), objective="net_pnl",  # type: ignore[arg-type]
                    bars=bars())
    outcome.engine = {"name": "ray", "version": "x", "address": "local", "cpus": 1}
    _print(outcome)
    out = capsys.readouterr().out
    assert "1 run, 0 failed" in out and "1 runs" not in out
