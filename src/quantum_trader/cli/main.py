"""The `quantum-trader` command."""

from __future__ import annotations

import atexit
import gc

import typer

from .command_group import CommandGroup

# At exit the interpreter's collector passes over every object still alive (a backtest of 1M bars holds
# hundreds of thousands) before the modules are torn down: 0.15 s of the peers' 2.5 s `backtest` process, for
# nothing a finished command needs (its journal, files and streams are closed by then; logging flushes in its
# own exit handler, registered before this one and so run after it). Frozen, they are left to reference
# counting. Registered at import, before any command's own exit handler: it runs after them.
atexit.register(gc.freeze)

# Each command's module is imported when the command is looked up (command_group.py): they register on `app`.
app = typer.Typer(cls=CommandGroup, no_args_is_help=True, add_completion=False,
                  help="Quantum Trader: protected futures trading.")


@app.callback()
def main() -> None:
    """Quantum Trader: Binance USDⓈ-M futures with stop-losses proven in a faithful simulator."""
