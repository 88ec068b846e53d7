"""`quantum-trader run`: the event-driven backend (CONTRACT sections 2 and 3).

Exit codes: 0 clean stop (also after SIGTERM / SIGINT or `--duration`), 2 bad configuration (one line
per bad value, including a journal that cannot be opened: `QT_DB_URL=...` with the password hidden),
3 live mode refused because the readiness checklist does not pass (each failed item with its evidence in
words and what to do, as `quantum-trader readiness` says it). The database URL is never printed
with its password: these lines end up in the system log.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from ..core.logging import configure_logging
from ..domain.errors import ConfigError
from ..notify.redact import secret_parts
from ..settings.model import Settings, load_settings
from ..settings.rules import hide_db_password
from .checks import NUMBER, WHOLE
from .main import app
from .readiness_text import refusal_lines

#: The process's exit codes (runtime/session.py has the same; kept here so `--help` imports no server).
EXIT_CONFIG, EXIT_NOT_READY = 2, 3

Opt = typer.Option
#: The option that sets each setting `run` takes on its command line.
OPTIONS = {"exchange": "--exchange", "feed": "--feed", "symbols": "--symbols", "strategy": "--strategy",
           "speed": "--speed", "duration": "--duration", "api_host": "--host", "api_port": "--port", "db_url": "--db",
           "log_json": "--log-json", "paper_state": "--paper-state"}


@app.command("run")
def run(
    exchange: Annotated[str | None, Opt("--exchange", help="'sim' or a Binance-compatible base URL")] = None,
    feed: Annotated[str | None, Opt("--feed", help="synthetic | replay:PATH | exchange")] = None,
    symbols: Annotated[str | None, Opt("--symbols", help="a count (top N) or a comma list")] = None,
    strategy: Annotated[str | None, Opt("--strategy", help="ai-scanner | sma-cross | manual")] = None,
    speed: Annotated[str | None, Opt("--speed", help="simulated-time factor for synthetic/replay, or 'max'")] = None,
    duration: Annotated[str | None, Opt("--duration", metavar=NUMBER, help="stop cleanly after S seconds of wall time")
                        ] = None,
    host: Annotated[str | None, Opt("--host", help="API host (QT_API_HOST)")] = None,
    port: Annotated[str | None, Opt("--port", metavar=WHOLE, help="API port (QT_API_PORT); 0 picks a free one")
                    ] = None,
    db: Annotated[str | None, Opt("--db", help="journal URL (QT_DB_URL)")] = None,
    log_json: Annotated[bool | None, Opt("--log-json/--log-text", help="JSON log lines")] = None,
    paper_state: Annotated[str | None, Opt("--paper-state", help="folder of the in-process paper account "
                                           "(QT_PAPER_STATE)")] = None,
) -> None:
    """Start the backend: feed, engine, position monitor, journal, API and dashboard."""
    # --port and --duration go to the settings as text, as their variables do: typed `int`/`float`, `--port abc`
    # was typer's boxed usage error; now it is the settings' line naming the option and what to give.
    overrides = {"exchange": exchange, "feed": feed, "symbols": symbols, "strategy": strategy, "speed": speed,
                 "duration": duration, "api_host": host, "api_port": port, "db_url": db, "log_json": log_json,
                 "paper_state": paper_state}
    # A bad value is named as the user gave it: `--exchange=...` for an option, `QT_EXCHANGE=...` for a variable.
    names = {field: OPTIONS[field] for field, value in overrides.items() if value is not None}
    try:
        settings = load_settings(overrides, names=names)
    except ConfigError as exc:
        say_error(exc)
        raise typer.Exit(EXIT_CONFIG) from None
    secrets = [v.get_secret_value() for v in (settings.api_key, settings.api_secret, settings.api_token) if v]
    for url in settings.notify_url_list:  # a notification URL holds its destination's token or password
        secrets += secret_parts(url)
    configure_logging(settings.log_json, settings.log_level, secrets)
    raise typer.Exit(asyncio.run(_run(settings)))


async def _run(settings: Settings) -> int:
    # The server's stack (FastAPI, the engine, ccxt) is imported when a session starts, not for every command.
    from ..api.app import create_app
    from ..runtime.session import Session, install_signal_handlers
    from ..runtime.startup import ExchangeUnavailableError, NotReady

    session = Session(settings, lambda service, metrics, _token: create_app(
        service, metrics, api_token=settings.api_token_value, public_reads=settings.api_public_reads))
    install_signal_handlers(session.stop)
    try:
        return await session.run()
    except NotReady as refused:
        typer.echo("live trading refused: the readiness checklist does not pass on the journal "
                   f"({hide_db_password(settings.db_url)}):", err=True)
        for line in refusal_lines(refused.failed):  # the readiness command's words for each item, and its fix
            typer.echo(line, err=True)
        return EXIT_NOT_READY
    except ConfigError as exc:
        say_error(exc)
        return EXIT_CONFIG
    except ExchangeUnavailableError as exc:  # waited QT_STARTUP_PATIENCE_S (each wait is in the log): one line
        say_error(exc)
        return 1


def say_error(exc: Exception) -> None:
    """Each line of a refusal (one per bad value) after `error: `, as every other command prints its own: `run`
    printed `QT_FEED=replay:/nonexistent: replay path ...` bare, and an outage as `ExchangeUnavailableError: ...`."""
    for line in str(exc).splitlines():
        typer.echo(f"error: {line}", err=True)
