"""The `quantum-trader` command group: a command's module is imported when that command is looked up.

Importing every command module to build the command line charged each command for all of them: a backtest
imported the simulator server's routes, the downloader, the API client and the sweep's planner, and typer read
the signature and annotations of all 17 command functions, about 30 ms of every process (1.5 % of the peers'
1M-bar backtest). Now `quantum-trader backtest` builds `backtest` alone; listing the commands (`--help`), or a
name that is no command (for its "Did you mean" suggestion), loads them all.

The modules still register their commands with typer's decorators on the one `app`; the group turns a
registered command into a click command with `typer.main.get_command_from_info`, as typer does for all of
them when the app is called (typer is pinned: this is its own building step, applied one command at a time).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import typer.main

from .pipe import PipeAwareGroup

if TYPE_CHECKING:
    from typer._click import Command, Context

#: Each command and the module that registers it, in the order `--help` lists them.
COMMAND_MODULES: dict[str, str] = {
    "backtest": "backtest_cmd", "run": "run_cmd", "scenario": "scenario_cmd", "sim-server": "sim_server_cmd",
    "positions": "positions_cmd", "force-entry": "control_cmd", "kill-switch": "control_cmd",
    "resume": "control_cmd", "orders": "orders_cmd", "audit": "audit_cmd", "readiness": "audit_cmd",
    "chaos": "chaos_cmd", "paper-reset": "paper_reset_cmd", "download": "download_cmd", "train": "train_cmd",
    "evaluate": "evaluate_cmd", "sweep": "sweep_cmd",
}


class CommandGroup(PipeAwareGroup):
    """The app's group (closed pipes handled as `PipeAwareGroup` does), its commands built when looked up."""

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in self.commands:
            self._load(COMMAND_MODULES.get(cmd_name))
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: Context) -> list[str]:
        self._load(None)
        listed = [name for name in COMMAND_MODULES if name in self.commands]
        return listed + [name for name in super().list_commands(ctx) if name not in COMMAND_MODULES]

    def _load(self, module: str | None) -> None:
        """Import `module` (None: every command module) and build the commands registered so far."""
        from .main import app  # the one Typer app the command modules register on

        for name in [module] if module is not None else dict.fromkeys(COMMAND_MODULES.values()):
            importlib.import_module(f"{__package__}.{name}")
        for info in app.registered_commands:
            assert info.callback is not None, "a command without a function"
            name = info.name or typer.main.get_command_name(info.callback.__name__)
            if name not in self.commands:
                self.commands[name] = typer.main.get_command_from_info(
                    info, pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=app.rich_markup_mode)
