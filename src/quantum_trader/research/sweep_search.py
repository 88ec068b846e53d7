"""A sweep's runs to the pool, and `--trials N`: an Optuna search of N runs that ran.

Every run is checked on the driver first (research/sweep_check.py `refusal`): a run a backtest would
refuse fails with that refusal and costs no task. A search used to spend its trials on such proposals:
`sweep --trials 12` over `fast=3..30 slow=20..120` proposed fast=29 slow=22 (fast must be below slow), so
only 11 runs were usable. A refused proposal is now no trial of the N: Optuna is told it failed (so its
sampler moves away from it) and asked again, until N runs ran or the space is exhausted: every one of its
combinations refused (a space of integer ranges and lists is finite), or `REFUSED_PER_TRIAL` refusals per
trial asked for (a space almost all refused, or with a float range). The refused proposals are counted in
the result (`refused_proposals`), not listed as runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..signals.params import GRID, specs_by_name
from ..signals.registry import strategy_params
from .backtest_job import BacktestJob
from .sweep_check import refusal
from .sweep_plan import OBJECTIVES, GridAxis, Run, made_no_trade, objective_value

OnDone = Callable[[Run], None]
#: Refused proposals per trial asked for after which a search stops asking (its space is almost all refused).
REFUSED_PER_TRIAL = 20


class Pool(Protocol):
    """What a sweep needs of its pool (research/sweep.py `RayPool`)."""

    symbols: tuple[str, ...]

    @property
    def cpus(self) -> int: ...

    def run(self, jobs: Sequence[tuple[Run, BacktestJob]], on_done: OnDone | None = None) -> list[Run]: ...


def dispatch(pool: Pool, jobs: Sequence[tuple[Run, BacktestJob]], on_done: OnDone | None, *,
             checked: bool = False) -> None:
    """The jobs to the pool, but those a backtest would refuse fail here with their refusal, as the task would
    report it, without costing a task (`checked`: the caller has checked them)."""
    sent = []
    for run, job in jobs:
        run.error = None if checked else refusal(job, pool.symbols)
        if run.error is None:
            sent.append((run, job))
        elif on_done is not None:
            on_done(run)
    pool.run(sent, on_done)


@dataclass
class Refused:
    """The proposals of a search that a backtest would refuse: how many, how many different, the first."""

    count: int = 0
    seen: dict[tuple[tuple[str, str], ...], str] = field(default_factory=dict)

    def note(self, params: dict[str, str], error: str) -> None:
        self.count += 1
        self.seen.setdefault(tuple(sorted(params.items())), error)

    def to_json(self) -> dict[str, Any]:
        first = next(iter(self.seen.items()), None)
        return {"count": self.count, "distinct": len(self.seen),
                "first": None if first is None else {"params": dict(first[0]), "error": first[1]}}


def search(base: BacktestJob, axes: Sequence[GridAxis], pool: Pool, objective: str, trials: int, seed: int,
           on_done: OnDone | None) -> tuple[list[Run], Refused]:
    """Optuna's TPE over the axes (a list of values: categorical; LOW..HIGH: a range of the parameter's type),
    asked in batches as wide as the cluster, told each result (a failed run, one without the objective and one
    that made no trade are failed trials: a drawdown of 0 must not draw the sampler to parameters that never
    trade); a proposal a backtest would refuse is told failed and not counted (see the module doc)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if OBJECTIVES[objective] else "minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    space = {axis.name: _distribution(axis, base) for axis in axes}
    size, refused, runs = _size(space), Refused(), list[Run]()
    while len(runs) < trials:
        asked = _runnable(study, space, base, pool, min(pool.cpus, trials - len(runs)), refused,
                          lambda: len(refused.seen) >= size or refused.count >= REFUSED_PER_TRIAL * trials)
        if not asked:
            break  # the space is exhausted
        dispatch(pool, [(run, base.with_grid(run.params)) for _, run in asked], on_done, checked=True)
        for trial, run in asked:
            value = objective_value(run.result, objective)
            if run.error is None and value is not None and not made_no_trade(run.result):
                study.tell(trial, value)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
        runs += [run for _, run in asked]
    return runs, refused


def _runnable(study: Any, space: dict[str, Any], base: BacktestJob, pool: Pool, want: int, refused: Refused,
              exhausted: Callable[[], bool]) -> list[tuple[Any, Run]]:
    """Up to `want` proposals a backtest would run, each with its run; the refused ones told failed and noted."""
    import optuna

    asked: list[tuple[Any, Run]] = []
    while len(asked) < want and not exhausted():
        trial = study.ask(space)
        run = Run({**base.params, **{k: str(v) for k, v in trial.params.items()}}, extra={"trial": trial.number})
        error = refusal(base.with_grid(run.params), pool.symbols)
        if error is None:
            asked.append((trial, run))
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            refused.note(run.params, error)
    return asked


def _size(space: dict[str, Any]) -> float:
    """How many combinations the space holds (infinite with a float range)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    total = 1.0
    for dist in space.values():
        if isinstance(dist, CategoricalDistribution):
            total *= len(dist.choices)
        elif isinstance(dist, IntDistribution):
            total *= dist.high - dist.low + 1
        else:
            return math.inf
    return total


def _distribution(axis: GridAxis, base: BacktestJob) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if not axis.is_range:
        return CategoricalDistribution(list(axis.values))
    spec = specs_by_name(strategy_params(base.strategy))[axis.name]
    low, high = spec.parse(axis.low or "", GRID), spec.parse(axis.high or "", GRID)
    if spec.kind == "int":
        return IntDistribution(int(low), int(high))
    return FloatDistribution(float(low), float(high))
