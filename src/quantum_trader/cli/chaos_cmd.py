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
from .checks import NUMBER, WHOLE, bad_input_exits_2, parse_number, parse_whole
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
    scenarios: Annotated[str, Opt("--scenarios", metavar=WHOLE, help="number of seeded scenarios, 1 or more")] = "20",
    seed: Annotated[str, Opt("--seed", metavar=WHOLE, help="campaign seed: same N and seed, same report")] = "1",
    json_output: Annotated[bool, Opt("--json", help="one JSON document on stdout, nothing else")] = False,
    profile: Annotated[Profile, Opt("--profile", help="chaos: faults, cancels, kills; calm: none of them")]
    = Profile.CHAOS,
    steps: Annotated[str, Opt("--steps", metavar=WHOLE, help="monitor intervals per scenario, 10 or more")] = "200",
    no_monitor: Annotated[bool, Opt("--no-monitor", hidden=True, help="test hook: a bot without its monitor")]
    = False,
    live: Annotated[bool, Opt("--live", help="the live-path campaign: the bot as a subprocess against sim-server, "
                                             "faults at the network")] = False,
    duration: Annotated[str | None, Opt("--duration", metavar=NUMBER,
                                        help="--live: seconds of wall time, 30 or more (default 120)")] = None,
    workdir: Annotated[str | None, Opt("--workdir", help="--live: keep the bot's journal and log here")] = None,
    bot_setting: Annotated[list[str] | None, Opt("--bot-setting", hidden=True,
                                                 help="--live test hook: QT_NAME=value for the bot")] = None,
) -> None:
    """Random entries, gapped prices and injected faults against the real bot; exit 1 if a target is missed."""
    with bad_input_exits_2():
        count, campaign_seed, intervals, wall_s = _numbers(scenarios, seed, steps, duration)
    in_process = count != 20 or profile is not Profile.CHAOS or intervals != 200 or no_monitor
    live_only = wall_s is not None or workdir is not None or bool(bot_setting)
    if (live and in_process) or (not live and live_only):
        typer.echo("error: --scenarios/--profile/--steps belong to the in-process campaign, --duration/--workdir to "
                   "--live", err=True)
        raise typer.Exit(2)
    if live:
        run_live(duration=wall_s or 120.0, seed=campaign_seed, json_output=json_output, workdir=workdir,
                 bot_setting=bot_setting)
    configure_logging(json=False, level="CRITICAL")  # killed bots log by design; the report is the output
    logging.getLogger("quantum_trader").setLevel(logging.CRITICAL)
    from ..chaos.scenario import ChaosConfig  # the simulator's stack, only when a campaign runs

    base = ChaosConfig.calm() if profile is Profile.CALM else ChaosConfig()
    config = dataclasses.replace(base, steps=intervals, monitor_enabled=not no_monitor)
    show = not json_output and sys.stderr.isatty()
    report = _run(count, campaign_seed, config, show)
    if json_output:
        sys.stdout.write(json.dumps(report, default=str) + "\n")
    else:
        _print_report(report)
    raise typer.Exit(0 if report["passed"] else 1)


def _numbers(scenarios: str, seed: str, steps: str, duration: str | None) -> tuple[int, int, int, float | None]:
    """The campaign's numbers, each refusal one `error:` line naming the option and what to give (typed `int` and
    `float`, typer refused them in a box); any whole seed, negative too, seeds the campaign's random streams."""
    return (parse_whole(scenarios, "--scenarios", unit="scenarios", example=20),
            parse_whole(seed, "--seed", low=None, example=1),
            parse_whole(steps, "--steps", low=10, unit="intervals", example=200),
            None if duration is None else parse_number(duration, "--duration", low=30.0, unit="seconds", example=120.0))


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
