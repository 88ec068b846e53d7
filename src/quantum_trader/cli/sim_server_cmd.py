"""`quantum-trader sim-server`: the simulator as a Binance USDⓈ-M compatible API (CONTRACT §3, §5).

Point ccxt or python-binance at it (binance_futures.md §9.5-9.6). Feeds: `manual` (prices move only
through `POST /sim/v1/prices`, the clock with the wall clock), `synthetic` (a seeded 1m random walk from the
universe's typical prices) and `replay:PATH` (Binance public-data kline files), paced by `--speed` (1 = real
time, `max`).
"""

from __future__ import annotations

import socket
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer

from ..core.listen import ListenOptions, bind_listeners
from ..domain.errors import ConfigError, ExchangeError
from ..sim.engine import ExchangeSimulator
from ..sim.state import SimConfig
from ..sim.universe import Universe, load_universe
from ..simserver.feed import (
    BarFeed,
    FeedError,
    parse_feed,
    parse_speed,
    replay_feed,
    replay_symbols,
    synthetic_feed,
)
from .checks import WHOLE, bad_input_exits_2, check_symbol_count, parse_balance, parse_whole
from .main import app

if TYPE_CHECKING:  # the server's stack is imported when it starts, not to build the command line
    from fastapi import FastAPI

SUPPORTED_FEEDS = ("manual", "synthetic", "replay:PATH")
#: `--symbols` when it is left out and there is no replay to take them from: the whole universe.
DEFAULT_SYMBOLS = "222"
#: How a user sets the server's address, for the line a busy or foreign address is refused with.
ADDRESS = ListenOptions(port="--port", host="--host")
#: Each whole-number option's lowest and highest value (None: no limit), unit and example, for `_numbers`.
WHOLE_OPTIONS: dict[str, tuple[int, int | None, str, int]] = {
    "--port": (0, 65535, "", 8090), "--seed": (0, None, "", 7), "--weight-limit": (1, None, "", 2400),
    "--order-limit-10s": (1, None, "orders", 300), "--order-limit-1m": (1, None, "orders", 1200),
    "--ban-seconds": (1, None, "seconds", 120), "--ban-after": (0, None, "", 3),
    "--history-bars": (0, None, "bars", 300),
}


def _simulator_and_feed(kind: str, replay_path: str | None, universe: Universe, balance: Decimal,
                        pace: float | None, seed: int, history_bars: int) -> tuple[ExchangeSimulator, BarFeed | None]:
    """The simulator and its feed. Simulated time starts at the wall clock so timestamps look live (a
    replay starts at its first bar); it then moves with the feed's paced clock (each bar played when it
    reaches the bar's close; a synthetic feed's clock is the server's, scaled by --speed, simserver/feed_pace.py),
    or without a feed (manual) with the wall clock (`create_app(follow_clock=True)`), and with /sim/v1/advance."""
    start_ms = time.time_ns() // 1_000_000
    bar_feed: BarFeed | None = None
    if replay_path is not None:
        bar_feed, start_ms = replay_feed(replay_path, universe.symbols, speed=pace, history_bars=history_bars)
    sim = ExchangeSimulator({s: universe.instrument(s) for s in universe.symbols},
                            SimConfig(balance=balance, start_time_ms=start_ms))
    if kind == "synthetic":
        prices = {s: sim.last_price(s) for s in universe.symbols}
        bar_feed = synthetic_feed(prices, start_ms=start_ms, seed=seed, speed=pace, live=True)
    return sim, bar_feed


def select_universe(spec: str) -> Universe:
    """`--symbols`: a count (the N most liquid) or a comma list of Binance symbols."""
    universe = load_universe()
    text = spec.strip()
    if text.isdigit():
        count = int(text)
        if count < 1:
            raise typer.BadParameter("--symbols count must be at least 1")
        return universe.subset(universe.top(count))
    names = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not names:
        raise typer.BadParameter("--symbols needs a count or a comma list such as BTCUSDT,BNBUSDT")
    try:
        return universe.subset(names)
    except ExchangeError:
        unknown = [n for n in names if n not in universe]
        raise typer.BadParameter(f"unknown symbol(s): {', '.join(unknown)}") from None


