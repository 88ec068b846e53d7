"""`quantum-trader download --symbols LIST|N --start DATE [--end DATE] [--interval 1m] [--out DIR]
[--exchange URL] [--json]`: klines, mark-price klines and funding rates into files (CONTRACT §3).

Public endpoints only (no key), through the ccxt adapter and its request budget; the layout and the
resume rules are in download/downloader.py. A progress bar on a terminal only; `--json` prints one summary.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..core.logging import configure_logging
from ..domain.errors import ConfigError, ExchangeError
from ..download.downloader import (
    DEFAULT_OUT,
    DOWNLOAD_SHARE_PCT,
    Downloader,
    DownloadReport,
    DownloadStopped,
    NothingAnswers,
    days,
    months,
    parse_day,
)
from ..download.gaps import no_data_line
from ..exchange.budget import WeightBudget
from ..exchange.factory import check_url, nobody_answers
from .checks import OptionError, check_output_folder, check_symbol_count
from .main import app

Opt = typer.Option
BINANCE_URL = "https://fapi.binance.com"
EXCHANGE_OPTION = "--exchange"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@app.command("download")
def download(
    symbols: Annotated[str, Opt("--symbols", help="comma list (BTCUSDT,ETHUSDT) or N: the top N by 24 h volume")],
    start: Annotated[str, Opt("--start", help="first UTC day, YYYY-MM-DD")],
    end: Annotated[str | None, Opt("--end", help="last UTC day (default: yesterday)")] = None,
    interval: Annotated[str, Opt("--interval", help="kline interval that divides a day")] = "1m",
    out: Annotated[Path, Opt("--out", help="folder for the files (klines; markPriceKlines/ and fundingRate/)")]
    = DEFAULT_OUT,
    exchange: Annotated[str, Opt("--exchange", help="Binance USDⓈ-M compatible base URL")] = BINANCE_URL,
    json_output: Annotated[bool, Opt("--json", help="one JSON summary on stdout, nothing else")] = False,
) -> None:
    """Download historical klines, mark-price klines and funding rates; a re-run fetches only what is missing."""
    configure_logging(json=False, level="WARNING")
    try:
        url = check_url(exchange, EXCHANGE_OPTION)
        check_symbol_count(symbols)
        first = parse_day(start, "--start")
        last = parse_day(end, "--end") if end else dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        days(first, last)
        check_output_folder("--out", out)  # before the exchange is asked anything
    except (ConfigError, OptionError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    show = not json_output and sys.stderr.isatty()
    if not json_output:  # `--json` names it in the document (`exchange`)
        typer.echo(source_line(url), err=True)
    try:
        report, budget = asyncio.run(_download(url, symbols, first, last, interval, out, show))
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except NothingAnswers as exc:  # at the first request: a wrong address, not an outage to wait out
        typer.echo(f"error: {nobody_answers(url, str(exc), EXCHANGE_OPTION)}", err=True)
        raise typer.Exit(1) from None
    except (DownloadStopped, ExchangeError, OSError) as exc:
        typer.echo(f"error: {exc}{_unreachable_hint(exc, url)}", err=True)
        raise typer.Exit(1) from None
    document = {**report.to_json(budget), "exchange": url}
    if json_output:
        sys.stdout.write(json.dumps(document) + "\n")
        return
    for line in summary_lines(report, document, budget, out):
        typer.echo(line)


def source_line(url: str) -> str:
    """Where the download reads, said before the first request: a user who left out `--exchange` in a
    sim-server walkthrough reached Binance over the internet without a word about it."""
    if url == BINANCE_URL:
        return (f"download: from {url} (Binance's public API, no key); for a sim-server give "
                "--exchange http://127.0.0.1:PORT")
    return f"download: from {url}"


def summary_lines(report: DownloadReport, document: dict[str, Any], budget: WeightBudget, out: Path) -> list[str]:
    """The text summary: the counts, then which days had no data and why (the counts alone, "16 without data",
    left a user guessing), the days written with part of their bars, and the days not over yet (on the server's
    market clock: its latest bar, not its serverTime)."""
    lines = [f"{len(report.symbols)} symbols, {report.start}..{report.end}: {document['files_written']} files "
             f"written ({report.rows:,} rows), {report.kept} already there, {len(report.empty)} without data; "
             f"{budget.sent} requests, peak weight {budget.peak_used}/{budget.limit} → {out}"]
    lines += [no_data_line(entry) for entry in report.no_data]
    if report.partial:
        named = ", ".join(f"{p['file']} ({p['bars']} of {p['of']} bars)" for p in report.partial[:4])
        lines.append(f"{len(report.partial)} day files hold part of their day, all the server has of it: {named}"
                     + (", ..." if len(report.partial) > 4 else ""))
    if report.not_over:
        named = ", ".join(report.not_over[:4]) + (", ..." if len(report.not_over) > 4 else "")
        lines.append(f"{len(report.not_over)} day files not written: the day is not over on the server's clock "
                     f"(it has no bar after it yet); the next run fetches them ({named})")
    if report.partial_kept:
        named = ", ".join(report.partial_kept[:4]) + (", ..." if len(report.partial_kept) > 4 else "")
        lines.append(f"{len(report.partial_kept)} day files from an earlier run hold part of a day that is not over "
                     f"on the server's clock; kept, the next run completes them ({named})")
    return lines


async def _download(url: str, spec: str, first: dt.date, last: dt.date, interval: str, out: Path,
                    show: bool) -> tuple[DownloadReport, WeightBudget]:
    from ..exchange.ccxt_adapter import CcxtExchange  # ccxt takes ~1 s to import: only here

    budget = WeightBudget(share_pct=DOWNLOAD_SHARE_PCT)
    # ccxt's own pacing only against a real venue: a loopback simulator enforces the weights itself.
    adapter = CcxtExchange(url, api_key="", api_secret="", throttle=urlsplit(url).hostname not in LOOPBACK,
                           budget=budget, events_via="poll")
    try:
        downloader = Downloader(adapter, out, interval)
        names = await downloader.resolve_symbols(spec)
        if not show:
            return await downloader.run(names, first, last), budget
        total = len(names) * (2 * len(days(first, last)) + len(months(first, last)))
        with Progress(TextColumn("[bold]download[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("", total=total)
            downloader.progress = _advance(progress, task)
            return await downloader.run(names, first, last), budget
    finally:
        await adapter.close()


def _advance(progress: Progress, task: Any) -> Any:
    def tick(name: str) -> None:
        progress.update(task, advance=1, description=name)

    return tick


def _unreachable_hint(exc: Exception, url: str) -> str:
    """What to check when nothing answered at all (a user trial got only ccxt's `ExchangeNotAvailable`)."""
    if isinstance(exc, ExchangeError) and exc.msg.startswith("network: "):
        return (f"; nothing answered at --exchange {url}: is `quantum-trader sim-server` (or the exchange) running "
                "there, and is the URL right?")
    return ""
