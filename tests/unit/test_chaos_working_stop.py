"""The chaos campaign judges a stop as the bot's monitor does: a stop-limit is no working stop-loss."""

from __future__ import annotations

from decimal import Decimal

import pytest

from quantum_trader.chaos.report import is_working_stop
from quantum_trader.domain.enums import OrderType, PositionSide, Side, TimeInForce, WorkingType
from quantum_trader.domain.orders import AlgoOrder


def algo(kind: OrderType, *, close_position: bool = False, quantity: str = "1") -> AlgoOrder:
    return AlgoOrder(algo_id=1, client_algo_id="x", symbol="BNBUSDT", side=Side.SELL, order_type=kind,
                     position_side=PositionSide.BOTH, time_in_force=TimeInForce.GTC, quantity=Decimal(quantity),
                     trigger_price=Decimal(600), price=Decimal(599) if kind.becomes_limit else Decimal(0),
                     working_type=WorkingType.MARK_PRICE, close_position=close_position, reduce_only=not close_position,
                     price_protect=True, create_time=0, update_time=0)


@pytest.mark.parametrize(("kind", "working"), [(OrderType.STOP_MARKET, True), (OrderType.TRAILING_STOP_MARKET, True),
                                               (OrderType.STOP, False), (OrderType.TAKE_PROFIT_MARKET, False)])
def test_only_market_stops_protect(kind: OrderType, working: bool) -> None:
    """A triggered STOP rests as a limit order that a gap can leave unfilled (the monitor replaces it)."""
    assert is_working_stop(algo(kind), Decimal(1)) is working
