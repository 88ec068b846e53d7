"""`sweep`: many backtests as Ray tasks, each the very `run_job` a single `backtest` runs.

Ray because each run is the real engine (seconds, not microseconds) and a researcher outgrows one
machine: a local Ray on this machine's cores by default, a cluster with `address`. The bars are read
once and put in Ray's object store; every task gets the same reference (numpy arrays are shared, not
copied per task). A task that raises comes back as a failed run with its parameters and error, and the
sweep goes on. With `trials`, Optuna's TPE sampler (seeded) proposes parameters in batches as wide as the
cluster; with `walk_forward`, each fold is optimised on one window and judged on the next, which it never saw.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..core.logging import configure_logging
from ..marketdata.bars import BarChunk
from ..marketdata.selection import read_selection
from ..signals.params import ParamSpec, specs_by_name
from ..signals.registry import strategy_params
from ..sim.universe import load_universe
from .backtest import refuse_a_hole
from .backtest_job import BacktestJob, run_job
from .ray_connect import connect, no_colour_reset_at_exit
from .ray_local import start_local
from .sweep_plan import (
    OBJECTIVES,
    GridAxis,
    Run,
    combinations,
    made_no_trade,
    no_choice,
    objective_value,
    ranked,
    typed_params,
    walk_forward_windows,
)
from .sweep_search import OnDone, dispatch, search

#: A worker is one task on one CPU: numpy's BLAS must not start a thread per core in each of them (measured
#: here: two workers with default threads ran each backtest 2.5 times slower than one alone; with one, 1.05).
ONE_THREAD_PER_WORKER = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def execute(job: BacktestJob, bars: Sequence[BarChunk], log_level: str = "WARNING") -> dict[str, Any]:
    """One run, in a Ray worker (or in-process): the result document, or the error as text, and the
    worker's peak memory so far (MB). A worker logs at `log_level` like the command that started it
    (unconfigured, structlog would render every debug line of every order into Ray's log files)."""
    _configure_worker_logging(log_level)
    started = time.perf_counter()
    try:
        answer: dict[str, Any] = {"result": run_job(job, bars).to_json(), "error": None}
    except Exception as exc:  # reported with the run's parameters; the sweep goes on
        answer = {"result": None, "error": f"{type(exc).__name__}: {exc}"}
    answer["seconds"] = round(time.perf_counter() - started, 3)
    answer["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return answer


def warm_worker(log_level: str = "WARNING") -> int:
    """Import what a run needs and read the instrument universe, once per worker process."""
    _configure_worker_logging(log_level)
    return len(load_universe().symbols)


_worker_log_level: list[str] = []


def _configure_worker_logging(level: str) -> None:
    if _worker_log_level != [level]:
        configure_logging(json=False, level=level)
        _worker_log_level[:] = [level]


class RayPool:
    """A Ray connection: local with this machine's cores (or `cpus`), or the cluster at `address`."""

    def __init__(self, address: str | None = None, cpus: int | None = None) -> None:
        import ray

        self._ray: Any = ray  # partly untyped: used through Any
        self._started = not ray.is_initialized()
        if self._started:
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                       "logging_level": logging.ERROR}
            if address:  # a cluster's workers get the setting through Ray's runtime environment
                connect(ray, address, {**options, "runtime_env": {"env_vars": ONE_THREAD_PER_WORKER}})
            else:
                start_local(ray, cpus or os.cpu_count() or 1, options, ONE_THREAD_PER_WORKER)
        no_colour_reset_at_exit()  # set up by ray.init: it would write ESC[0m after --json's document
        self.address = address or "local"
        self._task = ray.remote(execute)
        self._data: Any = None
        self.symbols: tuple[str, ...] = ()
        # Each worker imports the engine once (about 2 s here): at start-up, not in the first runs' time.
        ray.get([ray.remote(warm_worker).remote() for _ in range(self.cpus)])

    @property
    def cpus(self) -> int:
        return max(int(self._ray.cluster_resources().get("CPU", 1)), 1)

    def engine(self) -> dict[str, Any]:
        return {"name": "ray", "version": self._ray.__version__, "address": self.address, "cpus": self.cpus}

    def share(self, bars: list[BarChunk]) -> None:
        """The bars every task reads, put in the object store once; their symbols, which runs are checked on."""
        self._data = self._ray.put(bars)
        self.symbols = bars[0].symbols if bars else ()

    def run(self, jobs: Sequence[tuple[Run, BacktestJob]], on_done: OnDone | None = None) -> list[Run]:
        """All jobs at once; each `Run` is filled in as its task finishes (`on_done` told), in any order."""
        ray = self._ray
        pending = {self._task.remote(job, self._data): run for run, job in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                run = pending.pop(ref)
                try:
                    answer = ray.get(ref)
                except Exception as exc:  # the worker died (out of memory, killed): a failed run, not a dead sweep
                    answer = {"result": None, "error": f"{type(exc).__name__}: {exc}"}
                run.result, run.error = answer.get("result"), answer.get("error")
                run.seconds, run.peak_rss_mb = answer.get("seconds"), answer.get("peak_rss_mb")
                if on_done is not None:
                    on_done(run)
        return [run for run, _ in jobs]

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()


@dataclass
class SweepOutcome:
    engine: dict[str, Any]
    objective: str
    runs: list[Run]
    folds: list[dict[str, Any]] = field(default_factory=list)
    #: The `--param`s held fixed: in every run's `params` too, which are complete (`backtest --param` each).
    fixed: dict[str, str] = field(default_factory=dict)
    #: The parameters' declarations (signals/params.py): `params` are written in their types.
    specs: dict[str, ParamSpec] = field(default_factory=dict)
    #: A search's proposals a backtest would refuse, which were not run nor counted as trials (sweep_search.py).
    refused: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The document of `sweep --json`. Parameters are in their declared types (`"fast": 10`); each also as
        the text it was given (`params_text`, `fixed_params_text`, `chosen_text`), the form they had before."""
        runs = [run.to_json(self.objective, self.specs) for run in ranked(self.runs, self.objective)]
        doc: dict[str, Any] = {"engine": self.engine, "objective": self.objective,
                               "higher_is_better": OBJECTIVES[self.objective],
                               "fixed_params": typed_params(self.fixed, self.specs), "fixed_params_text": self.fixed,
                               "runs": runs, "failed": sum(1 for run in self.runs if run.error is not None)}
        if self.refused is not None:
            doc["refused_proposals"] = self.refused
        if self.folds:
            doc["walk_forward"] = [{**fold, "chosen": typed_params(fold["chosen"], self.specs),
                                    "chosen_text": fold["chosen"]} for fold in self.folds]
            doc["out_of_sample"] = _out_of_sample(self.folds, self.objective)
        return doc


def read_bars(base: BacktestJob) -> list[BarChunk]:
    """The bars every run shares, read once and checked once: data without bars, or with a hole that every
    backtest would refuse (research/backtest.py), is a ValueError before any run, not N failed runs."""
    bars = list(read_selection(base.data, base.selection))
    if not bars:
        raise ValueError("sweep: the data holds no bars in the chosen period and symbols")
    previous_open: int | None = None
    for chunk in bars:
        refuse_a_hole(previous_open, chunk, "sweep")
        previous_open = int(chunk.open_time[-1])
    return bars


def sweep(base: BacktestJob, axes: Sequence[GridAxis], pool: RayPool, *, objective: str,
          trials: int | None = None, walk_forward: int | None = None, seed: int = 7,
          on_done: OnDone | None = None, bars: list[BarChunk] | None = None) -> SweepOutcome:
    """Share the bars (`read_bars`, unless the caller read them already), run the grid (or the search),
    optionally fold by fold."""
    bars = read_bars(base) if bars is None else bars
    pool.share(bars)
    fixed, specs = dict(base.params), specs_by_name(strategy_params(base.strategy))
    if walk_forward:
        first, last = int(bars[0].open_time[0]), int(bars[-1].open_time[-1]) + bars[-1].interval_ms
        windows = walk_forward_windows(first, last, walk_forward, bars[0].interval_ms)
        runs, folds = _walk_forward(base, axes, pool, objective, windows, on_done)
        return SweepOutcome(pool.engine(), objective, runs, folds, fixed, specs)
    if trials:
        runs, refused = search(base, axes, pool, objective, trials, seed, on_done)
        return SweepOutcome(pool.engine(), objective, runs, fixed=fixed, specs=specs, refused=refused.to_json())
    runs = [Run({**base.params, **params}) for params in combinations(axes)]
    dispatch(pool, [(run, base.with_grid(run.params)) for run in runs], on_done)
    return SweepOutcome(pool.engine(), objective, runs, fixed=fixed, specs=specs)


def _in_window(base: BacktestJob, run: Run) -> BacktestJob:
    start, end = run.window
    return replace(base.with_grid(run.params), selection=base.selection.narrowed(start, end))


def _walk_forward(base: BacktestJob, axes: Sequence[GridAxis], pool: RayPool, objective: str,
                  windows: Sequence[tuple[tuple[int, int], tuple[int, int]]], on_done: OnDone | None,
                  ) -> tuple[list[Run], list[dict[str, Any]]]:
    """Every fold's grid on its training window (all at once), then each fold's winner on its test window."""
    grid = combinations(axes)
    training = [[Run({**base.params, **params}, train, extra={"fold": i, "stage": "train"}) for params in grid]
                for i, (train, _) in enumerate(windows)]
    dispatch(pool, [(run, _in_window(base, run)) for fold in training for run in fold], on_done)
    chosen = [ranked(fold, objective)[0] for fold in training]
    unchosen = [no_choice(fold, objective) for fold in training]  # a fold none of whose runs has the objective
    tests = [Run(dict(base.params if why else best.params), test, extra={"fold": i, "stage": "test"}, error=why)
             for i, (best, why, (_, test)) in enumerate(zip(chosen, unchosen, windows, strict=True))]
    dispatch(pool, [(run, _in_window(base, run)) for run in tests if run.error is None], on_done)
    folds = [{"fold": i, "train": list(train), "test": list(test), "chosen": {} if why else best.params,
              "in_sample": objective_value(best.result, objective) if best.error is None else None,
              "out_of_sample": objective_value(run.result, objective),
              "out_of_sample_no_trades": made_no_trade(run.result), "error": run.error or best.error,
              "test_result": run.result}
             for i, ((train, test), best, run, why) in enumerate(zip(windows, chosen, tests, unchosen, strict=True))]
    return [run for fold in training for run in fold] + tests, folds


def _out_of_sample(folds: Sequence[dict[str, Any]], objective: str) -> dict[str, Any]:
    """What the chosen parameters did on data they were not chosen on: the only figure a forecast may use."""
    values = [f["out_of_sample"] for f in folds if f["out_of_sample"] is not None]
    pnl = [float(f["test_result"]["performance"]["net_pnl"]) for f in folds
           if f["test_result"] and f["test_result"]["performance"].get("net_pnl") is not None]
    mean = round(sum(values) / len(values), 8) if values else None  # 10.55908909, not its binary tail
    return {"folds": len(folds), "objective": objective, "mean": mean,
            "net_pnl_total": round(sum(pnl), 8) if pnl else None}
