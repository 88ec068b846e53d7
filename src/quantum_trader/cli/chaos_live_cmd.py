"""`quantum-trader chaos --live`: the live-path campaign's runner and its printed report.

Exit 0 when all five targets are met (longest unprotected, duplicate orders, unknown positions, bans,
peak weight), 1 when one is missed or the bot could not be started, 2 on bad arguments. `--json` prints
one document on stdout and nothing else; otherwise a progress line on a terminal, then tables.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from ..core.logging import configure_logging


def parse_bot_settings(items: list[str] | None) -> dict[str, str]:
    """`QT_NAME=value` pairs (a test hook); anything else is a bad argument (exit 2)."""
    settings: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.startswith("QT_"):
            typer.echo(f"error: --bot-setting {item!r}: expected QT_NAME=value", err=True)
            raise typer.Exit(2)
        settings[name] = value
    return settings


def run_live(*, duration: float, seed: int, json_output: bool, workdir: str | None,
             bot_setting: list[str] | None) -> NoReturn:
    """Run the campaign and leave with its exit code (typer.Exit)."""
    configure_logging(json=False, level="CRITICAL")  # the server's and the harness's logs; the report is the output
    logging.getLogger("quantum_trader").setLevel(logging.CRITICAL)
    from ..chaos.live.campaign import LiveConfig, run_live_campaign  # the campaign's stack, only when it runs

    config = LiveConfig(duration_s=duration, seed=seed, bot_env=parse_bot_settings(bot_setting),
                        workdir=Path(workdir) if workdir else None)
    console = Console(stderr=True)
    show = not json_output and sys.stderr.isatty()
    try:
        if show:
            with console.status("chaos --live") as status:
                report = run_live_campaign(config, lambda t: status.update(f"chaos --live: {t:.0f} / {duration:g} s"))
        else:
            report = run_live_campaign(config)
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if json_output:
        sys.stdout.write(json.dumps(report, default=str) + "\n")
    else:
        print_live_report(report)
    raise typer.Exit(0 if report["passed"] else 1)


def print_live_report(doc: dict[str, Any]) -> None:
    console = Console()
    table = Table(title=f"Live chaos campaign: {doc['duration_s']:g} s, seed {doc['seed']}, "
                        f"{len(doc['symbols'])} symbols", show_header=False)
    for key in ("positions_opened", "stop_outs", "manual_cancels", "bot_restarts", "bot_crashes", "responses_429",
                "market_steps", "market_gaps", "bot_start_s"):
        table.add_row(key, str(doc[key]))
    for key in ("faults_injected", "faults_skipped", "health_samples", "entries"):
        table.add_row(key, ", ".join(f"{k} {v}" for k, v in doc[key].items()) or "none")
    console.print(table)
    targets = Table(title="Targets")
    for column in ("figure", "value", "limit", "met"):
        targets.add_column(column)
    for name, row in doc["targets"].items():
        met = "[green]yes[/]" if row["met"] else "[bold red]NO[/]"
        targets.add_row(name, str(row["value"]), str(row["limit"]), met)
    console.print(targets)
    console.print(f"unprotected limit: {doc['unprotected_limit']}")
    faults = Table(title="Fault log (seconds from the start)")
    for column in ("t", "fault", "result"):
        faults.add_column(column)
    for row in doc["fault_log"]:
        faults.add_row(f"{row['t_s']:.1f}", row["fault"], row["result"])
    console.print(faults)
    if doc["worst_unprotected"]:
        console.print("worst unprotected: " + json.dumps(doc["worst_unprotected"][:3]))
    console.print(f"[dim]{doc['determinism']}[/]")
    console.print("[bold green]PASSED[/]" if doc["passed"] else "[bold red]FAILED[/]")
