"""`quantum-trader chaos --scenarios N --seed S [--json]`: the bot under injected faults, graded by the exchange.

Prints positions opened, the longest time any position was unprotected (simulated seconds), duplicate
orders, positions the bot did not know about, and stop-audit breaches not explained by a gap, with
the faults injected. Exit code 0 when all four targets are met, 1 when one is missed, 2 on bad
arguments. `--profile calm` runs the same scenarios without faults, manual cancels or kills (a
baseline the bot must pass); `--no-monitor` is a test hook that runs the bot without its monitor.
`--live [--duration S]` runs the live-path campaign instead (chaos/live/: the real bot as a subprocess
against the simulator server, faults at the network; see cli/chaos_live_cmd.py).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..core.logging import configure_logging
from .chaos_live_cmd import run_live
from .main import app

if TYPE_CHECKING:
    from ..chaos.scenario import ChaosConfig

Opt = typer.Option
TARGETS = (("longest_unprotected_s", "<= two monitor intervals"), ("duplicate_orders", "0"),
           ("unknown_positions", "0"), ("unexplained_breaches", "0"))


class Profile(StrEnum):
    CHAOS = "chaos"
    CALM = "calm"


@app.command("chaos")
def chaos(
    scenarios: Annotated[int, Opt("--scenarios", min=1, help="number of seeded scenarios")] = 20,
    seed: Annotated[int, Opt("--seed", help="campaign seed: same N and seed, same report")] = 1,
    json_output: Annotated[bool, Opt("--json", help="one JSON document on stdout, nothing else")] = False,
    profile: Annotated[Profile, Opt("--profile", help="chaos: faults, cancels, kills; calm: none of them")]
    = Profile.CHAOS,
    steps: Annotated[int, Opt("--steps", min=10, help="monitor intervals per scenario")] = 200,
    no_monitor: Annotated[bool, Opt("--no-monitor", hidden=True, help="test hook: a bot without its monitor")]
    = False,
    live: Annotated[bool, Opt("--live", help="the live-path campaign: the bot as a subprocess against sim-server, "
                                             "faults at the network")] = False,
    duration: Annotated[float | None, Opt("--duration", min=30, help="--live: seconds of wall time (default 120)")]
    = None,
    workdir: Annotated[str | None, Opt("--workdir", help="--live: keep the bot's journal and log here")] = None,
    bot_setting: Annotated[list[str] | None, Opt("--bot-setting", hidden=True,
                                                 help="--live test hook: QT_NAME=value for the bot")] = None,
) -> None:
    """Random entries, gapped prices and injected faults against the real bot; exit 1 if a target is missed."""
    in_process = scenarios != 20 or profile is not Profile.CHAOS or steps != 200 or no_monitor
    live_only = duration is not None or workdir is not None or bool(bot_setting)
    if (live and in_process) or (not live and live_only):
        typer.echo("error: --scenarios/--profile/--steps belong to the in-process campaign, --duration/--workdir to "
                   "--live", err=True)
        raise typer.Exit(2)
    if live:
        run_live(duration=duration or 120.0, seed=seed, json_output=json_output, workdir=workdir,
                 bot_setting=bot_setting)
    configure_logging(json=False, level="CRITICAL")  # killed bots log by design; the report is the output
    logging.getLogger("quantum_trader").setLevel(logging.CRITICAL)
    from ..chaos.scenario import ChaosConfig  # the simulator's stack, only when a campaign runs

    base = ChaosConfig.calm() if profile is Profile.CALM else ChaosConfig()
    config = dataclasses.replace(base, steps=steps, monitor_enabled=not no_monitor)
    show = not json_output and sys.stderr.isatty()
    report = _run(scenarios, seed, config, show)
    if json_output:
        sys.stdout.write(json.dumps(report, default=str) + "\n")
    else:
        _print_report(report)
    raise typer.Exit(0 if report["passed"] else 1)


def _run(scenarios: int, seed: int, config: ChaosConfig, show: bool) -> dict[str, Any]:
    from ..chaos.campaign import run_campaign  # the engine's stack, only when a campaign runs

    if not show:
        return run_campaign(scenarios, seed, config)
    with Progress(TextColumn("[bold]chaos[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("scenarios", total=scenarios)
        return run_campaign(scenarios, seed, config, progress=lambda n: progress.advance(task, n))


def _print_report(doc: dict[str, Any]) -> None:
    console = Console()
    table = Table(title=f"Chaos campaign: {doc['scenarios']} scenarios, seed {doc['seed']}", show_header=False)
    for key in ("positions_opened", "trades_closed", "restarts", "manual_cancels", "events_lost", "breaches",
                "unexpected_errors"):
        table.add_row(key, str(doc[key]))
    table.add_row("faults_injected", ", ".join(f"{k} {v}" for k, v in doc["faults_injected"].items()) or "none")
    console.print(table)
    targets = Table(title="Targets")
    for column in ("figure", "value", "target", "met"):
        targets.add_column(column)
    limit = doc["unprotected_limit_s"]
    for key, target in TARGETS:
        met = doc[key] <= limit if key == "longest_unprotected_s" else doc[key] == 0
        shown = f"{doc[key]} s" if key == "longest_unprotected_s" else str(doc[key])
        targets.add_row(key, shown, target.replace("two monitor intervals", f"{limit} s"),
                        "[green]yes[/]" if met else "[bold red]NO[/]")
    console.print(targets)
    if not doc["passed"] and doc["worst"] is not None:
        console.print("[bold]worst scenario[/] " + json.dumps(doc["worst"], default=str))
    console.print("[bold green]PASSED[/]" if doc["passed"] else
                  f"[bold red]FAILED[/] ({doc['scenarios_failed']} of {doc['scenarios']} scenarios missed a target)")
