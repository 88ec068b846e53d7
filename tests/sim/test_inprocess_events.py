"""The in-process adapter reads the port's events straight off the simulator's stream events, and gets exactly
what the wire path (the event's Binance dict, parsed by `wire.user_events` as the ccxt adapter parses the
simulator server's stream) gets, Decimal representation included.

A real simulator is driven through fills (partial, maker, taker), cancels, expiries, every algo order's life
(triggered, finished, expired with its position, cancelled, a stop-limit resting), isolated and cross
positions, funding of both, liquidations of both (with the insurance fund's clearing), transfers and prices
that normalise to an exponent. After every step the adapter's `drain()` is compared with the wire path's
reading of the same events at the same moment. The log kept with `retain_history` must be each event's wire
form as it was when emitted, so that an event holds nothing that changes after it.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from conftest import limit, long, make_sim, market, px, short
from test_inprocess_snapshots import THIN_BNB, bnb_steps, exact

from quantum_trader.domain.exchange_types import ExchangeEvent, PositionSnapshot
from quantum_trader.domain.money import to_decimal
from quantum_trader.exchange import wire
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.sim import events as ev
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.events import SimEvent

D = Decimal
EIGHT_HOURS = 8 * 3600


def wire_position_at(sim: ExchangeSimulator) -> Callable[[Any], PositionSnapshot]:
    """The adapter's reading of an ACCOUNT_UPDATE row before it read the events themselves."""
    def at(row: Any) -> PositionSnapshot:
        symbol = str(row["s"])
        same = sim.position(symbol).amount == to_decimal(row["pa"], "pa")
        return wire.position_from_stream(row, mark=sim.mark_price(symbol), leverage=sim.account.leverage_of(symbol),
                                         liquidation=sim.liquidation_price(symbol) if same else None)
    return at


def records(events: list[ExchangeEvent]) -> list[Any]:
    out = []
    for event in events:
        fields = {name: getattr(event, name) for name in event.__dataclass_fields__}
        out.append((type(event).__name__, {k: exact(v) for k, v in fields.items()}))
    return out


class Tour:
    """Steps on one simulator, with the adapter's reading compared to the wire path's after each."""

    def __init__(self, sim: ExchangeSimulator, seen: set[str]) -> None:
        self.sim, self.seen = sim, seen
        self.exchange = InProcessExchange(sim)
        self.exchange.drain()  # starts the record
        self.emitted: list[SimEvent] = []
        self.pending: list[SimEvent] = []
        previous = sim.state.event_sink

        def heard(event: SimEvent) -> None:
            self.emitted.append(event)
            self.pending.append(event)
            if previous is not None:
                previous(event)

        sim.state.event_sink = heard

    def run(self, *steps: Callable[[], Any]) -> None:
        for step in steps:
            step()
            self.check()

    def check(self) -> None:
        fast = self.exchange.drain()
        at = wire_position_at(self.sim)
        slow = [port for event in self.pending for port in wire.user_events(event.wire(), at)]
        assert records(fast) == records(slow)
        for event in self.pending:
            body = event.wire()
            self.seen.add(f"{body['e']} {body.get('o', {}).get('x') or body.get('o', {}).get('X') or ''}"
                          f"{body.get('a', {}).get('m', '')}".strip())
        self.pending = []
        assert [event.wire() for event in self.emitted] == self.sim.events  # nothing changed since emitted


def bnb_tour(seen: set[str]) -> None:
    sim = make_sim()
    tour = Tour(sim, seen)
    tour.run(
        *bnb_steps(sim),
        lambda: sim.transfer(D("250.50")),
        lambda: sim.transfer(D("-100")),
    )


def funding_and_liquidation_tour(seen: set[str]) -> None:
    sim = make_sim()
    tour = Tour(sim, seen)
    tour.run(
        lambda: sim.set_margin_type("BNBUSDT", "ISOLATED"),
        lambda: long(sim, "BNBUSDT", "1", "600"),
        lambda: short(sim, "ETHUSDT", "0.5", "2500.37"),  # cross
        lambda: px(sim, "BNBUSDT", "601", "600.50"),
        lambda: sim.advance(EIGHT_HOURS),  # funding: isolated (its position row) and cross (balance only)
        lambda: sim.apply_bar("BNBUSDT", D(600), D(601), D(560), D(565)),  # the isolated long is liquidated
        lambda: long(sim, "BTCUSDT", "0.4", "100000"),
        lambda: sim.apply_bar("BTCUSDT", D(100000), D(100000), D(70000), D(71000)),  # cross liquidation
        lambda: sim.advance(EIGHT_HOURS),
    )


def thin_book_tour(seen: set[str]) -> None:
    sim = make_sim(liquidity=THIN_BNB)
    tour = Tour(sim, seen)
    tour.run(
        lambda: limit(sim, "BUY", "3", "600.12"),  # partially filled, rests with the remainder
        lambda: limit(sim, "BUY", "3", "600.12", timeInForce="IOC"),  # partly filled, the rest expires
        lambda: px(sim, "BNBUSDT", "600.1"),
        lambda: market(sim, "SELL", "2"),
    )


def test_the_adapters_events_equal_the_wire_paths_in_every_state() -> None:
    seen: set[str] = set()
    bnb_tour(seen)
    funding_and_liquidation_tour(seen)
    thin_book_tour(seen)
    assert {"ORDER_TRADE_UPDATE NEW", "ORDER_TRADE_UPDATE TRADE", "ORDER_TRADE_UPDATE CANCELED",
            "ORDER_TRADE_UPDATE EXPIRED", "ORDER_TRADE_UPDATE CALCULATED", "ALGO_UPDATE NEW",
            "ALGO_UPDATE TRIGGERED", "ALGO_UPDATE FINISHED", "ALGO_UPDATE CANCELED", "ALGO_UPDATE EXPIRED",
            "ACCOUNT_UPDATE ORDER", "ACCOUNT_UPDATE FUNDING_FEE", "ACCOUNT_UPDATE DEPOSIT",
            "ACCOUNT_UPDATE WITHDRAW", "LIQUIDATION"} <= seen, sorted(seen)


def test_account_updates_the_simulator_does_not_send_read_as_the_wire_reads_them() -> None:
    """Binance's other ACCOUNT_UPDATE reasons (a margin transfer with one position row and no `S`, two rows),
    built by hand: the balance change's symbol comes from the single row, as the wire path reads it."""
    sim = make_sim()
    long(sim, "BNBUSDT", "1", "600")
    short(sim, "ETHUSDT", "0.5", "2500")
    rows = [(sim.position(s), D("-1.50"), D("600.30")) for s in ("BNBUSDT", "ETHUSDT")]
    exchange, at = InProcessExchange(sim), wire_position_at(sim)
    for reason, changed, symbol in [("MARGIN_TRANSFER", rows[:1], None), ("ADJUSTMENT", rows, None),
                                    ("ADMIN_DEPOSIT", [], "BNBUSDT"), ("ORDER", rows[:1], None)]:
        event = ev.account_update(reason, sim.now_ms, D("10000.10"), D("9990"), D("12.50"), changed, symbol=symbol)
        fast = exchange._translate(event)
        assert records(fast) == records(wire.user_events(event.wire(), at)), reason