def replayed_universe(replay_path: str) -> Universe:
    """`--symbols` left out with a replay: the symbols its files hold that the universe knows (222 served, 7
    replayed, left 215 flat at their start prices in every client's view, and /sim/v1/info said 222)."""
    universe = load_universe()
    names = replay_symbols(replay_path)
    known = [name for name in names if name in universe]
    if not known:
        raise FeedError(f"replay {replay_path}: none of its symbols ({', '.join(names)}) is in the simulator's "
                        f"universe of {len(universe)} perpetuals")
    return universe.subset(known)


def served_text(served: int, feed: BarFeed | None, by_default: bool) -> str:
    """How many symbols the server serves, and how many of them its feed moves when that is not all of them."""
    if feed is None:
        return f"{served} symbols"
    moved = len(feed.symbols)
    if moved == served:
        return f"{served} symbols" + (" (those the replay holds; --symbols to serve others)"
                                      if by_default and feed.name.startswith("replay:") else "")
    return f"{served} symbols ({moved} replayed; the other {served - moved} stay at their start prices)"


@app.command("sim-server")
def sim_server(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[str, typer.Option(metavar=WHOLE, help="TCP port, 0 to 65535 (0: a free one).")] = "8090",
    feed: Annotated[str, typer.Option(
        help="Price feed: manual (POST /sim/v1/prices), synthetic, or replay:PATH (kline file, folder or glob)."
    )] = "manual",
    speed: Annotated[str, typer.Option(help="Feed pace: factor of real time (1 = a 1m bar per minute) or max.")] = "1",
    seed: Annotated[str, typer.Option(metavar=WHOLE, help="Seed of the synthetic feed, 0 or more.")] = "0",
    symbols: Annotated[str | None, typer.Option(
        help="Top N of the universe, or a comma list. Default: 222; with --feed replay:PATH, the symbols the "
             "replay holds (the others would stay flat).", show_default=False)] = None,
    balance: Annotated[str, typer.Option(help="Starting USDT wallet balance.")] = "10000",
    api_key: Annotated[str, typer.Option(help="The one API key accepted (X-MBX-APIKEY).")] = "sim-key",
    api_secret: Annotated[str, typer.Option(help="Its HMAC-SHA256 secret.")] = "sim-secret",
    weight_limit: Annotated[str, typer.Option(metavar=WHOLE, help="Request weight allowed per minute, 1 or more.")
                            ] = "2400",
    order_limit_10s: Annotated[str, typer.Option(metavar=WHOLE, help="New orders allowed per 10 seconds, 1 or more.")
                               ] = "300",
    order_limit_1m: Annotated[str, typer.Option(metavar=WHOLE, help="New orders allowed per minute, 1 or more.")
                              ] = "1200",
    ban_seconds: Annotated[str, typer.Option(metavar=WHOLE, help=(
        "First 418 ban's length, 1 or more (Binance: 2 minutes); each further ban of an IP doubles it, up to 3 days."
    ))] = "120",
    ban_after: Annotated[str, typer.Option(metavar=WHOLE, help=(
        "429s tolerated per IP and minute, 0 or more, before its next over-limit request is banned (418)."))] = "3",
    history_bars: Annotated[str, typer.Option(metavar=WHOLE, help=(
        "replay: play this many first bars (0 or more) as history before the replay's pace applies, so clients that "
        "warm up from klines (the AI scanner needs 241) start at once, as against Binance."))] = "0",
) -> None:
    """Serve the simulator as a Binance USDⓈ-M compatible API."""
    with bad_input_exits_2():  # before the port is taken and anything is built
        n = _numbers({"--port": port, "--seed": seed, "--weight-limit": weight_limit,
                      "--order-limit-10s": order_limit_10s, "--order-limit-1m": order_limit_1m,
                      "--ban-seconds": ban_seconds, "--ban-after": ban_after, "--history-bars": history_bars})
        start_balance = parse_balance(balance)
        if symbols is not None:
            check_symbol_count(symbols)
    try:
        feed_kind, replay_path = parse_feed(feed)
        pace = parse_speed(speed)
    except FeedError as exc:
        typer.echo(f"error: {exc} (supported feeds: {', '.join(SUPPORTED_FEEDS)})", err=True)
        raise typer.Exit(2) from None
    if n["--history-bars"] and (replay_path is None or pace is None):
        typer.echo("error: --history-bars needs --feed replay:PATH (other feeds have no past to play) and a "
                   "--speed (at max every bar plays at once anyway)", err=True)
        raise typer.Exit(2)
    listeners = _listen(host, n["--port"])  # before the simulator is built and its URL announced
    try:
        universe = replayed_universe(replay_path) if symbols is None and replay_path is not None \
            else select_universe(DEFAULT_SYMBOLS if symbols is None else symbols)
        sim, bar_feed = _simulator_and_feed(feed_kind, replay_path, universe, start_balance, pace, n["--seed"],
                                            n["--history-bars"])
    except (typer.BadParameter, FeedError) as exc:
        _close(listeners)
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    from ..simserver.app import create_app

    server_app = create_app(sim, api_key=api_key, api_secret=api_secret, weight_limit=n["--weight-limit"],
                            universe=universe, order_limits=(n["--order-limit-10s"], n["--order-limit-1m"]),
                            feed=bar_feed, ban_base_ms=n["--ban-seconds"] * 1000, ban_after=n["--ban-after"],
                            follow_clock=bar_feed is None)
    history = f" (first {n['--history-bars']} bars as history, unpaced)" if n["--history-bars"] else ""
    bound = listeners[0].getsockname()[1]  # --port 0: the port picked, which clients need
    typer.echo(f"simulator: {served_text(len(universe), bar_feed, symbols is None)}, {start_balance} USDT, feed "
               f"{feed} at speed {speed}{history}, http://{host}:{bound}/fapi", err=True)
    _serve(server_app, listeners)


