"""One-line builders for simulator tests: a deterministic `sim`, positions at a price, algo orders, snapshots.

Every simulator here trades real mainnet instruments (BNBUSDT: tick 0.010, step 0.01, min notional 5;
BTCUSDT: tick 0.10, step 0.001, min notional 100; ETHUSDT: tick 0.01, step 0.001, min notional 20)
from the packaged universe, plus one synthetic symbol, LOTTESTUSDT (see `lot_test_instrument`), on
a 10 000 USDT wallet, seed 7, with prices set to `START_PRICES`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from quantum_trader.domain.enums import PositionSide
from quantum_trader.domain.errors import ExchangeError
from quantum_trader.domain.instrument import Instrument, Liquidity, LotSize
from quantum_trader.domain.orders import AlgoOrder, Order
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.market import PriceUpdate
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

D = Decimal
REAL_SYMBOLS = ("BNBUSDT", "BTCUSDT", "ETHUSDT")
LOT_TEST = "LOTTESTUSDT"
START_PRICES: dict[str, str] = {"BNBUSDT": "600", "BTCUSDT": "100000", "ETHUSDT": "2500", LOT_TEST: "600"}
BALANCE = D("10000")
MAKER = D("0.0002")
TAKER = D("0.0005")
FEE_QUANTUM = D("1E-8")


def lot_test_instrument() -> Instrument:
    """BNBUSDT's filters with LOT_SIZE/MARKET_LOT_SIZE min 0.05, step 0.05 (quantityPrecision stays 2).

    No real symbol in the packaged universe has minQty > 10^-quantityPrecision or a step coarser than
    its precision, so -4004 (below min) and -4023 (off step) are unreachable there without -1111
    coming first; this instrument makes them reachable with otherwise real numbers.
    """
    bnb = load_universe().instrument("BNBUSDT")
    lot = LotSize(D("0.05"), D("100000"), D("0.05"))
    market_lot = LotSize(D("0.05"), D("2000"), D("0.05"))
    return dataclasses.replace(bnb, symbol=LOT_TEST, lot_size=lot, market_lot_size=market_lot)


def make_sim(*, prices: Mapping[str, str] | None = None, liquidity: Mapping[str, Liquidity] | None = None,
             **config: Any) -> ExchangeSimulator:
    """A fresh simulator over the test instruments at `START_PRICES` (deterministic: fixed seed and clock)."""
    universe = load_universe()
    instruments = [universe.instrument(s) for s in REAL_SYMBOLS] + [lot_test_instrument()]
    if liquidity:
        instruments = [dataclasses.replace(i, liquidity=liquidity[i.symbol]) if i.symbol in liquidity else i
                       for i in instruments]
    config.setdefault("balance", BALANCE)
    config.setdefault("seed", 7)
    sim = ExchangeSimulator(instruments, SimConfig(**config))
    sim.set_prices(dict(prices or START_PRICES))
    return sim


@pytest.fixture
def sim() -> ExchangeSimulator:
    return make_sim()


# --- requests -------------------------------------------------------------------------------------
def _wire(params: Mapping[str, Any]) -> dict[str, str]:
    """Wire form: every value a string, booleans as Binance's "true"/"false"."""
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in params.items() if v is not None}


def order(sim: ExchangeSimulator, **params: Any) -> Order:
    """POST /fapi/v1/order; symbol defaults to BNBUSDT, type to MARKET, LIMIT gets timeInForce=GTC."""
    params.setdefault("symbol", "BNBUSDT")
    params.setdefault("type", "MARKET")
    if params["type"] == "LIMIT":
        params.setdefault("timeInForce", "GTC")
    return sim.new_order(_wire(params))


def market(sim: ExchangeSimulator, side: str, qty: Any, symbol: str = "BNBUSDT", **params: Any) -> Order:
    return order(sim, symbol=symbol, side=side, type="MARKET", quantity=qty, **params)


def limit(sim: ExchangeSimulator, side: str, qty: Any, price: Any, symbol: str = "BNBUSDT", **params: Any) -> Order:
    return order(sim, symbol=symbol, side=side, type="LIMIT", quantity=qty, price=price, **params)


