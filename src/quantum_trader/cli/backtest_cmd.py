"""`quantum-trader backtest --data PATH [--strategy NAME] [--json] [--report FILE.html] [--png DIR]`: the live
engine over history.

The data is Binance public-data klines (a file, or a folder of them); the engine is the very one
`run` uses, on a simulated clock, as fast as it can go. Prints trades, P&L, fees, funding, drawdown,
Sharpe, exposure and the stop audit; `--json` prints the same document and nothing else. `--report` also
writes it as one self-contained HTML page (equity, drawdown, trades on price, stops: reports/), `--png` the
main charts as images.
"""

from __future__ import annotations

import asyncio
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..core.logging import configure_logging
from ..domain.errors import ConfigError
from ..journal.db import migrate
from ..journal.writer import Journal
from ..marketdata.bars import iter_binance_klines
from ..marketdata.companions import Companions, companions_of
from ..runtime.backtest import BacktestResult, run_backtest
from ..runtime.session import rules_from
from ..settings.model import load_settings
from ..signals.registry import STRATEGIES, build_strategy
from ..sim.universe import load_universe
from .main import app

Opt = typer.Option
#: Journal rows written per batch in a backtest (durability is not needed: the run can be repeated).
JOURNAL_BATCH = 5_000


@app.command("backtest")
def backtest(
    data: Annotated[Path, Opt("--data", help="Binance kline file (.csv/.csv.gz/.zip) or a folder of them")],
    strategy: Annotated[str, Opt("--strategy", help=f"one of {', '.join(STRATEGIES)}")] = "sma-cross",
    json_output: Annotated[bool, Opt("--json", help="one JSON document on stdout, nothing else")] = False,
    balance: Annotated[str, Opt("--balance", help="starting USDT wallet")] = "10000",
    db: Annotated[str | None, Opt("--db", help="also journal the run to this URL (batched)")] = None,
    report: Annotated[Path | None, Opt("--report", help="also write a self-contained HTML report here")] = None,
    png: Annotated[Path | None, Opt("--png", help="also write equity.png and slippage.png into this folder")] = None,
) -> None:
    """Run a strategy over historical bars with the same engine as live trading."""
    configure_logging(json=False, level="WARNING")  # stderr only: stdout carries the report
    if not data.exists():
        typer.echo(f"error: --data {data}: no such file or folder (give a Binance kline file or a folder of them)",
                   err=True)
        raise typer.Exit(2)
    try:
        settings = load_settings({"strategy": strategy})
        plugin = build_strategy(strategy, settings)
        chunks = iter_binance_klines(data)
        companions = companions_of(data)  # markPriceKlines/ and fundingRate/ beside the klines, if there
        wallet = Decimal(balance)
    except (ConfigError, ValueError, OSError, ArithmeticError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    universe = load_universe()
    instruments = {s: universe.instrument(s) for s in universe.symbols}
    journal = None
    if db is not None:
        migrate(db)
        journal = Journal(db, batch_size=JOURNAL_BATCH)
        journal.start_session("backtest", json.dumps(settings.public_dict(), sort_keys=True), "backtest")
    show = not json_output and sys.stderr.isatty()
    try:
        result = _run_with_progress(chunks, instruments, plugin, settings, wallet, journal, show, companions,
                                    keep_prices=report is not None)
    except (ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        if journal is not None:
            journal.close()
    document = result.to_json()
    _write_reports(result, report, png, data=data, strategy=strategy)
    if json_output:
        sys.stdout.write(json.dumps(document, default=str) + "\n")
        return
    _print_report(document)


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


def _run_with_progress(chunks: Any, instruments: Any, plugin: Any, settings: Any, wallet: Decimal,
                       journal: Journal | None, show: bool, companions: Companions | None = None, *,
                       keep_prices: bool = False) -> BacktestResult:
    rules = rules_from(settings)
    if not show:
        return asyncio.run(run_backtest(chunks, instruments, plugin, rules, balance=wallet, journal=journal,
                                        companions=companions, keep_prices=keep_prices))
    with Progress(SpinnerColumn(), TextColumn("[bold]backtest[/] {task.completed:,.0f} bars"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("bars", total=None)
        return asyncio.run(run_backtest(chunks, instruments, plugin, rules, balance=wallet, journal=journal,
                                        progress=lambda n: progress.advance(task, n), companions=companions,
                                        keep_prices=keep_prices))


def _print_report(doc: dict[str, Any]) -> None:
    console = Console()
    perf, audit = doc["performance"], doc["stop_audit"]
    table = Table(title="Backtest", show_header=False)
    for key in ("trades", "win_rate_pct", "net_pnl", "gross_pnl", "fees", "funding", "return_pct",
                "max_drawdown_usdt", "max_drawdown_pct", "sharpe", "exposure_pct", "profit_factor"):
        table.add_row(key, str(perf.get(key)))
    table.add_row("bars", f"{doc['symbol_bars']:,} symbol-bars in {doc['seconds']} s ({doc['bars_per_s']:,}/s)")
    console.print(table)
    stops = Table(title="Stop audit", show_header=False)
    for key in ("by_exit_reason", "breaches", "worst_slippage_bps", "mean_slippage_bps", "worst_realised_pct_equity"):
        stops.add_row(key, str(audit.get(key)))
    console.print(stops)
    trades = Table(title="Last trades")
    for col in ("trade_id", "direction", "exit_reason", "entry_price", "exit_price", "slippage_bps", "breach"):
        trades.add_column(col)
    for row in doc["trades"][-15:]:
        trades.add_row(*(str(row.get(c)) for c in ("trade_id", "direction", "exit_reason", "entry_price",
                                                    "exit_price", "slippage_bps", "breach")))
    console.print(trades)