def _numbers(given: dict[str, str]) -> dict[str, int]:
    """The whole-number options by name, each refusal one `error:` line naming it and what to give. Typed `int`,
    typer refused `abc` in a box and let the rest through: `--port 70000` served on port 4464 (70000 - 65536),
    `--port -1` was refused as a --host that cannot be resolved, `--weight-limit 0` served an exchange that
    answers every request with -1003, and `--seed -1` with `--feed synthetic` was a numpy traceback after the
    banner."""
    return {option: parse_whole(text, option, low=low, high=high, unit=unit, example=example)
            for option, text in given.items() for low, high, unit, example in [WHOLE_OPTIONS[option]]}


def _listen(host: str, port: int) -> list[socket.socket]:
    """The server's sockets, bound and listening; a busy or foreign address is one line and exit 2 (uvicorn
    found it only after the banner, and exited 3)."""
    try:
        return bind_listeners(host, port, ADDRESS)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _serve(server_app: FastAPI, listeners: list[socket.socket]) -> None:
    """Serve on `listeners` until SIGINT or SIGTERM (exit 0); a server that could not start is exit 1."""
    import uvicorn

    from ..simserver.routes_stream import uvicorn_ws_options

    # Binance pings every 3 minutes and drops a connection silent for 10 (StreamSettings); uvicorn sends them.
    server = uvicorn.Server(uvicorn.Config(server_app, log_level="warning", **uvicorn_ws_options(server_app)))
    try:
        server.run(sockets=listeners)
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        pass
    finally:
        _close(listeners)
    if not server.started:
        raise typer.Exit(1)


def _close(listeners: list[socket.socket]) -> None:
    for sock in listeners:
        sock.close()
