"""The `quantum-trader` command."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Quantum Trader: protected futures trading.")


@app.callback()
def main() -> None:
    """Quantum Trader: Binance USDⓈ-M futures with stop-losses proven in a faithful simulator."""

from . import scenario_cmd  # noqa: E402, F401  (registers `scenario`; the command imports `app` from here)
