"""`quantum-trader paper-reset [--yes]`: start a fresh in-process paper account (CONTRACT section 3).

The paper account (positions, resting orders, wallet, prices) lives in `QT_PAPER_STATE` and survives
restarts; this erases it so the next `run` starts with `QT_SIM_BALANCE` and no position. It asks
first, because the account may hold the hour of clean monitoring readiness wants. The journal keeps
its history (trades still open there are closed by the next start-up as gone from the exchange).

Exit codes: 0 reset (or nothing to reset), 1 declined, 2 bad configuration or the account is in use
by a running bot (stop it first: a running bot would write its account back at the next change).
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..domain.errors import ConfigError
from ..settings.model import load_settings
from ..sim.paper_store import FILES, PaperAccountInUse, erase
from .main import app

EXIT_DECLINED, EXIT_CONFIG = 1, 2


@app.command("paper-reset")
def paper_reset(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    paper_state: Annotated[str | None, typer.Option("--paper-state", help="the account's folder "
                                                    "(QT_PAPER_STATE)")] = None,
    db: Annotated[str | None, typer.Option("--db", help="journal URL (QT_DB_URL): the default account "
                                           "lives beside it")] = None,
) -> None:
    """Erase the in-process paper account: the next `run` starts fresh. The journal keeps its history."""
    from ..runtime.paper_account import paper_state_dir  # here: it brings SQLAlchemy (0.2 s) to every command

    try:
        folder = paper_state_dir(load_settings({"paper_state": paper_state, "db_url": db}))
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    if not any((folder / name).exists() for name in FILES):
        typer.echo(f"no paper account in {folder}: the next run starts a fresh one")
        return
    if not yes and not typer.confirm(f"Erase the paper account in {folder} (positions, orders, wallet)? "
                                     "The journal keeps its history.", default=False):
        typer.echo("kept: nothing was erased", err=True)
        raise typer.Exit(EXIT_DECLINED)
    try:
        removed = erase(folder)
    except PaperAccountInUse as exc:
        typer.echo(f"{exc}: stop the bot first (it would write its account back)", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    typer.echo(f"paper account reset: {len(removed)} file(s) removed from {folder}; "
               "the next run starts with QT_SIM_BALANCE and no position")
