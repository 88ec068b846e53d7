"""`quantum-trader force-entry SYMBOL --side long|short` and `quantum-trader kill-switch`: ask the running bot.

Both only POST to the bot's API: a forced entry must go through the same risk, execution and
protection path as any signal, and the kill switch must be the bot's own (it also halts new entries),
so neither talks to the exchange from the CLI. The bearer token comes from QT_API_TOKEN.

The bot answers the kill switch only once it has cancelled and closed everything, which against an
exchange answering 503s takes tens of seconds (24 s in a user trial, where the 10 s default timeout made
the CLI say "is it running?" about a bot that was flattening). So the kill switch waits `--timeout`
(90 s by default), and a bot that took the request but has not answered by then is reported as still
flattening, with exit code 6, never as unreachable: the bot carries on with the kill switch whether or
not the CLI is still waiting. A kill switch that finished without a flat account it could confirm, a position
it could not close (`still_open`) or an account it could not read (`positions_unknown`: every position may still
be open), is exit 7 with a line saying which, never 0 ("done"): the bot does not try again by itself (its
monitor keeps each position's stop-loss), so a person or a script has to check and press it again.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

import typer

from .apiclient import ApiError, ApiTimeout, post_json
from .checks import NUMBER, OptionError, bad_input_exits_2, named_as, parse_number
from .main import app
from .positions_cmd import ApiOption, Source, fail

SYMBOL = re.compile(r"^[A-Z0-9]{2,30}\Z")
#: Seconds `kill-switch` waits for the bot's answer: a flatten against a slow exchange (retries, 503s) included.
KILL_SWITCH_TIMEOUT_S = 90.0
#: The variable that sets `kill-switch --timeout`; a bad value from it is named as the variable.
TIMEOUT_ENV = "QT_KILL_SWITCH_TIMEOUT_S"
#: `kill-switch`: the bot took the request but had not finished within the timeout (it is still flattening).
EXIT_STILL_FLATTENING = 6
#: `kill-switch`: finished, but a position is still open or the account could not be read (the state unknown).
EXIT_NOT_FLAT = 7


class EntrySide(StrEnum):
    LONG = "long"
    SHORT = "short"


@app.command("force-entry")
def force_entry(
    symbol: Annotated[str, typer.Argument(help="Binance symbol, e.g. BNBUSDT.", show_default=False)],
    side_text: Annotated[str, typer.Option("--side", help="long or short.", metavar="[long|short]",
                                           show_default=False)],
    api: ApiOption = None,
) -> None:
    """Ask the running bot to open a position through the normal risk and protection path. Exit 1 if refused."""
    name = symbol.strip().upper()
    with bad_input_exits_2():  # one line naming what was wrong, as every other command's input (was typer's box)
        if not SYMBOL.match(name):
            raise OptionError(f"SYMBOL {symbol!r}: give a symbol of uppercase letters and digits, such as BNBUSDT")
        if side_text.strip().lower() not in set(EntrySide):
            raise OptionError(f"--side {side_text}: give long or short")
    side = EntrySide(side_text.strip().lower())
    url = Source.of(api, None).api or ""
    try:
        _, body = post_json(url, "/api/v1/force-entry", {"symbol": name, "side": side.value}, ok=(200, 409))
    except ApiError as exc:
        raise fail(str(exc)) from None
    if body.get("accepted"):
        trade = f" (trade {body['trade_id']})" if body.get("trade_id") else ""
        typer.echo(f"accepted: {side.value} {name}{trade}. {body.get('reason') or ''}".rstrip())
        return
    typer.echo(f"refused: {side.value} {name}: {body.get('reason') or 'no reason given'}", err=True)
    raise typer.Exit(1)


@app.command("kill-switch")
def kill_switch(
    ctx: typer.Context,
    api: ApiOption = None,
    timeout: Annotated[str, typer.Option("--timeout", metavar=NUMBER, envvar=TIMEOUT_ENV,
                                         help="Seconds to wait for the bot to finish flattening, 0.1 or more; past "
                                              "it, exit 6 (it is still flattening).")] = f"{KILL_SWITCH_TIMEOUT_S}",
) -> None:
    """Cancel all orders, close all positions and stop new entries in the running bot.

    Exit 0 done; 1 the bot cannot be reached or refused;
    6 the bot took it but has not finished within --timeout;
    7 it finished, but a position is still open or the account could not be read."""
    with bad_input_exits_2():  # before the bot is asked
        timeout_s = parse_number(timeout, named_as(ctx, "timeout", "--timeout", TIMEOUT_ENV), low=0.1,
                                 unit="seconds", example=KILL_SWITCH_TIMEOUT_S)
    url = Source.of(api, None).api or ""
    try:
        _, body = post_json(url, "/api/v1/kill-switch", timeout_s=timeout_s)
    except ApiTimeout as exc:
        raise still_flattening(exc.timeout_s) from None
    except ApiError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"kill switch: {kill_switch_summary(body)}")
    not_flat = not_flat_line(body)
    if not_flat is not None:
        typer.echo(not_flat, err=True)
        raise typer.Exit(EXIT_NOT_FLAT)


def not_flat_line(body: dict[str, Any]) -> str | None:
    """The line (and exit 7) for a kill switch that ended without a flat account it could confirm, else None."""
    advice = "check `quantum-trader positions` and run `quantum-trader kill-switch` again once the exchange answers"
    if body.get("positions_unknown"):  # what the bot could not read is in its summary, on the line above
        return ("kill switch NOT done: the bot could not read the account, so it cannot tell which positions are "
                f"closed: every one may still be open; {advice}")
    still_open = len(body.get("still_open") or [])
    if still_open:
        return f"kill switch NOT done: {still_open} position{'' if still_open == 1 else 's'} still open; {advice}"
    return None


def still_flattening(timeout_s: float) -> typer.Exit:
    """The truthful line for a kill switch the bot took and is still carrying out (it does not stop when
    the CLI stops waiting), and exit code 6; stopping the bot now would leave the flatten half done."""
    typer.echo(f"kill switch: the bot accepted the kill switch but has not finished within {timeout_s:g} s; it is "
               "still flattening: check `quantum-trader positions` or /health (do not stop the bot meanwhile)",
               err=True)
    return typer.Exit(EXIT_STILL_FLATTENING)


def kill_switch_summary(body: dict[str, Any]) -> str:
    """The bot's own summary of what it did, or in staging what it would have done ("sent nothing (dry
    run): would cancel 2 orders ... and close 2 positions"); counts only from a bot that gives none."""
    halted = "new entries halted" if body.get("entries_halted") else "new entries NOT halted"
    summary = body.get("summary")
    if summary:
        return f"{summary}; {halted}"
    refused = int(body.get("refused") or 0)
    return (f"cancelled {body.get('cancelled_orders', 0)} order(s), closed {body.get('closed_positions', 0)} "
            f"position(s){f', {refused} refused' if refused else ''}, {halted}")


@app.command("resume")
def resume(api: ApiOption = None) -> None:
    """Allow new entries again after a kill switch (the manual reset)."""
    url = Source.of(api, None).api or ""
    try:
        _, body = post_json(url, "/api/v1/resume")
    except ApiError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"trading: {body.get('trading')}")
