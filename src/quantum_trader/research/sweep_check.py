"""Which runs of a sweep can run at all, decided on the driver before any task is sent.

Each run is the `backtest --param ...` with the fixed `--param`s and the run's grid values together, so
each combination is checked as that backtest checks it (research/backtest_job.py `prepare`, then
`check_symbols` against the data's symbols: a leverage one of them does not allow). The fixed
parameters are never judged on their own: `--param slow=8` is right beside `--grid fast=5`, though wrong
beside the default fast (10), which refused a valid grid. A combination that is refused is that run's
failure, reported with its parameters, and costs no Ray task; a sweep none of whose runs can run is bad
input (exit 2) before Ray starts.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ..domain.errors import ConfigError
from .backtest_job import BacktestJob, check_symbols, prepare
from .sweep_plan import GridAxis, combinations


def refusal(job: BacktestJob, symbols: Sequence[str]) -> str | None:
    """Why `job` cannot run on the data's `symbols`, as a failed run reports it (`ParamError: --param ...`),
    or None."""
    error = _refused(job, symbols)
    return None if error is None else f"{type(error).__name__}: {error}"


def _refused(job: BacktestJob, symbols: Sequence[str]) -> Exception | None:
    try:
        check_symbols(job, prepare(job).settings, symbols)  # as the run will: parameters, then the data's symbols
    except (ConfigError, ValueError) as exc:
        return exc
    return None


def candidates(axes: Sequence[GridAxis], trials: int | None) -> list[dict[str, str]]:
    """The grid's combinations; for a search (`trials`), the corners of its space: each range's two ends and
    each list's values. Parameters constrain each other linearly (fast below slow), so where every corner is
    refused, so is every point between them."""
    if not trials:
        return combinations(axes)
    names = [axis.name for axis in axes]
    sides = [(axis.low or "", axis.high or "") if axis.is_range else axis.values for axis in axes]
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*sides)]


def none_can_run(base: BacktestJob, axes: Sequence[GridAxis], trials: int | None,
                 symbols: Sequence[str]) -> str | None:
    """The one line to exit 2 with when no run of the sweep can run on the data's `symbols`, or None when some
    can (or none is planned). The same refusal for every run is that refusal; different ones name the first."""
    combos = candidates(axes, trials)
    errors: list[Exception] = []
    for combo in combos:
        error = _refused(base.with_grid(combo), symbols)
        if error is None:
            return None
        errors.append(error)
    if not errors:
        return None
    if len({str(e) for e in errors}) == 1:
        return str(errors[0])
    what = "corners of the search space" if trials else "combinations of --grid"
    what += " with the fixed --param values" if base.params else ""
    return f"sweep: none of the {len(combos)} {what} can run; the first: {errors[0]}"
