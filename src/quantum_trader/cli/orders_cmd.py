"""`quantum-trader orders [--api URL | --exchange URL] [--json]`: open orders grouped by position, with flags.

Conditional orders live on the Algo Order API and do not appear among classic open orders, which is
exactly how a position ends up "protected" in someone's head and naked on the exchange; both kinds
are shown here side by side, with what is wrong next to each order. Exit 4 if any position is
unprotected, like `positions`.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from .main import app
from .positions_cmd import (
    STATUS_STYLE,
    ApiOption,
    ExchangeOption,
    JsonOption,
    Source,
    emit_json,
    exit_code,
    fits,
    load_document,
)


@app.command("orders")
def orders(api: ApiOption = None, exchange: ExchangeOption = None, json_output: JsonOption = False) -> None:
    """Open orders grouped by position; flags missing SL/TP, orphans, wrong side, duplicates, rejected types."""
    document = load_document(Source.of(api, exchange), "/api/v1/orders", "orders")
    if json_output:
        emit_json(document)
    else:
        render_orders(document, Console(highlight=False))
    raise typer.Exit(exit_code(document))


def _group_title(group: dict[str, Any]) -> str:
    if group.get("position_side") is None:
        return f"{group['symbol']}  (no position)"
    status = str(group.get("status"))
    flags = ", ".join(group.get("flags") or [])
    return (f"{group['symbol']}  {group['position_side']} {group.get('position_size')}  "
            f"[{STATUS_STYLE.get(status, '')}]{status}[/]" + (f"  [yellow]{flags}[/]" if flags else ""))


def _orders_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("side", "type", "api", "trigger", "price", "qty", "reduce/close", "role", "flags"):
        table.add_column(column, justify="right" if column in ("trigger", "price", "qty") else "left")
    for o in rows:
        closes = "closePosition" if o.get("close_position") else "reduceOnly" if o.get("reduce_only") else ""
        flags = ", ".join(o.get("flags") or [])
        table.add_row(o["side"], o["type"], "algo" if o.get("conditional") else "order", o.get("trigger_price") or "-",
                      o.get("price") or "-", o.get("quantity") or "-", closes, o.get("role") or "",
                      f"[bold red]{flags}[/]" if flags else "")
    return table


def _order_line(o: dict[str, Any]) -> str:
    """One order in a line, only the fields it has (a closePosition order has no quantity of its own)."""
    parts = [o["side"], o["type"], "(algo)" if o.get("conditional") else "(order)"]
    parts += [f"{name} {o[key]}" for name, key in (("trigger", "trigger_price"), ("price", "price")) if o.get(key)]
    if o.get("close_position"):
        parts.append("closePosition")
    else:
        parts += [f"qty {o['quantity']}"] if o.get("quantity") else []
        parts += ["reduceOnly"] if o.get("reduce_only") else []
    parts += [o["role"]] if o.get("role") else []
    flags = ", ".join(o.get("flags") or [])
    return "  " + " ".join(parts) + (f"  [bold red]{flags}[/]" if flags else "")


def render_orders(document: dict[str, Any], console: Console) -> None:
    groups = document.get("groups") or []
    if not groups:
        console.print("No open positions and no open orders.")
    for group in groups:
        rows = group.get("orders") or []
        table = _orders_table(_group_title(group), rows)
        if fits(console, table):
            console.print(table)
        else:  # one line per order: a cut "STOP_MA…" cannot tell STOP_MARKET from STOP
            console.print(_group_title(group))
            for o in rows:
                console.print(_order_line(o))
        for o in rows:  # why a flagged order does not count, in the monitor's words (it will replace it)
            if o.get("reason"):
                console.print(f"  [red]{o['type']} {o.get('client_id')} does not count: {o['reason']}[/]")
    orphans = document.get("orphans") or []
    if orphans:
        console.print(f"[bold yellow]{len(orphans)} orphan protection order(s): reduceOnly/closePosition orders "
                      "on symbols without a position[/]")
    for rejected in document.get("rejected_types") or []:
        console.print(f"[bold red]order type {rejected.get('type')} would be rejected: {rejected.get('reason')}[/]")
    unprotected = int(document.get("unprotected") or 0)
    if unprotected:
        console.print(f"[bold red]{unprotected} position(s) UNPROTECTED: no working stop-loss on the exchange[/]")
