"""`quantum-trader backtest --data PATH [--strategy NAME] [--param NAME=VALUE ...] [--start] [--end] [--symbols]
[--json] [--report FILE.html] [--png DIR]`: the live engine over history.

The data is Binance public-data klines (a file, a folder of them, or a glob); the engine is the very one
`run` uses, on a simulated clock, as fast as it can go. Prints trades, P&L, fees, funding, drawdown,
Sharpe, exposure and the stop audit; `--json` prints the same document and nothing else. `--report` also
writes it as one self-contained HTML page (equity, drawdown, trades on price, stops: reports/), `--png` the
main charts as images. `--param` sets a strategy parameter or a risk setting (signals/params.py); the very
same job is what each run of a `sweep` executes (research/backtest_job.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..core.heap import no_full_collections
from ..core.logging import configure_logging
from ..domain.errors import ConfigError
from ..domain.kline_source import kline_paths
from ..marketdata.selection import Selection, parse_symbols, parse_time_ms
from ..signals.params import parse_params, split_entry
from ..signals.registry import STRATEGIES, params_help, refuse_no_effect, strategy_params
from .backtest_text import open_at_end, stop_audit_table, trades_table, words
from .checks import check_db_option, check_output_file, check_output_folder, parse_balance
from .main import app

if TYPE_CHECKING:  # the engine is imported when a backtest runs, not to build the command line
    from collections.abc import Iterator

    from ..journal.writer import Journal
    from ..marketdata.bars import BarChunk
    from ..research.backtest import BacktestResult
    from ..research.backtest_job import BacktestJob, Prepared
    from ..runtime.wiring import JournalLike
    from ..settings.model import Settings

Opt = typer.Option
#: Journal rows written per batch in a backtest (durability is not needed: the run can be repeated).
JOURNAL_BATCH = 5_000


@app.command("backtest")
def backtest(
    data: Annotated[Path, Opt("--data", help="Binance kline file (.csv/.csv.gz/.zip), a folder of them, "
                                                "or a glob (quote it)")],
    strategy: Annotated[str, Opt("--strategy", help=f"one of {', '.join(STRATEGIES)}")] = "sma-cross",
    param: Annotated[list[str] | None, Opt("--param", help=f"NAME=VALUE, repeatable: {params_help()}")] = None,
    start: Annotated[str | None, Opt("--start", help="first bar, UTC: YYYY-MM-DD[THH:MM]")] = None,
    end: Annotated[str | None, Opt("--end", help="end (exclusive), UTC: YYYY-MM-DD[THH:MM]")] = None,
    symbols: Annotated[str | None, Opt("--symbols", help="only these symbols of the data: BTCUSDT,ETHUSDT")] = None,
    json_output: Annotated[bool, Opt("--json", help="one JSON document on stdout, nothing else")] = False,
    balance: Annotated[str, Opt("--balance", help="starting USDT wallet")] = "10000",
    db: Annotated[str | None, Opt("--db", help="also journal the run to this URL (batched)")] = None,
    report: Annotated[Path | None, Opt("--report", help="also write a self-contained HTML report here")] = None,
    png: Annotated[Path | None, Opt("--png", help="also write equity.png and slippage.png into this folder")] = None,
) -> None:
    """Run a strategy over historical bars with the same engine as live trading."""
    # One run, then exit: no full collection walks the world for it, during the run (as everywhere) nor after
    # it, while its report is written; the system takes the memory back (core/heap.py).
    with no_full_collections():
        configure_logging(json=False, level="WARNING")  # stderr only: stdout carries the report
        try:
            kline_paths(data)
        except ValueError as exc:
            typer.echo(f"error: --data {exc}", err=True)
            raise typer.Exit(2) from None
        try:
            job = job_from_options(data, strategy, param or [], start, end, symbols, balance)
            _check_outputs(report, png)
            if db is not None:
                check_db_option(db)
            ready, chunks = _opened(job)
        except (ConfigError, ValueError, ArithmeticError, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        journal = None if db is None else _open_journal(db, ready.settings)
        show = not json_output and sys.stderr.isatty()
        try:
            result = _run_with_progress(job, (ready, chunks), journal, show, keep_prices=report is not None)
        except (ValueError, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        finally:
            if journal is not None:
                journal.close()
        document = result.to_json()
        if json_output:
            sys.stdout.write(json.dumps(document, default=str) + "\n")
            sys.stdout.flush()
        else:
            _print_report(document)
        _warn_if_all_refused(document)
        # After the result is out: a write that fails even though the paths were checked loses no run.
        _write_reports(result, report, png, data=data, strategy=strategy)


def job_from_options(data: Path, strategy: str, params: list[str], start: str | None, end: str | None,
                     symbols: str | None, balance: str = "10000") -> BacktestJob:
    """The options `backtest` and `sweep` share, checked; ValueError (ParamError) names the one that is wrong."""
    if strategy not in STRATEGIES:
        raise ValueError(f"--strategy {strategy}: choose one of {', '.join(STRATEGIES)}")
    parse_params(strategy, strategy_params(strategy), params)  # each name and value, one line per problem
    given = dict(split_entry(entry) for entry in params)
    refuse_no_effect(strategy, given)
    selection = Selection(parse_time_ms(start, "--start") if start else None,
                          parse_time_ms(end, "--end") if end else None,
                          parse_symbols(symbols) if symbols else None)
    wallet = parse_balance(balance)
    from ..research.backtest_job import BacktestJob

    return BacktestJob(data, strategy, given, selection, wallet)


def _open_journal(db: str, settings: Settings) -> Journal:
    """The journal `--db` names, migrated, with the backtest's session started; a database that cannot be
    opened is exit 2 naming --db (the password hidden), not a traceback naming QT_DB_URL."""
    from ..journal.db import migrate  # SQLAlchemy and Alembic, only when the run is journaled
    from ..journal.writer import Journal

    try:
        migrate(db, name="--db")
    except ConfigError as exc:
        typer.echo(f"error: {exc} (give a database that can be opened, or leave --db out)", err=True)
        raise typer.Exit(2) from None
    journal = Journal(db, batch_size=JOURNAL_BATCH)
    journal.start_session("backtest", json.dumps(settings.public_dict(), sort_keys=True), "backtest")
    return journal


def _check_outputs(report: Path | None, png: Path | None) -> None:
    """The report's file and the PNGs' folder can be written: checked before the run, not after it."""
    if report is not None:
        check_output_file("--report", report, "backtest.html")
    if png is not None:
        check_output_folder("--png", png)


def _write_reports(result: BacktestResult, report: Path | None, png: Path | None, *, data: Path,
                   strategy: str) -> None:
    """The HTML report and the PNGs, when asked; a path that cannot be written is exit 2, named."""
    from ..reports.write import write_backtest_png, write_backtest_report

    option, target = "--report", report
    try:
        if report is not None:
            write_backtest_report(result, report, data_name=data.name, strategy=strategy)
        option, target = "--png", png
        if png is not None:
            write_backtest_png(result, png)
    except OSError as exc:
        typer.echo(f"error: {option} {target}: {exc}", err=True)
        raise typer.Exit(2) from None


def _opened(job: BacktestJob) -> tuple[Prepared, Iterator[BarChunk]]:
    """Every parameter checked, the strategy built (its model loaded once), and the data opened with its
    symbols checked against the parameters (a leverage they do not allow): all before anything is written."""
    from ..research.backtest_job import open_bars, prepare

    ready = prepare(job)
    return ready, open_bars(job, ready)


def _run_with_progress(job: BacktestJob, opened: tuple[Prepared, Iterator[BarChunk]], journal: JournalLike | None,
                       show: bool, *, keep_prices: bool = False) -> BacktestResult:
    from ..research.backtest_job import run_job

    ready, chunks = opened
    if not show:
        return run_job(job, ready=ready, opened=chunks, journal=journal, keep_prices=keep_prices)
    with Progress(SpinnerColumn(), TextColumn("[bold]backtest[/] {task.completed:,.0f} bars"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("bars", total=None)
        return run_job(job, ready=ready, opened=chunks, journal=journal, progress=lambda n: progress.advance(task, n),
                       keep_prices=keep_prices)


def _warn_if_all_refused(doc: dict[str, Any]) -> None:
    """One line on stderr when risk refused every signal (a leverage at which each position would be liquidated
    before its stop), or when no signal could reach risk (the AI scanner's confidences all below min_confidence:
    `why_no_trade`): such a run's 0 trades and exit 0 said nothing about why."""
    from ..readmodels.refusals import all_refused

    for warning in (all_refused(doc.get("refusals")), doc.get("why_no_trade")):
        if warning is not None:
            typer.echo(f"warning: {warning}", err=True)


