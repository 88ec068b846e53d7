"""The account's order rate on the live path: the ccxt adapter against the simulator server, whose ORDERS
limits are shrunk to 5 new orders a minute (create_app's `order_limits`) and reported in its exchangeInfo.

The budget learns the limit, counts what it sends and what the server's `X-MBX-ORDER-COUNT-*` headers
say, refuses a new entry at 80 % of the minute (before sending it: the server's count does not move)
while a stop-loss still goes out, and honours the server's -1015 with its Retry-After: new orders wait,
a cancel still goes, the refusal is counted apart and makes the budget degraded, and an entry refused so
is not sent again late by the retrying wrapper.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from test_budget_adapter import run
from test_simserver_support import running_server

from quantum_trader.domain.enums import OrderType, Side, TimeInForce, WorkingType
from quantum_trader.domain.errors import RetryableExchangeError
from quantum_trader.domain.exchange_types import OrderIntent
from quantum_trader.exchange.budget import BudgetRefused
from quantum_trader.exchange.ccxt_adapter import CcxtExchange
from quantum_trader.exchange.retry import RetryingExchange, RetryPolicy

PER_MINUTE = 5


def fresh_minute(needed_s: float = 25.0) -> None:
    """The server's and the budget's minute windows must not roll over during the test."""
    if 60 - time.time() % 60 < needed_s:
        time.sleep(60.2 - time.time() % 60)


def entry(n: int, quantity: str = "0.1") -> OrderIntent:
    return OrderIntent(client_id=f"qt_rate_entry_{n}", symbol="BNBUSDT", side=Side.BUY, type=OrderType.MARKET,
                       quantity=Decimal(quantity))


def resting(n: int) -> OrderIntent:
    return OrderIntent(client_id=f"qt_rate_limit_{n}", symbol="ETHUSDT", side=Side.BUY, type=OrderType.LIMIT,
                       quantity=Decimal("0.05"), price=Decimal("1000"), time_in_force=TimeInForce.GTC)


def stop(n: int, trigger: str = "500") -> OrderIntent:
    return OrderIntent(client_id=f"qt_rate_sl_{n}", symbol="BNBUSDT", side=Side.SELL, type=OrderType.STOP_MARKET,
                       trigger_price=Decimal(trigger), close_position=True, working_type=WorkingType.MARK_PRICE,
                       price_protect=True)


def minute(ex: CcxtExchange) -> dict[str, object]:
    windows: dict[str, dict[str, object]] = ex.budget.snapshot()["order_rate"]["windows"]  # type: ignore[index]
    return windows["1M"]


def test_entries_are_held_back_near_the_order_limit_while_a_stop_still_goes_out() -> None:
    fresh_minute()
    with running_server(order_limits=(300, PER_MINUTE)) as server:
        async def body(ex: CcxtExchange) -> None:
            assert minute(ex)["limit"] == PER_MINUTE  # learnt from exchangeInfo's ORDERS rows
            retrying = RetryingExchange(ex, RetryPolicy(base_delay=5.0))
            await retrying.place(entry(1))  # 1: a position to protect
            await retrying.place(resting(1))
            await retrying.place(resting(2))
            await retrying.place(resting(3))  # 4 of 5: 80 %
            assert minute(ex)["count"] == 4 and ex.budget.orders.sent == 4
            started = time.monotonic()
            with pytest.raises(BudgetRefused) as refused:
                await retrying.place(entry(2))  # not sent, and not retried either
            assert time.monotonic() - started < 1.0
            assert refused.value.entry and refused.value.code == -1015 and "not sent" in refused.value.msg
            assert await ex.query("BNBUSDT", entry(2).client_id) is None  # the exchange never saw it
            placed = await retrying.place(stop(1))  # protection goes out at 80 %: the 5th order
            assert placed.conditional and placed.status.is_open
            assert minute(ex)["count"] == PER_MINUTE  # the server's header agrees (max with our own)
            assert ex.budget.orders.windows[1].count(time.time()) == PER_MINUTE
            snapshot = ex.budget.snapshot()
            assert snapshot["order_rate"]["entries_held_back"] == 1  # type: ignore[index]
            assert snapshot["status"] == "healthy" and snapshot["order_rate_limited"] == 0

        run(server, body)


def test_a_1015_from_the_server_holds_new_orders_until_retry_after_and_cancels_still_go() -> None:
    fresh_minute()
    with running_server(order_limits=(300, PER_MINUTE)) as server:
        async def body(ex: CcxtExchange) -> None:
            for n in range(1, PER_MINUTE + 1):  # another session on the account used the whole minute
                server.call("POST", "/fapi/v1/order", {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT",
                                                       "quantity": "0.05", "price": "1000", "timeInForce": "GTC",
                                                       "newClientOrderId": f"hand_{n}"})
            started = time.monotonic()
            with pytest.raises(RetryableExchangeError) as first:  # the budget does not know yet: sent, refused
                await RetryingExchange(ex, RetryPolicy(base_delay=5.0)).place(entry(2))
            assert first.value.code == -1015 and first.value.http_status == 429
            assert time.monotonic() - started < 1.0  # an entry is not sent again after the Retry-After
            snapshot = ex.budget.snapshot()
            assert snapshot["order_rate_limited"] == 1 and snapshot["rate_limited_429"] == 0
            assert snapshot["status"] == "degraded"
            assert snapshot["order_rate"]["blocked_for_s"] > 0  # type: ignore[index]
            sent = ex.budget.orders.sent
            for intent in (stop(1), entry(1)):
                with pytest.raises(BudgetRefused) as held:
                    await ex.place(intent)  # honoured: the server is not asked again
                assert held.value.blocked and held.value.code == -1015
            assert ex.budget.orders.sent == sent
            assert len(await ex.open_orders("ETHUSDT")) == PER_MINUTE  # reads go on
            cancelled = await ex.cancel("ETHUSDT", "hand_1")  # and a cancel is not a new order
            assert not cancelled.status.is_open

        run(server, body)
