"""The backtest's stop audit and last trades as a trader reads them, on an 80-column terminal too.

At 80 columns the trades table cut every trade id to `LINKUSDT…`, the one cell that finds a trade in the
journal and the report, and the tables printed Python's values: `{'stop_loss': 46, ...}`, `None`, `False`.
Here the id column never wraps or shrinks (the figures fold instead, whole), exit reasons are words
(`stop-loss 46, take-profit 12`), a missing figure is "—" and a flag "yes" or "no". `--json` is untouched:
this is only how the document is printed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

#: How many of the last trades the table shows (`--json` and `--report` have them all).
LAST_TRADES = 15
#: A figure the document does not have (a take-profit's slippage: only stop-loss fills are measured).
MISSING = "—"
#: Exit reasons (trading/audit.py, `by_exit_reason`'s keys) as a trader says them.
EXIT_WORDS = {"stop_loss": "stop-loss", "take_profit": "take-profit", "kill_switch": "kill switch"}
TRADE_COLUMNS = ("trade", "side", "exit", "entry", "exit price", "slip bps", "breach")
#: Columns whose words never break (the figures fold instead, whole, on a terminal narrower still).
WHOLE = ("trade", "side", "exit", "breach")
#: The positions open at the end: the document's keys and their headers.
OPEN_COLUMNS = {"symbol": "symbol", "side": "side", "quantity": "qty", "entry_price": "entry", "mark_price": "mark",
                "unrealised_pnl": "unrealised", "fees": "fees", "funding": "funding"}
OPEN_TITLE = "Open at the end (not in net_pnl or the trades)"
#: Under the trades table: why most exits show no slippage.
SLIP_NOTE = f"slip bps: a stop-loss fill against its trigger ({MISSING} for other exits)"


def words(value: Any) -> str:
    """A document's value in a table cell: None is "—", a flag "yes" or "no", anything else its text."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def exit_words(reason: str | None) -> str:
    return MISSING if reason is None else EXIT_WORDS.get(reason, reason.replace("_", " "))


def exits_text(by_reason: Mapping[str, int] | None) -> str:
    """`{'stop_loss': 7, 'take_profit': 3, 'manual': 0, ...}` as `stop-loss 7, take-profit 3`."""
    seen = [f"{exit_words(reason)} {count:,}" for reason, count in (by_reason or {}).items() if count]
    return ", ".join(seen) or "none"


def stop_audit_table(audit: Mapping[str, Any]) -> Table:
    """The audit's summary (row names as in `--json`), each value in words; a breach lists its trades."""
    table = Table(title="Stop audit", show_header=False)
    breaches, ids = audit.get("breaches") or 0, audit.get("breach_trade_ids") or []
    table.add_row("by_exit_reason", exits_text(audit.get("by_exit_reason")))
    table.add_row("breaches", f"{breaches:,}" + (f": {', '.join(ids)}" if ids else ""))
    for key in ("worst_slippage_bps", "mean_slippage_bps", "worst_realised_pct_equity"):
        table.add_row(key, words(audit.get(key)))
    return table


def trades_table(trades: list[dict[str, Any]]) -> Table:
    """The last trades. The id column is as wide as the longest id and never cut; the breach column is there
    when one of them breached (else the title says none did: 80 columns then fit ids of 20 characters)."""
    shown = trades[-LAST_TRADES:]
    title = "Last trades" if len(trades) <= LAST_TRADES else f"Last {LAST_TRADES} of {len(trades):,} trades"
    breached = any(row.get("breach") for row in shown)
    table = Table(title=title + ("" if breached or not shown else " (no breach)"), caption=SLIP_NOTE,
                  caption_justify="left")
    widest = max((len(words(row.get("trade_id"))) for row in shown), default=0)
    for column in TRADE_COLUMNS if breached else TRADE_COLUMNS[:-1]:
        table.add_column(column, no_wrap=column in WHOLE, min_width=widest if column == "trade" else None,
                         overflow="fold", justify="left" if column in WHOLE else "right")
    for row in shown:
        cells = [escape(words(row.get("trade_id"))), words(row.get("direction")), exit_words(row.get("exit_reason")),
                 words(row.get("entry_price")), words(row.get("exit_price")), words(row.get("slippage_bps"))]
        if breached:
            cells.append("[bold red]yes[/]" if row.get("breach") else words(row.get("breach")))
        table.add_row(*cells)
    return table


def open_at_end(positions: list[dict[str, Any]], console: Console) -> RenderableType:
    """The positions still open when the data ended, at the last close's mark (not in net_pnl or the trades): a
    table where it fits, else two lines a position, as `positions` prints on a narrow terminal. At 80 columns the
    table (82 wide for one LINKUSDT short) folded its figures mid-number: funding 1.2658083 over a line holding 6."""
    table = Table(title=OPEN_TITLE)
    for header in OPEN_COLUMNS.values():
        table.add_column(header, no_wrap=True)
    for position in positions:
        table.add_row(*(words(position[c]) for c in OPEN_COLUMNS))
    if Measurement.get(console, console.options.update_width(10_000), table).maximum <= console.width:
        return table
    lines = [Text(OPEN_TITLE, style="italic")]
    for p in positions:
        lines.append(Text(f"{p['symbol']} {p['side']} {words(p['quantity'])} @ {words(p['entry_price'])}  "
                          f"mark {words(p['mark_price'])}"))
        lines.append(Text(f"  unrealised {words(p['unrealised_pnl'])}  fees {words(p['fees'])}  "
                          f"funding {words(p['funding'])}"))
    return Group(*lines)
