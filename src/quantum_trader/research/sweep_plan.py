"""What a sweep runs and how its runs are judged: grids, objectives, rankings and walk-forward windows.

Pure: no Ray and no engine here (research/sweep.py runs the plan), so the rules that decide which
parameters "won" are tested on their own. A run that failed is never ranked above one that ran; a
metric a run lacks (a Sharpe ratio of a run without trades) ranks it last, never first; a run that made no
trade ranks after every run that traded, whatever its figure (its drawdown of 0 is no strategy).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..signals.params import GRID, ParamError, ParamSpec, ParamValue

#: Objectives a sweep may optimise: the backtest's performance figures, and which way is better.
OBJECTIVES: dict[str, bool] = {  # name → higher is better
    "net_pnl": True, "return_pct": True, "sharpe": True, "profit_factor": True, "win_rate_pct": True,
    "average_trade": True, "max_drawdown_pct": False, "max_drawdown_usdt": False,
}
DEFAULT_OBJECTIVE = "net_pnl"


@dataclass(frozen=True)
class GridAxis:
    """One `--grid NAME=V1,V2,...` (or, for a search with `--trials`, `NAME=LOW..HIGH`)."""

    name: str
    values: tuple[str, ...] = ()
    low: str | None = None
    high: str | None = None

    @property
    def is_range(self) -> bool:
        return self.low is not None


def parse_axis(entry: str, specs: Mapping[str, ParamSpec], *, ranges_allowed: bool) -> GridAxis:
    """`fast=5,10,20` or (with `--trials`) `fast=5..40`; every value checked against the parameter's spec, a
    refusal naming `--grid` (the option the value was given with)."""
    name, sep, rest = (part.strip() for part in entry.partition("="))
    if not sep or not name or not rest:
        raise ParamError(f"--grid {entry}: write NAME=V1,V2,... e.g. --grid fast=5,10,20")
    spec = specs.get(name)
    if spec is None:
        raise ParamError(f"--grid {entry}: unknown parameter {name!r}; choose from {', '.join(specs)}")
    if ".." in rest:
        if not ranges_allowed:
            raise ParamError(f"--grid {entry}: a range needs --trials (a search); a grid lists its values")
        low, _, high = (p.strip() for p in rest.partition(".."))
        if spec.parse(low, GRID) >= spec.parse(high, GRID):
            raise ParamError(f"--grid {entry}: the range's low end must be below its high end")
        return GridAxis(name, low=low, high=high)
    values = tuple(dict.fromkeys(v.strip() for v in rest.split(",") if v.strip()))
    for value in values:
        spec.parse(value, GRID)
    return GridAxis(name, values)


def combinations(axes: Sequence[GridAxis]) -> list[dict[str, str]]:
    """Every combination of the axes' values, the first axis varying slowest (a stable, documented order)."""
    names = [axis.name for axis in axes]
    if len(set(names)) != len(names):
        raise ParamError(f"--grid: {', '.join(sorted({n for n in names if names.count(n) > 1}))} given twice")
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(a.values for a in axes))]


def objective_value(result: Mapping[str, Any] | None, objective: str) -> float | None:
    """The objective of a run's result document, or None when it has none (no trades, a failed run)."""
    if result is None:
        return None
    raw = (result.get("performance") or {}).get(objective)
    try:
        value = float(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None
    return value if value is not None and math.isfinite(value) else None


def made_no_trade(result: Mapping[str, Any] | None) -> bool:
    """Whether a run that ran made no trade: none closed and nothing open at the end. Its figures are real but
    judge no strategy: a drawdown of 0 ranked first under `max_drawdown_pct`, a P&L of 0 above every loss."""
    if result is None:
        return False
    return (result.get("performance") or {}).get("trades") == 0 and not result.get("open_positions_at_end")


@dataclass
class Run:
    """One backtest of a sweep: its parameters and window, and what came back."""

    params: dict[str, str]
    window: tuple[int | None, int | None] = (None, None)
    result: dict[str, Any] | None = None
    error: str | None = None
    seconds: float | None = None
    peak_rss_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self, objective: str, specs: Mapping[str, ParamSpec]) -> dict[str, Any]:
        """`params` in their declared types (`specs`), `params_text` as given (`backtest --param` takes either)."""
        return {"params": typed_params(self.params, specs), "params_text": self.params,
                "objective": objective_value(self.result, objective), "no_trades": made_no_trade(self.result),
                "error": self.error,
                "seconds": self.seconds, "peak_rss_mb": self.peak_rss_mb, "result": self.result, **self.extra}


def typed_params(params: Mapping[str, str], specs: Mapping[str, ParamSpec]) -> dict[str, ParamValue | str]:
    """Parameters as their declared types for `sweep --json` (`"fast": 10`, `"stop_loss_pct": 1.5`): the text
    a sweep carries them as went out as `"fast": "10"`. A name without a spec keeps its text."""
    return {name: specs[name].typed(text) if name in specs else text for name, text in params.items()}


def ranked(runs: Sequence[Run], objective: str) -> list[Run]:
    """Best first among the runs that traded; then those that traded but lack the objective, in their original
    order; then the runs that made no trade (best first among themselves); failed runs last, in their order."""
    higher = OBJECTIVES[objective]

    def key(item: tuple[int, Run]) -> tuple[int, float, int]:
        index, run = item
        value = objective_value(run.result, objective)
        score = 0.0 if value is None else -value if higher else value
        if run.error is not None:
            return (3, 0.0, index)
        if made_no_trade(run.result):
            return (2, score, index)
        return (0 if value is not None else 1, score, index)

    return [run for _, run in sorted(enumerate(runs), key=key)]


def no_choice(runs: Sequence[Run], objective: str) -> str | None:
    """Why a walk-forward fold cannot choose on `runs` (its training window), or None when one of them traded
    and has the objective: ranked first for want of a better, the grid's first run would be "chosen" and judged
    as if it had won (a Sharpe ratio is n/a on a window under two weeks: trading/performance.py), and parameters
    that never traded there would be chosen for a drawdown of 0."""
    if any(run.error is None and not made_no_trade(run.result) and objective_value(run.result, objective) is not None
           for run in runs):
        return None
    ran = [run for run in runs if run.error is None and run.result is not None]
    if not ran:
        return "every run of the training window failed: nothing to choose by"
    traded = [run for run in ran if not made_no_trade(run.result)]
    if not traded:
        return ("no run of the training window made a trade: nothing to choose by; give longer windows (fewer "
                "--walk-forward folds) or grid values that trade")
    why = ((traded[0].result or {}).get("performance") or {}).get(f"{objective}_na")  # the Sharpe ratio says why
    return (f"no run of the training window has a {objective}{f' ({why})' if why else ''}: nothing to choose by; "
            "give longer windows (fewer --walk-forward folds) or another --objective")


def walk_forward_windows(first_ms: int, end_ms: int, folds: int, interval_ms: int
                         ) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """`folds` (train, test) pairs over [first_ms, end_ms): K + 1 equal windows on bar boundaries, each fold
    trained on one window and tested on the next one, which its choice never saw."""
    if folds < 1:
        raise ValueError(f"--walk-forward {folds}: give 1 or more folds")
    bars = (end_ms - first_ms) // interval_ms
    per = bars // (folds + 1)
    if per < 2:
        raise ValueError(f"--walk-forward {folds}: {bars} bars are too few for {folds + 1} windows")
    edges = [first_ms + i * per * interval_ms for i in range(folds + 2)]
    edges[-1] = end_ms
    return [((edges[i], edges[i + 1]), (edges[i + 1], edges[i + 2])) for i in range(folds)]
