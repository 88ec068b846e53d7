"""`quantum-trader run`: the event-driven backend (issue 4). Until it lands, say so plainly."""

from __future__ import annotations

import typer

from .main import app


@app.command("run")
def run() -> None:
    """Start the paper-trading backend (not built yet: see the README's status)."""
    typer.echo(
        "The backend (engine, journal, API, dashboard) is not built yet; it is the next issue.\n"
        "What runs today: `quantum-trader scenario examples/scenarios/bnb_short_stop_market.yaml` "
        "(the exchange-faithful simulator) and `quantum-trader sim-server` (the simulator as a Binance API).",
        err=True,
    )
    raise typer.Exit(1)
