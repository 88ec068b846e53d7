"""ccxt adapter specifics the conformance suite does not show: URL rewriting and endpoint routing."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from test_exchange_proxy_support import fault_proxy
from test_simserver_support import API_KEY, API_SECRET, running_server

from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.errors import OrderRejected
from quantum_trader.domain.exchange_types import OrderIntent
from quantum_trader.exchange.ccxt_adapter import CcxtExchange
from quantum_trader.exchange.ccxt_client import PRODUCTION_URL, make_client
from quantum_trader.exchange.ids import client_id_for
from quantum_trader.exchange.secrets import Secret


@pytest.mark.parametrize("base", ["http://127.0.0.1:8090", "https://testnet.binancefuture.com"])
def test_every_fapi_url_points_at_the_base(base: str) -> None:
    async def main() -> dict[str, object]:
        client = make_client(base, Secret("k"), Secret("s"), timeout_s=1)
        await client.close()
        return dict(client.urls["api"])

    urls = asyncio.run(main())
    fapi = {k: v for k, v in urls.items() if isinstance(v, str) and "/fapi/" in v}
    assert fapi and all(v.startswith(base + "/fapi/") for v in fapi.values())
    assert not any(isinstance(v, str) and v.startswith(PRODUCTION_URL) for v in urls.values())


def test_production_urls_are_left_alone() -> None:
    async def main() -> str:
        client = make_client(PRODUCTION_URL, Secret("k"), Secret("s"), timeout_s=1)
        await client.close()
        return str(client.urls["api"]["fapiPrivate"])

    assert asyncio.run(main()).startswith(PRODUCTION_URL + "/fapi/")


def test_conditional_orders_use_the_algo_api_and_others_the_order_api() -> None:
    with running_server() as server, fault_proxy(server.url) as proxy:
        async def main() -> None:
            ex = CcxtExchange(proxy.url, api_key=API_KEY, api_secret=API_SECRET)
            try:
                await ex.place(OrderIntent(client_id=client_id_for("A1", "entry"), symbol="BNBUSDT", side=Side.BUY,
                                           type=OrderType.MARKET, quantity=Decimal(1)))
                await ex.place(OrderIntent(client_id=client_id_for("A1", "sl"), symbol="BNBUSDT", side=Side.SELL,
                                           type=OrderType.STOP_MARKET, trigger_price=Decimal(570),
                                           close_position=True))
                with pytest.raises(OrderRejected) as info:
                    await ex.mark_prices(["NOPEUSDT"])
                assert info.value.code == -1121
            finally:
                await ex.close()

        asyncio.run(main())
        assert proxy.count("POST", "/fapi/v1/order") == 1 and proxy.count("POST", "/fapi/v1/algoOrder") == 1
        [algo] = server.sim.open_algo_orders("BNBUSDT")
        assert (algo.client_algo_id, algo.trigger_price) == (client_id_for("A1", "sl"), Decimal(570))
