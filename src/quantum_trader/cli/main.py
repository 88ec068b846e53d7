"""The `quantum-trader` command."""

from __future__ import annotations

import atexit
import gc

import typer

from .pipe import PipeAwareGroup

# At exit the interpreter's collector passes over every object still alive (a backtest of 1M bars holds
# hundreds of thousands) before the modules are torn down: 0.15 s of the peers' 2.5 s `backtest` process, for
# nothing a finished command needs (its journal, files and streams are closed by then; logging flushes in its
# own exit handler, registered before this one and so run after it). Frozen, they are left to reference
# counting. Registered at import, before any command's own exit handler: it runs after them.
atexit.register(gc.freeze)

app = typer.Typer(cls=PipeAwareGroup, no_args_is_help=True, add_completion=False,
                  help="Quantum Trader: protected futures trading.")


@app.callback()
def main() -> None:
    """Quantum Trader: Binance USDⓈ-M futures with stop-losses proven in a faithful simulator."""

from . import backtest_cmd, run_cmd, scenario_cmd  # noqa: E402, F401  (register commands; they import `app` from here)
from . import sim_server_cmd as sim_server_cmd  # noqa: E402  (registers `sim-server`; explicit re-export)

from . import control_cmd, orders_cmd, positions_cmd  # noqa: E402, F401  # isort: skip  (read/control commands)
from . import audit_cmd  # noqa: E402, F401  # isort: skip  (audit and readiness: read the journal)
from . import chaos_cmd as chaos_cmd  # noqa: E402  # isort: skip  (registers `chaos`)
from . import paper_reset_cmd as paper_reset_cmd  # noqa: E402  # isort: skip  (registers `paper-reset`)
from . import download_cmd as download_cmd  # noqa: E402  # isort: skip  (registers `download`)
from . import train_cmd as train_cmd  # noqa: E402  # isort: skip  (registers `train`)
from . import evaluate_cmd as evaluate_cmd  # noqa: E402  # isort: skip  (registers `evaluate`)
from . import sweep_cmd as sweep_cmd  # noqa: E402  # isort: skip  (registers `sweep`)
