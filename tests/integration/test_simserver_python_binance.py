"""python-binance, unmodified, against the simulator server (binance_futures.md §9.6).

python-binance signs alphabetically sorted params, sends DELETE params in a form body and booleans as
"True": the server must verify raw bytes and parse booleans case-insensitively to accept it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

with warnings.catch_warnings():  # python-binance imports websockets' deprecated legacy client at import time
    warnings.simplefilter("ignore", DeprecationWarning)
    from binance.client import Client
    from binance.exceptions import BinanceAPIException
from test_simserver_support import API_KEY, API_SECRET, RunningServer, running_server


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with running_server() as srv:
        yield srv


@pytest.fixture
def client(server: RunningServer) -> Client:
    c = Client(API_KEY, API_SECRET, ping=False)
    c.FUTURES_URL = f"{server.url}/fapi"
    return c


def _ensure_long(server: RunningServer, client: Client) -> None:
    """Tests may run in any order (xdist): each makes sure of the one-lot BNB long it needs."""
    if server.sim.position("BNBUSDT").amount == 0:
        client.futures_create_order(symbol="BNBUSDT", side="BUY", type="MARKET", quantity=1)


def test_spot_only_stop_loss_is_invalid_order_type(client: Client) -> None:
    with pytest.raises(BinanceAPIException) as caught:
        client.futures_create_order(symbol="BNBUSDT", side="BUY", type="STOP_LOSS", quantity=1, price=640,
                                    stopPrice=640, closePosition=True, workingType="MARK_PRICE", timeInForce="GTC")
    assert (caught.value.status_code, caught.value.code) == (400, -1116)


def test_stop_market_goes_to_algo_api_and_cancels(server: RunningServer, client: Client) -> None:
    _ensure_long(server, client)
    algo = client.futures_create_order(symbol="BNBUSDT", side="SELL", type="STOP_MARKET", stopPrice=570,
                                       closePosition=True, workingType="MARK_PRICE")
    assert algo["algoStatus"] == "NEW" and algo["orderType"] == "STOP_MARKET" and algo["closePosition"] is True
    listed = client.futures_get_open_orders(symbol="BNBUSDT", conditional=True)
    assert [a["algoId"] for a in listed] == [algo["algoId"]]
    assert client.futures_get_open_orders(symbol="BNBUSDT") == []

    cancelled = client.futures_cancel_order(symbol="BNBUSDT", algoId=algo["algoId"])  # DELETE with a form body
    assert cancelled["algoId"] == algo["algoId"]
    assert server.sim.open_algo_orders("BNBUSDT") == []


def test_account_reads(server: RunningServer, client: Client) -> None:
    _ensure_long(server, client)
    assert client.futures_change_leverage(symbol="ETHUSDT", leverage=5)["leverage"] == 5
    rows = client.futures_position_information(symbol="BNBUSDT")
    assert rows[0]["positionAmt"] == "1"
    assert client.futures_account_balance()[0]["asset"] == "USDT"
    assert "totalWalletBalance" in client.futures_account()
    trades = client.futures_account_trades(symbol="BNBUSDT")
    assert trades[0]["side"] == "BUY"
    assert client.futures_get_position_mode() == {"dualSidePosition": False}
    key = client.futures_stream_get_listen_key()
    assert client.futures_stream_keepalive(listenKey=key) == {"listenKey": key}
    assert client.futures_mark_price(symbol="BNBUSDT")["markPrice"] == "600"
