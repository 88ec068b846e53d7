"""`quantum-trader scenario FILE [--json]`: run a scenario file in the simulator and show what happened.

The readable output answers the three questions a stop-loss review asks, in this order: was each
order accepted (and if not, Binance's exact code and message), did the stop trigger and where did it
fill, and what did it cost in all four units (USDT, % of notional, % of margin, % of equity). Both
outputs render the same `ScenarioResult.to_dict()`, so the table can never disagree with `--json`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..domain.errors import ConfigError
from .main import app

LEVEL_STYLE = {"ok": "bold green", "warn": "bold yellow", "danger": "bold red"}


@app.command("scenario")
def scenario(
    file: Annotated[Path, typer.Argument(help="Scenario file (YAML or JSON, CONTRACT §6).", show_default=False)],
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout, nothing else.")]
    = False,
) -> None:
    """Run a scenario file in the simulator and print what happened."""
    try:
        from ..sim.scenario import run_scenario  # the simulator and YAML, when a scenario runs

        report = run_scenario(file).to_dict()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if json_output:
        sys.stdout.write(json.dumps(report, default=str) + "\n")
        return
    render(report, Console(highlight=False))


def render(report: dict[str, Any], console: Console) -> None:
    """The human view: header, orders table, position line, loss in four units, verdict."""
    meta = report["scenario"]
    console.print(f"[bold]{meta['file'] or 'scenario'}[/]  {meta['description']}")
    console.print(f"{meta['symbol']}  balance {meta['balance']} USDT  leverage {meta['leverage']}x  "
                  f"{meta['margin_type']}  start {meta['start_price']}  path "
                  + " → ".join(_step_text(step) for step in report["steps"]))
    console.print(_orders_table(report["orders"]))
    for line in _errors(report["orders"]):
        console.print(line)
    console.print(_position_text(report))
    console.print(_loss_text(report["loss"]))
    verdict = report["verdict"]
    console.print(f"[{LEVEL_STYLE[verdict['level']]}]{verdict['text']}[/]")


def _step_text(step: dict[str, Any]) -> str:
    return step["last"] if step["last"] == step["mark"] else f"{step['last']}/{step['mark']}(mark)"


def _orders_table(orders: list[dict[str, Any]]) -> Table:
    """One row per request; Binance's full error text follows the table, where it has room."""
    table = Table(title="Orders", title_justify="left")
    for column in ("#", "type (endpoint)", "side", "result", "final status", "trig.", "filled at", "vs stop"):
        table.add_column(column, justify="right" if column in ("#", "filled at", "vs stop") else "left")
    for index, entry in enumerate(orders, start=1):
        request, error = entry["request"], entry["error"]
        result = "[green]accepted[/]" if entry["accepted"] else f"[bold red]{error['code']}[/]"
        bps = entry["slippage_bps_vs_stop"]
        table.add_row(str(index), f"{request.get('type', '?')} ({entry['api']})", request.get("side", "?"), result,
                      _status(entry), _yes_no(entry["triggered"]), entry["filled_at"] or "-",
                      f"{bps} bps" if bps is not None else "-")
    return table


def _errors(orders: list[dict[str, Any]]) -> list[str]:
    return [f"[red]order {index} → {entry['endpoint']}: {entry['error']['code']} {entry['error']['msg']}[/]"
            for index, entry in enumerate(orders, start=1) if entry["error"] is not None]


def _status(entry: dict[str, Any]) -> str:
    """The order's final status; for an algo order also the status of the order it spawned."""
    order = entry["order"]
    if order is None:
        return "-"
    if "algoStatus" not in order:
        return str(order["status"])
    child = entry["spawned_order"]
    return str(order["algoStatus"]) + (f" → {child['type']} {child['status']}" if child else "")


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else "[yellow]yes[/]" if value else "no"


def _position_text(report: dict[str, Any]) -> str:
    position = report["position"]
    if not report["position_open"]:
        return f"Position: flat (mark {position['markPrice']}); wallet {report['wallet_balance']} USDT"
    protection = "[green]protected[/]" if report["protected"] else "[bold red]UNPROTECTED[/]"
    liquidation = position["liquidationPrice"] if position["liquidationPrice"] != "0" else "none"
    return (f"Position: {position['positionAmt']} @ entry {position['entryPrice']}  mark {position['markPrice']}  "
            f"liquidation {liquidation}  {protection}")


def _loss_text(loss: dict[str, Any]) -> str:
    label = {"open": "Open P&L", "closed": "Realised P&L", "none": "P&L"}[loss["state"]]
    text = (f"{label} (after fees): {loss['pnl_usdt']} USDT | {loss['pct_notional']}% of notional | "
            f"{loss['pct_margin']}% of margin | {loss['pct_equity']}% of equity")
    if loss["planned_loss_usdt"] is not None:
        text += f"  (planned at the stop {loss['planned_stop_price']}: {loss['planned_loss_usdt']} USDT, " \
                f"{loss['planned_pct_notional']}%)"
    return text
