"""The command group builds a command when it is looked up; listing them, and a name that is none, loads all."""

from __future__ import annotations

import re

import typer
from typer.main import get_command
from typer.testing import CliRunner

from quantum_trader.cli.command_group import COMMAND_MODULES, CommandGroup
from quantum_trader.cli.main import app


def test_every_command_is_mapped_to_the_module_that_registers_it() -> None:
    group = get_command(app)
    assert isinstance(group, CommandGroup)
    listed = group.list_commands(typer.Context(group))
    assert listed == list(COMMAND_MODULES)
    registered = {info.name: info.callback.__module__ for info in app.registered_commands if info.callback}
    assert registered == {name: f"quantum_trader.cli.{module}" for name, module in COMMAND_MODULES.items()}


def test_help_lists_every_command_in_order() -> None:
    done = CliRunner().invoke(app, ["--help"], terminal_width=100)
    assert done.exit_code == 0
    shown = [name for name in re.findall(r"│ ([a-z-]+) ", done.output) if name in COMMAND_MODULES]
    assert shown == list(COMMAND_MODULES)


def test_a_misspelt_command_is_still_suggested() -> None:
    done = CliRunner().invoke(app, ["sim-sever"])
    assert done.exit_code == 2
    assert "No such command 'sim-sever'. Did you mean 'sim-server'?" in done.output