def algo(sim: ExchangeSimulator, **params: Any) -> AlgoOrder:
    """POST /fapi/v1/algoOrder with algoType=CONDITIONAL; symbol defaults to BNBUSDT, type to STOP_MARKET."""
    params.setdefault("algoType", "CONDITIONAL")
    params.setdefault("symbol", "BNBUSDT")
    params.setdefault("type", "STOP_MARKET")
    return sim.new_algo_order(_wire(params))


def px(sim: ExchangeSimulator, symbol: str, last: Any, mark: Any = None) -> list[dict[str, Any]]:
    """One market step; `mark=None` moves mark with last."""
    update = PriceUpdate(D(str(last)), D(str(mark)) if mark is not None else D(str(last)))
    return sim.set_prices({symbol: update})


def long(sim: ExchangeSimulator, symbol: str, qty: Any, price: Any, **params: Any) -> Order:
    """Open (or add to) a long with a MARKET BUY after setting last = mark = `price`."""
    px(sim, symbol, price)
    return market(sim, "BUY", qty, symbol, **params)


def short(sim: ExchangeSimulator, symbol: str, qty: Any, price: Any, **params: Any) -> Order:
    px(sim, symbol, price)
    return market(sim, "SELL", qty, symbol, **params)


def rejects(call: Any, code: int, msg: str | None = None) -> ExchangeError:
    """Run `call()` and assert it raised Binance's error `code` (and exact `msg` if given)."""
    with pytest.raises(ExchangeError) as info:
        call()
    assert info.value.code == code, f"expected {code}, got {info.value.code}: {info.value.msg}"
    if msg is not None:
        assert info.value.msg == msg
    return info.value


# --- reading --------------------------------------------------------------------------------------
def snapshot(sim: ExchangeSimulator) -> dict[str, Any]:
    """Everything a rejected request must leave untouched."""
    account = sim.account
    return {
        "wallet": account.wallet_balance,
        "fees": account.total_fees,
        "positions": sorted((s, ps.value, p.amount, p.entry_price, p.isolated_wallet, p.leverage, p.margin_type.value)
                            for (s, ps), p in account.positions.items() if p.amount != 0 or p.isolated_wallet != 0),
        "open_orders": [(o.order_id, o.client_order_id, o.status.value, o.executed_qty) for o in sim.open_orders()],
        "open_algos": [(a.algo_id, a.client_algo_id, a.status.value) for a in sim.open_algo_orders()],
        "events": len(sim.events),
        "fills": len(sim.state.fills),
        "leverage": dict(account.leverage),
        "margin_type": {k: v.value for k, v in account.margin_type.items()},
        "dual_side": account.dual_side,
    }


def events_of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["e"] == kind]


def order_updates(events: list[dict[str, Any]], order_id: int | None = None) -> list[tuple[str, str]]:
    """(execution type, status) of ORDER_TRADE_UPDATE events, optionally of one order."""
    return [(e["o"]["x"], e["o"]["X"]) for e in events_of(events, "ORDER_TRADE_UPDATE")
            if order_id is None or e["o"]["i"] == order_id]


def algo_statuses(events: list[dict[str, Any]], algo_id: int) -> list[str]:
    return [e["o"]["X"] for e in events_of(events, "ALGO_UPDATE") if e["o"]["aid"] == algo_id]


def fills_of(sim: ExchangeSimulator, order_id: int) -> list[Any]:
    return [f for f in sim.state.fills if f.order_id == order_id]


def commission(price: Decimal, qty: Decimal, rate: Decimal) -> Decimal:
    """§8.3: fill notional × rate, reported with 8 decimals (ties half-up: Binance's rule is unconfirmed)."""
    return (price * qty * rate).quantize(FEE_QUANTUM, rounding=ROUND_HALF_UP)


def pos_amount(sim: ExchangeSimulator, symbol: str = "BNBUSDT", side: PositionSide = PositionSide.BOTH) -> Decimal:
    return sim.position(symbol, side).amount
