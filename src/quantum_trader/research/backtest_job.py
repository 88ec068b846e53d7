"""One backtest as a value: what `backtest` runs, and what each task of a `sweep` runs, the same function.

A sweep is only trustworthy if each of its runs is exactly the backtest a user would run by hand with
those parameters, so both go through `prepare` (parameters → settings, strategy, risk rules, with the
same refusals) and `run_job` (the engine over the chosen bars). A sweep passes the bars it read once;
`backtest` lets `run_job` read them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..domain.errors import ConfigError
from ..domain.kline_source import kline_paths
from ..marketdata.bars import BarChunk, kline_symbol
from ..marketdata.companions import companions_of
from ..marketdata.selection import Selection, read_selection, select
from ..readmodels.refusals import tally_of
from ..runtime.wiring import JournalLike, TradingRules, rules_from
from ..settings.model import Settings, load_settings
from ..signals.params import GRID, PARAM, ParamError, Params, parse_params
from ..signals.registry import build_strategy, refuse_no_effect, strategy_params
from ..signals.strategy import Strategy
from ..sim.universe import load_universe
from .backtest import BacktestResult, Progress, run_backtest
from .run_spec import describe_run

#: Result fields that measure the machine, not the strategy: left out when runs are compared.
TIMING_FIELDS = frozenset({"seconds", "bars_per_s"})


@dataclass(frozen=True)
class BacktestJob:
    """A backtest: the data, the strategy and its `NAME=VALUE` parameters (as typed), the bars chosen.

    `origins`: the option a parameter was given with where it was not `--param` (a sweep's `--grid` values),
    so every line about a value names what the user typed to set it."""

    data: Path
    strategy: str = "sma-cross"
    params: Mapping[str, str] = field(default_factory=dict)
    selection: Selection = field(default_factory=Selection)
    balance: Decimal = Decimal(10_000)
    origins: Mapping[str, str] = field(default_factory=dict)

    def with_params(self, params: Mapping[str, object], origin: str = PARAM) -> BacktestJob:
        """These parameters on top; those the job did not hold yet were given with `origin`."""
        added = {k: origin for k in params if k not in self.params}
        return replace(self, params={**self.params, **{k: str(v) for k, v in params.items()}},
                       origins={**self.origins, **added})

    def with_grid(self, params: Mapping[str, object]) -> BacktestJob:
        """A sweep's run: the fixed `--param`s and these values of its `--grid` axes."""
        return self.with_params(params, GRID)

    def option_of(self, name: str) -> str:
        """`--param` or `--grid`: how parameter `name` was given."""
        return self.origins.get(name, PARAM)


@dataclass(frozen=True)
class Prepared:
    settings: Settings
    strategy: Strategy
    rules: TradingRules
    params: Params


def prepare(job: BacktestJob) -> Prepared:
    """Parameters checked and applied; ParamError (or ValueError) with one line naming what is wrong, and
    StrategyUnusable for a strategy that could not emit a signal (the AI scanner without a model it may run:
    that backtest was 0 trades and exit 0)."""
    params = parse_params(job.strategy, strategy_params(job.strategy), job.params, job.origins)
    refuse_no_effect(job.strategy, job.params, job.origins)
    # The risk values as typed (`--param ...=150`), not as parsed: a refusal by the settings echoed `150.0`.
    overrides: dict[str, object] = {"strategy": job.strategy, **{k: str(job.params[k]).strip() for k in params.risk}}
    names = {k: f"{job.option_of(k)} {k}" for k in params.risk}  # a value from QT_* is named as its variable
    try:
        settings = load_settings(overrides, names=names)
    except ConfigError as exc:  # a value the settings refuse, named as it was given
        raise ParamError(str(exc)) from None
    plugin = build_strategy(job.strategy, settings, params.strategy, strict=True,  # a silent scanner is refused
                            origins=job.origins)
    return Prepared(settings, plugin, replace(rules_from(settings), setting_names=names), params)


def check_symbols(job: BacktestJob, settings: Settings, symbols: Sequence[str]) -> None:
    """ParamError when a symbol the job trades cannot take its settings: a leverage above the symbol's
    largest (its first leverage bracket's, domain/instrument.py `max_leverage`) is refused by the exchange
    (-4028) at every entry, which made a run of 0 trades, a traceback per signal, and exit 0."""
    universe = load_universe()
    limits = sorted((universe.instrument(s).max_leverage, s) for s in symbols if s in universe)
    low = [(most, symbol) for most, symbol in limits if most < settings.leverage]
    if not low:
        return
    given = (f"{job.option_of('leverage')} leverage={job.params['leverage']}" if "leverage" in job.params
             else f"QT_LEVERAGE={settings.leverage}")
    shown = ", ".join(f"{symbol} {most}x" for most, symbol in low[:5]) + (", ..." if len(low) > 5 else "")
    raise ParamError(f"{given}: above the largest leverage the data's symbols allow ({shown}); "
                     f"give {low[0][0]} or less")


def open_bars(job: BacktestJob, ready: Prepared, bars: Iterable[BarChunk] | None = None) -> Iterator[BarChunk]:
    """The job's bars (read, or cut from `bars`), the first chunk read now so that its symbols are checked
    (`check_symbols`) before the caller opens a journal or starts the engine. The reader is closed if the
    check refuses, and when the returned stream is closed."""
    if bars is None:
        universe = load_universe()
        refuse_files_of_no_symbol(job, frozenset(universe.symbols))  # names only: no instrument is built
    chunks = read_selection(job.data, job.selection) if bars is None else select(bars, job.selection)
    try:
        first = next(chunks, None)
        if first is not None:
            check_symbols(job, ready.settings, first.symbols)
    except BaseException:
        _close(chunks)
        raise
    return _resumed(first, chunks)


def _resumed(first: BarChunk | None, rest: Iterator[BarChunk]) -> Iterator[BarChunk]:
    try:
        if first is not None:
            yield first
            yield from rest
    finally:  # a run stopped half way (a hole, an error) closes the files now, not at exit
        _close(rest)


def _close(chunks: Iterator[BarChunk]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


def run_job(job: BacktestJob, bars: Iterable[BarChunk] | None = None, *, ready: Prepared | None = None,
            opened: Iterator[BarChunk] | None = None, journal: JournalLike | None = None,
            progress: Progress | None = None, keep_prices: bool = False) -> BacktestResult:
    """The backtest `job` describes. `bars`: already read (a sweep's shared copy), cut here to the job's
    selection; `opened`: `open_bars`'s stream, already cut and checked (the command opens the data before its
    journal); neither: read here. `ready`: `prepare(job)` if the caller has it (a model is then loaded once)."""
    ready = prepare(job) if ready is None else ready
    instruments = load_universe().instruments()
    chunks = open_bars(job, ready, bars) if opened is None else opened
    result = asyncio.run(run_backtest(chunks, instruments, ready.strategy, ready.rules, balance=job.balance,
                                      journal=journal, progress=progress, companions=companions_of(job.data),
                                      keep_prices=keep_prices))
    curve = result.equity_curve
    result.run = describe_run(job, ready, list(result.ticks), (curve[0][0], curve[-1][0]) if curve else None)
    result.tally = tally_of(ready.strategy)
    return result


def refuse_files_of_no_symbol(job: BacktestJob, known: AbstractSet[str]) -> None:
    """ValueError naming a file of the run whose symbol the universe lacks, before anything is read: the
    symbol is the first part of a kline file's name, and `data.csv` holds a symbol 'data'."""
    wanted = job.selection.symbols
    for path in kline_paths(job.data):
        symbol = kline_symbol(path)
        if symbol not in known and (wanted is None or symbol in wanted):
            raise ValueError(f"{path}: no instrument {symbol!r} in the universe: a kline file's symbol is the first "
                             "part of its name, as in BTCUSDT-1m-2024-01.csv; name the file after its symbol, or "
                             "leave it out of --data")


def comparable(document: Mapping[str, Any]) -> dict[str, Any]:
    """A result document without its timing fields: equal for equal runs on any machine."""
    return {k: v for k, v in document.items() if k not in TIMING_FIELDS}