def _refusals_table(doc: dict[str, Any]) -> Table:
    """Risk's decisions and its refusals by kind, each with its first refusal in full."""
    refusals = doc.get("refusals") or {}
    table = Table(title=f"Risk: {refusals.get('signals', 0):,} signals decided, {refusals.get('approved', 0):,} "
                        f"approved, {refusals.get('refused', 0):,} refused")
    for column in ("refused because", "count", "the first"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for kind, seen in (refusals.get("by_kind") or {}).items():
        table.add_row(kind, f"{seen['count']:,}", seen["example"])
    return table


def _end_rows(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """How the final equity follows from net_pnl (closed trades only) and what is still open: the equity curve
    and its drawdown include open positions at their mark, net_pnl and return_pct do not."""
    perf, count = doc["performance"], len(doc.get("positions_at_end") or [])
    final = (f"{doc['final_equity']} ({doc['final_return_pct']} %) = start_equity {perf['start_equity']} + net_pnl "
             f"{perf['net_pnl']} (closed trades) + open_pnl_at_end {doc['open_pnl_at_end']}")
    if not count:
        return [("final_equity", final), ("unrealised_at_end", f"{doc['unrealised_at_end']} (nothing open at the end)")]
    still = f"{count} position{'' if count == 1 else 's'} still open, at the last mark"
    return [("final_equity", final),
            ("unrealised_at_end", f"{doc['unrealised_at_end']} ({still}; open_pnl_at_end = unrealised - fees so far "
                                  "+ funding so far)")]


def _print_report(doc: dict[str, Any]) -> None:
    from ..research.run_spec import run_line
    from ..trading.performance import sharpe_text

    console = Console()
    perf, audit = doc["performance"], doc["stop_audit"]
    if doc.get("run"):
        console.print("run: " + run_line(doc["run"]), markup=False, highlight=False, soft_wrap=True)
    table = Table(title="Backtest", show_header=False)
    for key in ("trades", "win_rate_pct", "net_pnl", "gross_pnl", "fees", "funding", "return_pct",
                "max_drawdown_usdt", "max_drawdown_pct", "sharpe", "exposure_pct", "profit_factor"):
        table.add_row(key, sharpe_text(perf) if key == "sharpe" else words(perf.get(key)))
    for key, value in _end_rows(doc):
        table.add_row(key, value)
    table.add_row("bars", f"{doc['symbol_bars']:,} symbol-bars in {doc['seconds']} s ({doc['bars_per_s']:,}/s)")
    console.print(table)
    if doc.get("positions_at_end"):
        console.print(open_at_end(doc["positions_at_end"], console))
    console.print(_refusals_table(doc))
    console.print(stop_audit_table(audit))
    console.print(trades_table(doc["trades"]))
