"""`quantum-trader positions [--api URL | --exchange URL] [--json]`: open positions and their protection.

Two sources, one document: `--api` asks a running bot (`GET /api/v1/positions`), `--exchange` reads
the exchange directly and builds the same `trading.protection_view` locally, which is what to use
when the bot is down and you need to know whether anything is naked. Exit code 4 when any position
has no working stop-loss, so scripts and cron jobs can alert on it without parsing. `--exchange` also
reads the account's position mode: in Hedge Mode, which the bot does not trade, a warning goes to stderr
before the reading (the exit code is the reading's).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from ..domain.errors import ConfigError, QuantumTraderError
from ..trading.protection_view import ProtectionView, build_view
from .apiclient import ApiError, default_api_url, get_json, is_bot_api
from .main import app

EXIT_UNPROTECTED = 4
STATUS_STYLE = {"PROTECTED": "green", "NO_TAKE_PROFIT": "yellow", "UNPROTECTED": "bold red"}
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
EXCHANGE_OPTION = "--exchange"

ApiOption = Annotated[str | None, typer.Option("--api", help="Base URL of a running bot's API "
                                               "(default http://$QT_API_HOST:$QT_API_PORT).", show_default=False)]
ExchangeOption = Annotated[str | None, typer.Option("--exchange", help="Read the exchange directly at this base URL "
                                                    "(keys from QT_API_KEY/QT_API_SECRET).", show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout, nothing else.")]


@dataclass(frozen=True, slots=True)
class Source:
    """Where to read from: exactly one of a bot API URL or an exchange URL."""

    api: str | None
    exchange: str | None

    @classmethod
    def of(cls, api: str | None, exchange: str | None) -> Source:
        if api and exchange:  # one line and exit 2, as every other bad option (cli/checks.py)
            typer.echo("error: --api and --exchange: give one, not both (--api asks a running bot, --exchange reads "
                       "the exchange itself, for when the bot is down)", err=True)
            raise typer.Exit(2)
        return cls(None, exchange) if exchange else cls(api or default_api_url(), None)


def fail(message: str) -> typer.Exit:
    """One clear line on stderr and exit code 1 (the caller raises the returned Exit)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


async def read_exchange_view(url: str) -> ProtectionView:
    """Positions, classic + algo open orders and the account, straight from the exchange.

    Read at protection priority (`urgent`): the request budget paces a running bot's routine reads over the
    minute, which refused a user's third or fourth `orders --exchange` early in a minute (-1003 "request
    budget", about 90 weight each); a one-shot read the user waits for is not reconciliation, and still
    stops short of Binance's limit."""
    paper = os.environ.get("QT_PAPER_TRADING", "true").strip().lower() in TRUE_WORDS
    from ..exchange.budget import urgent  # with the adapter, only when the exchange is read directly
    from ..exchange.factory import connect

    with urgent():
        exchange = await connect(url, paper=paper, api_key=os.environ.get("QT_API_KEY") or None,
                                 api_secret=os.environ.get("QT_API_SECRET") or None, setting=EXCHANGE_OPTION)
        try:
            positions, orders, account, hedge = await asyncio.gather(
                exchange.positions(), exchange.open_orders(), exchange.account(), exchange.hedge_mode())
        finally:
            await exchange.close()
    if hedge:
        typer.echo(hedge_mode_warning(url), err=True)
    return build_view(positions, orders, account)


def hedge_mode_warning(url: str) -> str:
    """Printed on stderr (so `--json` stays one document) before a reading of an account in Hedge Mode: the
    reading is One-way Mode's (one position per symbol, stops of no position side), and the bot refuses to start
    there (runtime/startup.py `refuse_hedge_mode`), so nothing it would place protects these positions."""
    return (f"warning: the account at {url} is in Hedge Mode (dualSidePosition=true): Quantum Trader trades One-way "
            "Mode only and reads this account as One-way (a symbol held both LONG and SHORT shows only one of the "
            "two); the bot refuses to start on it and can neither place stops nor close positions there. "
            "Switch it to One-way (Binance: Preferences > Position Mode; or POST /fapi/v1/positionSide/dual "
            "dualSidePosition=false) once no position or order is open")


def load_document(source: Source, api_path: str, kind: str) -> dict[str, Any]:
    """The positions (kind="positions") or orders (kind="orders") document, or exit 1 with one line (2 for an
    `--exchange` that is no URL: nothing was asked)."""
    from ..exchange.factory import check_url

    try:
        if source.api is not None:
            return get_json(source.api, api_path)
        assert source.exchange is not None
        if source.exchange.strip().lower() == "sim":  # read a fresh, empty simulator: "No open positions"
            raise ConfigError(f"{EXCHANGE_OPTION} sim: the in-process paper account lives inside `run`; ask the "
                              "running bot with --api (default http://$QT_API_HOST:$QT_API_PORT), or give "
                              f"{EXCHANGE_OPTION} a sim-server's URL")
        check_url(source.exchange, EXCHANGE_OPTION)
    except ApiError as exc:
        raise fail(str(exc)) from None
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        view = asyncio.run(read_exchange_view(source.exchange))
    except ConfigError as exc:  # it names --exchange and the URL itself (nothing answers, not a simulator, ...)
        bot = is_bot_api(source.exchange)
        raise fail(f"{exc} ({source.exchange} is a running bot's API: read it with --api)" if bot else str(exc)) \
            from None
    except (QuantumTraderError, OSError) as exc:
        raise fail(f"cannot read the exchange at {source.exchange}: {exc}") from None
    return view.positions_json() if kind == "positions" else view.orders_json()


