"""`quantum-trader sweep --data PATH --strategy NAME --grid NAME=V1,V2,... [--grid ...] [--trials N]
[--objective METRIC] [--address RAY_ADDRESS] [--walk-forward K] [--json]`: many backtests on Ray.

Every run is the `backtest` a user would type with those `--param`s (research/backtest_job.py), run as a
Ray task (research/sweep.py); the table ranks them by the objective. With `--walk-forward K` the data is
cut into K + 1 windows, each fold chooses on one window and is judged on the next: the out-of-sample
line is the figure to believe, the ranked table is not a forecast.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..core.logging import configure_logging
from ..domain.errors import ConfigError
from ..domain.kline_source import kline_paths
from ..research.sweep_plan import DEFAULT_OBJECTIVE, OBJECTIVES, GridAxis, combinations, parse_axis
from ..signals.params import GRID, specs_by_name
from ..signals.registry import STRATEGIES, params_help, refuse_no_effect, strategy_params
from .backtest_cmd import job_from_options
from .checks import parse_whole
from .main import app

if TYPE_CHECKING:  # the engine and the sweep are imported when a sweep runs, not to build the command line
    from ..research.sweep import RayPool, SweepOutcome

Opt = typer.Option
SHOWN = 20  # rows of the ranked table on a terminal (--json has them all)
#: The largest seed Optuna's sampler takes (numpy's RandomState: 0 to 2**32 - 1).
MAX_SEED = 2**32 - 1


@app.command("sweep")
def sweep_command(
    data: Annotated[Path, Opt("--data", help="Binance kline file, a folder of them, or a glob (quote it)")],
    grid: Annotated[list[str], Opt("--grid", help="NAME=V1,V2,... repeatable (with --trials also NAME=LOW..HIGH): "
                                   f"{params_help()}")],
    strategy: Annotated[str, Opt("--strategy", help=f"one of {', '.join(STRATEGIES)}")] = "sma-cross",
    param: Annotated[list[str] | None, Opt("--param", help="NAME=VALUE held fixed in every run")] = None,
    trials: Annotated[str | None, Opt("--trials", metavar="N", help="an Optuna search of N runs instead of the grid",
                                      show_default=False)] = None,
    objective: Annotated[str, Opt("--objective", help=f"one of {', '.join(OBJECTIVES)}")] = DEFAULT_OBJECTIVE,
    address: Annotated[str | None, Opt("--address", help="a Ray cluster (ray://host:10001 or host:6379)")] = None,
    walk_forward: Annotated[str | None, Opt("--walk-forward", metavar="K", show_default=False,
                                            help="K folds (1 or more): choose on one window, judge on the next")
                            ] = None,
    start: Annotated[str | None, Opt("--start", help="first bar, UTC: YYYY-MM-DD[THH:MM]")] = None,
    end: Annotated[str | None, Opt("--end", help="end (exclusive), UTC")] = None,
    symbols: Annotated[str | None, Opt("--symbols", help="only these symbols of the data")] = None,
    seed: Annotated[str, Opt("--seed", metavar="N", help=f"the search's seed (--trials), 0 to {MAX_SEED}")] = "7",
    balance: Annotated[str, Opt("--balance", help="starting USDT wallet of every run")] = "10000",
    json_output: Annotated[bool, Opt("--json", help="one JSON document on stdout, nothing else")] = False,
) -> None:
    """Run a backtest for every combination of the grid (or N trials of a search) as Ray tasks, ranked."""
    configure_logging(json=False, level="WARNING")
    try:
        runs, folds, seed_value = _numbers(trials, walk_forward, seed)
        base, axes = _checked(data, strategy, grid, param or [], objective, runs, folds,
                              (start, end, symbols, balance))
        bars = _read_and_check(base, axes, runs)
    except (ConfigError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    total = runs or len(combinations(axes)) * (folds or 1) + (folds or 0)
    pool = _start_ray(address)
    try:
        outcome = _run(base, axes, pool, (objective, runs, folds, seed_value), bars, total,
                       show=not json_output and sys.stderr.isatty())
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        pool.close()
    if json_output:
        sys.stdout.write(json.dumps(outcome.to_json(), default=str) + "\n")
        return
    _print(outcome)


def _numbers(trials: str | None, walk_forward: str | None, seed: str) -> tuple[int | None, int | None, int]:
    """--trials, --walk-forward and --seed as numbers, each refusal one `error:` line naming the option (as
    typer's `int` options they were a boxed usage error, and a negative seed failed in Optuna after Ray
    started, without naming --seed)."""
    runs = None if trials is None else parse_whole(trials, "--trials", unit="runs", example=40)
    folds = None if walk_forward is None else parse_whole(walk_forward, "--walk-forward", unit="folds", example=3)
    return runs, folds, parse_whole(seed, "--seed", low=0, high=MAX_SEED, example=7)


def _checked(data: Path, strategy: str, grid: list[str], params: list[str], objective: str, trials: int | None,
             walk_forward: int | None, shared: tuple[str | None, str | None, str | None, str],
             ) -> tuple[Any, list[GridAxis]]:
    """Every option checked before Ray starts: a typo costs a line, not a cluster's start-up. `shared`: the
    options `backtest` takes too (--start, --end, --symbols, --balance)."""
    try:
        kline_paths(data)
    except ValueError as exc:
        raise ValueError(f"--data {exc}") from None
    if objective not in OBJECTIVES:
        raise ValueError(f"--objective {objective}: choose one of {', '.join(OBJECTIVES)}")
    if trials and walk_forward:
        raise ValueError("--walk-forward runs the grid in each fold; give --grid values without --trials")
    base = job_from_options(data, strategy, params, *shared)
    specs = specs_by_name(strategy_params(strategy))
    axes = [parse_axis(entry, specs, ranges_allowed=bool(trials)) for entry in grid]
    for entry, axis in zip(grid, axes, strict=True):  # before the data is read, as every run would refuse it
        refuse_no_effect(strategy, {axis.name: entry.partition("=")[2].strip()}, {axis.name: GRID})
    fixed = set(base.params) & {axis.name for axis in axes}
    if fixed:
        raise ValueError(f"--param and --grid both set {', '.join(sorted(fixed))}; give it in one of them")
    combinations(axes)  # a name given twice is refused here
    return base, axes


def _read_and_check(base: Any, axes: list[GridAxis], trials: int | None) -> list[Any]:
    """The bars, read once before Ray starts (data every run would refuse, a hole, is exit 2 here), and the
    runs checked on them: each run's whole set, the fixed --params with its grid values, on the data's
    symbols; exit 2 when none can run."""
    from ..research.sweep import read_bars
    from ..research.sweep_check import none_can_run

    bars = read_bars(base)
    refusal = none_can_run(base, axes, trials, bars[0].symbols)
    if refusal is not None:
        raise ValueError(refusal)
    return bars


def _start_ray(address: str | None) -> RayPool:
    """A local Ray or the cluster at `address`; one line naming the option and exit 2 if it cannot be had."""
    from ..research.sweep import RayPool

    try:
        return RayPool(address)
    except Exception as exc:  # Ray's own errors carry pages of traceback: one line naming the option is enough
        where = f"--address {address}" if address else "a local Ray"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        typer.echo(f"error: {where}: could not start or reach Ray ({type(exc).__name__}: {first})", err=True)
        raise typer.Exit(2) from None


def _run(base: Any, axes: list[GridAxis], pool: RayPool, how: tuple[str, int | None, int | None, int],
         bars: list[Any], total: int, *, show: bool) -> SweepOutcome:
    """The sweep; `how`: objective, trials, walk-forward folds and seed."""
    from ..research.sweep import sweep

    objective, trials, walk_forward, seed = how
    if not show:
        return sweep(base, axes, pool, objective=objective, trials=trials, walk_forward=walk_forward, seed=seed,
                     bars=bars)
    columns = (TextColumn("[bold]sweep[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("runs", total=total)
        return sweep(base, axes, pool, objective=objective, trials=trials, walk_forward=walk_forward, seed=seed,
                     on_done=lambda _run: progress.advance(task), bars=bars)


def _print(outcome: SweepOutcome) -> None:
    doc = outcome.to_json()
    console = Console()
    engine = doc["engine"]
    console.print(f"engine: ray {engine['version']} at {engine['address']} ({engine['cpus']} CPUs); "
                  f"objective {doc['objective']} ({'higher' if doc['higher_is_better'] else 'lower'} is better)")
    fixed = doc["fixed_params_text"]  # as given, like the table's values
    if fixed:
        console.print("fixed in every run: " + " ".join(f"--param {k}={v}" for k, v in fixed.items()))
    training = [r for r in doc["runs"] if r.get("stage") != "test"]
    for fold in sorted({r.get("fold") for r in training}, key=lambda f: -1 if f is None else f):
        runs = [r for r in training if r.get("fold") == fold]
        title = f"{_count(len(runs), 'run')}, {sum(1 for r in runs if r['error'])} failed"
        console.print(_table(runs, doc["objective"], title if fold is None else f"fold {fold}, training: {title}",
                             fixed))
        for line in [*_all_refused(runs[:SHOWN], fixed), *_not_available(runs, doc["objective"]),
                     *_no_trades(runs)]:
            console.print(line, markup=False, highlight=False)
    refused = doc.get("refused_proposals")
    if refused and refused["count"]:
        first = refused["first"]
        given = " ".join(f"{k}={v}" for k, v in first["params"].items() if k not in fixed)
        console.print(f"{_count(refused['count'], 'proposal')} of the search a backtest would refuse, not run and "
                      f"not counted as trials; the first: {given}: {first['error']}", markup=False, highlight=False)
    if "walk_forward" in doc:
        console.print(_folds(doc["walk_forward"]))
        oos = doc["out_of_sample"]
        total = "–" if oos["net_pnl_total"] is None else f"{oos['net_pnl_total']:,.2f}"
        console.print(f"[bold]out of sample[/] (the figure to believe): mean {doc['objective']} "
                      f"{_figure(oos['mean'])}, total net P&L {total} USDT over {oos['folds']} test windows "
                      "(--json: every digit)")


def _table(runs: list[dict[str, Any]], objective: str, title: str, fixed: dict[str, str]) -> Table:
    names = [name for name in runs[0]["params_text"] if name not in fixed] if runs else []  # what varies
    shown = runs[:SHOWN]
    table = Table(title=title + ("" if len(runs) <= SHOWN else f" (best {SHOWN} shown; --json has all)"))
    extra = [k for k in ("trades", "net_pnl", "max_drawdown_pct") if k != objective]
    for column in ("rank", *names, objective, *(EXTRA_LABELS[k] for k in extra), "seconds"):
        table.add_column(column, justify="right")
    for rank, run in enumerate(shown, 1):
        perf = (run["result"] or {}).get("performance") or {}
        value = run["error"] or _figure(run["objective"])
        if run.get("no_trades"):
            value += " (no trades)"
        given = (run["params_text"][n] for n in names)
        table.add_row(str(rank), *given, value, *(_performance_cell(perf.get(k)) for k in extra),
                      "–" if run["seconds"] is None else str(run["seconds"]))
    return table


def _all_refused(runs: list[dict[str, Any]], fixed: dict[str, str]) -> list[str]:
    """A line per run in which risk refused every signal, or no signal could reach risk (`why_no_trade`: the AI
    scanner's confidences all below min_confidence), saying why: such a run ranks as "0 trades", not as failed
    (`sweep --grid leverage=50,75` on LINKUSDT: every position would be liquidated before its stop)."""
    from ..readmodels.refusals import all_refused

    lines = []
    for run in runs:
        result = run["result"] or {}
        for warning in (all_refused(result.get("refusals")), result.get("why_no_trade")):
            if warning is not None:
                given = " ".join(f"{k}={v}" for k, v in run["params_text"].items() if k not in fixed)
                lines.append(f"{given}: {warning}")
    return lines


def _count(n: int, noun: str) -> str:
    """`1 run`, `2 runs`."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _not_available(runs: list[dict[str, Any]], objective: str) -> list[str]:
    """One line when runs that traded have no value of the objective (ranked after those that have it, shown as
    "–"), with the first one's reason where the result gives it (a Sharpe ratio on too few days: `sharpe_na`);
    runs that made no trade have their own line (`_no_trades`)."""
    lacking = [r for r in runs if not r["error"] and r["objective"] is None and not r.get("no_trades")]
    if not lacking:
        return []
    why = ((lacking[0]["result"] or {}).get("performance") or {}).get(f"{objective}_na")
    return [f"{objective} n/a in {_count(len(lacking), 'run')}, ranked last{f': {why}' if why else ''}"]


def _no_trades(runs: list[dict[str, Any]]) -> list[str]:
    """One line when runs made no trade: they rank after every run that traded, whatever their figure (a
    drawdown of 0 ranked such a run first under max_drawdown_pct)."""
    idle = sum(1 for r in runs if r.get("no_trades"))
    if not idle:
        return []
    return [f"{_count(idle, 'run')} made no trade: ranked after every run that traded, whatever the objective"]


#: Significant digits of a figure in the tables; at most this many decimals for a tiny one.
FIGURE_DIGITS, FIGURE_MAX_DECIMALS = 6, 10


#: The headers of the figures shown beside the objective: words a narrow terminal can wrap (`max_drawdown_pct`
#: was cut to `max_drawdo…` at 80 columns). The objective's column keeps the name `--objective` takes.
EXTRA_LABELS = {"trades": "trades", "net_pnl": "net P&L USDT", "max_drawdown_pct": "max drawdown %"}


def _performance_cell(value: object) -> str:
    """A run's trades, net P&L or drawdown (the result's exact text) as the table shows figures."""
    if value is None:
        return "–"
    try:
        return str(value) if isinstance(value, int) else _figure(float(str(value)))
    except ValueError:
        return str(value)


def _figure(value: float | None) -> str:
    """An objective's value as the tables show it: six significant digits (`-630.633`, not `-630.63302415` cut
    to `-630.633024…` by an 80-column terminal), thousands grouped and never an exponent (a net P&L of
    1,234,568 read `1.23457e+06`), "–" for none. --json keeps every digit."""
    if value is None:
        return "–"
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, FIGURE_DIGITS - 1 - math.floor(math.log10(abs(value))))
    if decimals > FIGURE_MAX_DECIMALS:
        return f"{value:g}"  # a tiny figure keeps its exponent rather than a row of zeros
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _folds(folds: list[dict[str, Any]]) -> Table:
    """The folds' windows (the year in the title when all are in one, else in each date), choice and figures."""
    years = {_utc(ms).year for f in folds for ms in (*f["train"], *f["test"])}
    one_year = len(years) == 1
    utc = f"UTC, {years.pop()}" if one_year else "UTC"
    table = Table(title=f"walk-forward ({utc}): chosen on the training window, judged on the next")
    for column in ("fold", "train", "test", "chosen", "in sample", "out of sample"):
        table.add_column(column, justify="right")
    for f in folds:
        judged = f["error"] or _figure(f["out_of_sample"]) + (" (no trades)" if f.get("out_of_sample_no_trades")
                                                               else "")
        table.add_row(str(f["fold"]), _span(f["train"], one_year), _span(f["test"], one_year),
                      " ".join(f"{k}={v}" for k, v in f["chosen_text"].items()), _figure(f["in_sample"]), judged)
    return table


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _span(window: list[int], one_year: bool) -> str:
    """`02-01 00:00 → 02-10 08:00`, with the year in each date when the folds span more than one
    (`2023-12-28 00:00 → 2024-01-06 08:00`: without it a window read as running backwards)."""
    shape = "%m-%d %H:%M" if one_year else "%Y-%m-%d %H:%M"
    start, end = (_utc(ms).strftime(shape) for ms in window)
    return f"{start} → {end}"
