"""Simulator control, not part of Binance: read what the server is, move the market, move the clock.

Same API key header as trading, so a test harness and a bot cannot be confused about which account
they drive. Bodies are JSON (`{"prices": {...}}`, `{"seconds": 3600}`); answers carry the events the
step caused, in Binance's user-data-stream shapes. A step is all or nothing: every value of the request
is checked (numbers as JSON numbers or Binance-style decimal strings, prices inside the symbol's price
filter) before anything moves, so a refused step leaves the simulator exactly as it was. Control calls
carry no request weight and are never banned: `/sim/v1/limits` must answer while a client is banned.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..domain import binance_errors as be
from ..domain.errors import ExchangeError, OrderRejected
from ..domain.money import fmt, to_decimal
from ..sim.market import PriceUpdate
from ..sim.params import decimal_text
from .clock_shift import MAX_OFFSET_MS
from .routes_base import Call, RouteTable, Security, ServerState

table = RouteTable()
CONTROL = Security.API_KEY
#: Longest single `/sim/v1/advance` (a leap year): far beyond any test, and sim time stays a sane epoch.
MAX_ADVANCE_SECONDS = Decimal(366 * 24 * 3600)


@table.route("GET", "/sim/v1/info", CONTROL)
def info(server: ServerState, call: Call) -> Any:
    sim = server.sim
    return {
        "simulator": True,
        "simTime": sim.now_ms,
        "serverTime": server.clock(),
        "symbols": len(sim.state.instruments),
        "walletBalance": fmt(sim.wallet_balance),
        "equity": fmt(sim.equity),
        "events": len(sim.events),
        "weightLimit": server.weights.limit,
        "usedWeight": server.weights.used_by(call.client_ip),
        "bannedUntil": server.weights.banned_until(call.client_ip),
        "feed": dict(server.feed_progress) or None,  # a copy: the feed thread updates it outside this lock
    }


@table.route("GET", "/sim/v1/limits", CONTROL)
def limits(server: ServerState, call: Call) -> Any:
    """Request weight per IP this minute, 429s answered, and any 418 ban with its end (epoch ms)."""
    return server.weights.report()


def _number(value: Any, name: str) -> Decimal:
    """A JSON number, or a string spelled as Binance spells decimals; finite (-1130 / -1100 otherwise)."""
    if isinstance(value, str):
        return decimal_text(value, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise be.invalid_data_because(name, f"{value!r} is not a number")
    if isinstance(value, int) and abs(value) >= 10**20:  # Binance's 20 digits; keeps the message short too
        raise be.invalid_data_because(name, "an integer of more than 20 digits is out of range")
    try:
        return to_decimal(value, name)
    except ValueError:
        raise be.invalid_data_because(name, f"{value!r} is not a finite number") from None


def _decimal(value: Any, name: str) -> Decimal:
    result = _number(value, name)
    if result <= 0:
        raise be.invalid_data_because(name, f"{result} is not a positive price")
    return result


def parse_prices(body: Any) -> dict[str, PriceUpdate]:
    """`{"prices": {"S": {"last": .., "mark": ..}}}`, `{"prices": {"S": "920"}}` or `{"S": "920"}`."""
    if not isinstance(body, dict):
        raise be.mandatory_param("prices")
    prices = body.get("prices", body)
    if not isinstance(prices, dict) or not prices:
        raise be.mandatory_param("prices")
    updates: dict[str, PriceUpdate] = {}
    for symbol, value in prices.items():
        if isinstance(value, dict):
            if "last" not in value:
                raise be.mandatory_param(f"prices.{symbol}.last")
            last = _decimal(value["last"], f"prices.{symbol}.last")
            mark = _decimal(value["mark"], f"prices.{symbol}.mark") if value.get("mark") is not None else last
            updates[str(symbol)] = PriceUpdate(last, mark)
        else:
            price = _decimal(value, f"prices.{symbol}.last")
            updates[str(symbol)] = PriceUpdate(price, price)
    return updates


def check_step(server: ServerState, updates: dict[str, PriceUpdate]) -> None:
    """Every symbol known (-1121) and every price inside its filter (-1130), before anything moves."""
    for symbol, update in updates.items():
        try:
            instrument = server.sim.instrument(symbol)
        except ExchangeError:
            raise OrderRejected(-1121, f"Invalid symbol '{symbol}' in prices: not traded by this simulator.") from None
        update.check(instrument, f"prices.{symbol}")


@table.route("POST", "/sim/v1/prices", CONTROL)
def set_prices(server: ServerState, call: Call) -> Any:
    """One market step: triggers and fills run; the step is recorded for klines."""
    updates = parse_prices(call.json)
    check_step(server, updates)  # all or nothing: a refused step must not leave half a step applied
    events = server.sim.set_prices(updates)
    server.record_prices(updates)
    return {"events": events}


@table.route("POST", "/sim/v1/transfer", CONTROL)
def transfer(server: ServerState, call: Call) -> Any:
    """Money into (`amount` > 0) or out of (< 0) the futures wallet, as a transfer from or to the spot wallet:
    the user stream hears an ACCOUNT_UPDATE with reason DEPOSIT or WITHDRAW (how a bot must tell a transfer
    from a trading loss)."""
    body = call.json if isinstance(call.json, dict) else {}
    if "amount" not in body:
        raise be.mandatory_param("amount")
    raw = body["amount"]
    out = isinstance(raw, str) and raw.startswith("-")  # Binance's decimal text has no sign; a transfer out has
    amount = _number(raw[1:] if out else raw, "amount")
    events = server.sim.transfer(-amount if out else amount)
    return {"events": events, "wallet": fmt(server.sim.wallet_balance)}


@table.route("POST", "/sim/v1/advance", CONTROL)
def advance(server: ServerState, call: Call) -> Any:
    """Move the simulated clock `seconds` on (funding applies). Where it follows the server's clock (`--feed
    manual`) it is then ahead of it and holds until the server's clock passes it: time never goes back.

    Refused (409) while a feed has bars to play: the market's clock is the feed's. Moved anyway, every bar on the
    way closed flat at the last price (streamed `"x": true` so), and the feed then played those same bars with
    their own prices: REST klines changed under the closed bars a client had, and what the bars triggered was
    stamped at the moved clock, after them."""
    body = call.json if isinstance(call.json, dict) else {}
    if "seconds" not in body:
        raise be.mandatory_param("seconds")
    seconds = _number(body["seconds"], "seconds")
    if not 0 <= seconds <= MAX_ADVANCE_SECONDS:
        raise be.invalid_data_because("seconds", f"{seconds} is outside 0..{MAX_ADVANCE_SECONDS}")
    owner = server.feed_owns_clock() if server.feed_owns_clock is not None and seconds > 0 else None
    if owner is not None:
        raise be.invalid_data_now("seconds", f"{owner}, and the market's clock is the feed's: moving it would close "
                                  "the bars on the way flat at the last price, bars the feed plays later with their "
                                  "own prices. Step the clock on a server without a feed (--feed manual), or play "
                                  "the feed faster (--speed)")
    events = server.sim.advance(seconds)
    return {"events": events, "simTime": server.sim.now_ms}


@table.route("POST", "/sim/v1/clock", CONTROL)
def shift_clock(server: ServerState, call: Call) -> Any:
    """The server's clock `offset_ms` from the one it was built with (clock_shift.py): a client whose clock is
    off by as much meets Binance's -1021. `{"offset_ms": 0}` puts it back. Set back, the clock holds where it
    stands for `hold_ms` (time never goes back: the simulator has stamped up to it). Answers as GET does."""
    shift = server.clock_shift
    if shift is None:
        raise be.invalid_data_because("offset_ms", "this server's clock cannot be shifted")
    body = call.json if isinstance(call.json, dict) else {}
    if "offset_ms" not in body:
        raise be.mandatory_param("offset_ms")
    raw = body["offset_ms"]
    if isinstance(raw, bool) or not isinstance(raw, int) or abs(raw) > MAX_OFFSET_MS:
        raise be.invalid_data_because("offset_ms", f"{raw!r} is not a whole number of ms within ±{MAX_OFFSET_MS}")
    shift.shift_to(raw)
    return clock_now(server, call)


@table.route("GET", "/sim/v1/clock", CONTROL)
def clock_now(server: ServerState, call: Call) -> Any:
    """The offset asked for, serverTime, and, after a shift back, how long serverTime still holds (`hold_ms`)
    and how far it stands from the unshifted clock meanwhile (`effective_offset_ms`)."""
    shift, now = server.clock_shift, server.clock()
    if shift is None:
        return {"offset_ms": 0, "serverTime": now, "effective_offset_ms": 0, "hold_ms": 0}
    hold = shift.hold_ms()
    return {"offset_ms": shift.offset_ms, "serverTime": now, "effective_offset_ms": shift.offset_ms + hold,
            "hold_ms": hold}