def emit_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, default=str) + "\n")


def exit_code(document: dict[str, Any]) -> int:
    return EXIT_UNPROTECTED if int(document.get("unprotected") or 0) > 0 else 0


@app.command("positions")
def positions(api: ApiOption = None, exchange: ExchangeOption = None, json_output: JsonOption = False) -> None:
    """Open positions: P&L in USDT, % notional, ROE and % equity, and their SL/TP protection. Exit 4 if unprotected."""
    document = load_document(Source.of(api, exchange), "/api/v1/positions", "positions")
    if json_output:
        emit_json(document)
    else:
        render_positions(document, Console(highlight=False))
    raise typer.Exit(exit_code(document))


def _protection_text(position: dict[str, Any], kind: str) -> str:
    """`STOP_MARKET @ 620`, or `none` followed by what looks like protection but does not count, flagged
    (`none (STOP @ 0.1696: stop_limit)`): a stop-limit must not read as a stop."""
    protection = position.get(kind)
    if protection:
        return f"{protection.get('type')} @ {protection.get('trigger_price') or '-'}"
    shown = [f"{i.get('type')} @ {i.get('trigger_price') or '-'}: {', '.join(i.get('flags') or [])}"
             for i in position.get("protection_issues") or [] if i.get("kind") == kind]
    return "[red]none[/]" + (f" [red]({'; '.join(shown)})[/]" if shown else "")


def issue_lines(position: dict[str, Any]) -> list[str]:
    """One line per order that looks like protection and does not count, with the monitor's reason."""
    return [f"[red]{position['symbol']}: {i.get('type')} {i.get('client_id')} @ {i.get('trigger_price') or '-'} "
            f"does not count: {i.get('reason') or ', '.join(i.get('flags') or [])}[/]"
            for i in position.get("protection_issues") or []]


def fits(console: Console, table: Table) -> bool:
    """Whether `table` prints without cutting a cell on this console (rich would fold or ellipsize it)."""
    return Measurement.get(console, console.options.update_width(10_000), table).maximum <= console.width


#: What the percentages are of, printed under the table: the entry notional (size × entry), as the audit
#: measures a realised loss; ROE on the initial margin at entry (entry notional / leverage), as Binance's UI.
PCT_BASIS = ("% notional = uPnL / entry notional (size × entry); ROE = uPnL / initial margin "
             "(entry notional / leverage); % equity = uPnL / equity")


def _positions_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left", caption=PCT_BASIS, caption_justify="left")
    for column in ("symbol", "side", "size", "entry", "mark", "lev", "entry notional", "uPnL USDT", "% notional",
                   "ROE %", "% equity", "liq", "SL", "TP", "status"):
        table.add_column(column, justify="left" if column in ("symbol", "side", "SL", "TP", "status") else "right")
    for p in rows:
        table.add_row(p["symbol"], p["side"], p["size"], p["entry"], p["mark"], f"{p['leverage']}x",
                      p.get("entry_notional") or "-", p["unrealized_pnl"], p["pnl_pct_notional"], p["roe_pct"],
                      p["pnl_pct_equity"], p.get("liquidation_price") or "-", _protection_text(p, "stop_loss"),
                      _protection_text(p, "take_profit"), _status_text(p))
    return table


def _status_text(position: dict[str, Any]) -> str:
    status = str(position.get("status"))
    return f"[{STATUS_STYLE.get(status, '')}]{status}[/]"


def _position_lines(p: dict[str, Any]) -> tuple[str, ...]:
    """A position in four short lines: what it is, its P&L on its entry notional and margin (as the table's
    caption defines them), its P&L on equity, what protects it."""
    margin = f" of margin {p['margin']}" if p.get("margin") else ""
    return (f"[bold]{p['symbol']}[/] {p['side']} {p['size']} @ {p['entry']}  mark {p['mark']}  {p['leverage']}x  "
            f"{_status_text(p)}",
            f"  uPnL {p['unrealized_pnl']} USDT = {p['pnl_pct_notional']} % of entry notional "
            f"{p.get('entry_notional') or '-'}",
            f"  ROE {p['roe_pct']} %{margin}  {p['pnl_pct_equity']} % of equity",
            f"  SL {_protection_text(p, 'stop_loss')}  TP {_protection_text(p, 'take_profit')}  "
            f"liq {p.get('liquidation_price') or '-'}")


def render_positions(document: dict[str, Any], console: Console) -> None:
    """One table, or, where it would not fit (an 80-column terminal cut every cell to "BT…"), one block of
    four lines per position, so symbols, prices and the protection are never truncated."""
    rows = document.get("positions") or []
    if not rows:
        console.print(f"No open positions.  equity {document.get('equity', '-')} USDT")
        return
    title = f"Positions  (equity {document.get('equity', '-')} USDT)"
    table = _positions_table(title, rows)
    if fits(console, table):
        console.print(table)
    else:
        console.print(title)
        for p in rows:
            console.print(*_position_lines(p), sep="\n")
    for p in rows:
        for line in issue_lines(p):
            console.print(line)
    unprotected = int(document.get("unprotected") or 0)
    if unprotected:
        console.print(f"[bold red]{unprotected} position(s) UNPROTECTED: no working stop-loss on the exchange[/]")
