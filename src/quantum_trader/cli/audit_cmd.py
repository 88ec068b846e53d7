"""`quantum-trader audit [--db URL] [--json] [--report FILE.html] [--png DIR]` and
`quantum-trader readiness [--db URL] [--json]`: read the journal.

Both read the journal only, never the bot or the exchange, so they answer on a copy of the database,
offline, with the bot down: the point of an audit is not to trust the process being audited. The
documents are exactly what `GET /api/v1/audit` and `GET /api/v1/readiness` answer (the same
functions in readmodels/journal.py), so a script can switch between the two.

A journal that does not exist yet (or has no tables) is not an error: it is an empty history. It is
evaluated against a fresh, empty schema in a temporary folder, so the answer has the usual shape
(an empty audit; a checklist whose items fail with their evidence) and the user's path is never
created. Exit codes: audit 5 on any breach, else 0; readiness 0 ready, 1 not; 2 for a malformed URL,
bad settings, or a database that cannot be read (one line naming QT_DB_URL, password hidden).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..core.logging import configure_logging
from ..domain.errors import ConfigError
from ..settings.model import Settings, load_settings
from ..settings.rules import hide_db_password
from ..trading.audit import NOT_GAP_EXPLAINED, VERDICT_OK, VERDICT_UNKNOWN
from .checks import bad_input_exits_2, check_db_option, check_output_file, check_output_folder
from .main import app
from .positions_cmd import fits
from .readiness_text import render_readiness

EXIT_BREACH = 5
#: How the table colours the audit's verdicts; any breach (with or without a gap) is bold red.
VERDICT_STYLES = {VERDICT_OK: "green", VERDICT_UNKNOWN: "yellow"}
EXIT_NOT_READY = 1
EXIT_BAD_CONFIG = 2
#: Thirteen columns do not fit rich's default 80 when piped (to a file, `less`, a mail): give them room.
PIPED_WIDTH = 200

DbOption = Annotated[str | None, typer.Option("--db", help="Journal URL (default $QT_DB_URL, "
                                              "else sqlite:///./data/quantum_trader.db).", show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout, nothing else.")]
ReportOption = Annotated[Path | None, typer.Option("--report", help="Also write the audit as a self-contained HTML "
                                                   "page here.", show_default=False)]
PngOption = Annotated[Path | None, typer.Option("--png", help="Also write slippage.png and realised_vs_planned.png "
                                                "into this folder.", show_default=False)]


def _settings(db: str | None) -> Settings:
    """Settings with `--db` on top of the environment; exit 2 with the option or variable named on a bad value."""
    if db is not None:
        with bad_input_exits_2():
            check_db_option(db)
    try:
        return load_settings({"db_url": db})
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_CONFIG) from None


def _db_name(db: str | None) -> str:
    """What a journal refusal names: the flag when the URL came from it, else the variable."""
    return "QT_DB_URL" if db is None else "--db"


def _emit_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, default=str) + "\n")


@app.command("audit")
def audit(db: DbOption = None, json_output: JsonOption = False, report: ReportOption = None,
          png: PngOption = None) -> None:
    """Every closed position: exit reason, planned stop and loss, slippage, realised loss, breach. Exit 5 on one."""
    from ..readmodels.journal import audit_from_journal
    from .journal_open import evaluate

    configure_logging(json=False, level="WARNING")  # stderr only: stdout carries the report
    with bad_input_exits_2():
        if report is not None:
            check_output_file("--report", report, "audit.html")
        if png is not None:
            check_output_folder("--png", png)
    settings = _settings(db)
    document = evaluate(settings.db_url, lambda reader: audit_from_journal(reader)[1], _db_name(db))
    _write_audit_files(document, report, png, source=hide_db_password(settings.db_url))
    if json_output:
        _emit_json(document)
    else:
        render_audit(document, Console(highlight=False, width=None if sys.stdout.isatty() else PIPED_WIDTH))
    raise typer.Exit(EXIT_BREACH if int(document.get("breaches") or 0) > 0 else 0)


def _write_audit_files(document: dict[str, Any], report: Path | None, png: Path | None, *, source: str) -> None:
    """`--report` and `--png`, written before the exit code is decided (a breach is exactly when they are read)."""
    from ..reports.write import write_audit_png, write_audit_report

    try:
        if report is not None:
            write_audit_report(document, report, source=source)
    except OSError as exc:
        typer.echo(f"error: --report {report}: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_CONFIG) from None
    try:
        if png is not None:
            write_audit_png(document, png)
    except OSError as exc:
        typer.echo(f"error: --png {png}: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_CONFIG) from None


@app.command("readiness")
def readiness(db: DbOption = None, json_output: JsonOption = False) -> None:
    """The go-live checklist from the paper-trading journal. Exit 0 when ready, 1 when not."""
    from ..readmodels.journal import readiness_from_journal
    from .journal_open import evaluate

    configure_logging(json=False, level="WARNING")
    s = _settings(db)
    document = evaluate(s.db_url, lambda reader: readiness_from_journal(reader, s), _db_name(db))
    if json_output:
        _emit_json(document)
    else:
        render_readiness(document, Console(highlight=False))
    raise typer.Exit(0 if document.get("ready") else EXIT_NOT_READY)


AUDIT_COLUMNS = ("trade", "symbol", "side", "exit", "planned stop", "planned loss", "exit price", "slip bps",
                 "P&L USDT", "%notional", "%margin", "%equity", "breach")


def _audit_cells(row: dict[str, Any]) -> tuple[str, ...]:
    realised = row.get("realised")
    if row.get("exit_price") is None or realised is None:  # no exchange record: `?`, never a stand-in figure
        figures = ("?" if row.get("exit_price") is None else str(row["exit_price"]), "-", "?", "?", "?", "?")
    else:
        figures = (str(row["exit_price"]), str(row.get("slippage_bps") or "-"), str(realised.get("usdt", "-")),
                   str(realised.get("pct_notional", "-")), str(realised.get("pct_margin", "-")),
                   str(realised.get("pct_equity", "-")))
    verdict = str(row["verdict"])  # the audit's own word (trading/audit.py `verdict_of`), as the API sends it
    breach = f"[{VERDICT_STYLES.get(verdict, 'bold red')}]{escape(verdict)}[/]"
    return (str(row["trade_id"]), str(row["symbol"]), str(row["direction"]), str(row["exit_reason"]),
            str(row.get("planned_stop") or "-"), str(row.get("planned_loss") or "-"), *figures, breach)


def render_audit(document: dict[str, Any], console: Console) -> None:
    rows = document.get("positions") or []
    if not rows:
        console.print("No closed positions in the journal.")
        return
    title = f"Stop audit  ({len(rows)} closed positions)"
    table = Table(title=title, title_justify="left")
    for column in AUDIT_COLUMNS:
        table.add_column(column, justify="left" if column in ("trade", "symbol", "side", "exit", "breach") else "right")
    cells = [_audit_cells(row) for row in rows]
    for row_cells in cells:
        table.add_row(*row_cells)
    if fits(console, table):
        console.print(table)
    else:  # a narrow terminal: three lines per position, every figure whole (as `positions` does)
        console.print(title)
        for trade, symbol, side, exit_reason, stop, loss, price, slip, usdt, notional, margin, equity, breach in cells:
            console.print(f"{trade} {symbol} {side} {exit_reason}  {breach}")
            console.print(f"  stop {stop} (planned loss {loss})  exit {price}  slip {slip} bps")
            console.print(f"  {usdt} USDT  {notional} % notional  {margin} % margin  {equity} % equity")
    summary = document.get("summary") or {}
    console.print(f"worst slippage {summary.get('worst_slippage_bps') or '-'} bps, mean "
                  f"{summary.get('mean_slippage_bps') or '-'} bps; worst trade "
                  f"{summary.get('worst_realised_pct_equity') or '-'} % of equity")
    console.print(slippage_note(summary))
    for row in rows:
        if row.get("breach"):
            console.print(f"[bold red]breach[/] {row['trade_id']}: {row.get('breach_reason')}"
                          + ("" if row.get("gap_explained") else f" ({NOT_GAP_EXPLAINED})"))
    unknown = summary.get("unknown_exits") or 0
    if unknown:
        console.print(f"[yellow]{unknown} exits unknown[/] (closed while the bot was away; the exchange kept no "
                      f"record, so they are not judged): {', '.join(summary.get('unknown_trade_ids') or [])}")


def slippage_note(summary: dict[str, Any]) -> str:
    """What the slippage figures are of: a stop-loss fill against its stop's trigger, nothing else (an
    emergency market exit after a stop that never fired has no stop fill to slip from)."""
    others = summary.get("exits_without_slippage") or {}
    left_out = ", ".join(f"{reason} {n}" for reason, n in others.items())
    return (f"slip bps: stop-loss fills against their trigger only ({summary.get('stop_exits_with_slippage') or 0} "
            f"exits); other exits show none and are not in worst or mean" + (f" ({left_out})" if left_out else ""))
