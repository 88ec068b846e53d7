"""The simulator server pages its income history as Binance does (`GET /fapi/v1/income`, `page`).

Binance added `page` to the income history in 2023 ("for pagination"), beside `limit` (default 100, max 1000):
page N is the N-th run of `limit` rows of what the other parameters select. The simulator server ignored it, so
a client paging through a long history with `page` read the first page again and again. Tested with unmodified
ccxt against the server on loopback, on 2,500 rows.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from test_simserver_support import ccxt_client, running_server

from quantum_trader.sim.engine import ExchangeSimulator

ROWS = 2_500


def many_transfers(sim: ExchangeSimulator) -> list[int]:
    """ROWS transfers a second apart (alternating in and out); their tranIds, oldest first."""
    for n in range(ROWS):
        sim.transfer(Decimal("5") if n % 2 == 0 else Decimal("-5"))
        sim.advance(1)
    return [r.tran_id for r in sim.state.income.records]


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [int(r["tranId"]) for r in rows]


def test_page_walks_the_selected_rows_limit_at_a_time() -> None:
    with running_server() as server:
        every = many_transfers(server.sim)
        ex = ccxt_client(server.url)
        pages = [ex.fapiPrivateGetIncome({"limit": "1000", "page": str(p)}) for p in (1, 2, 3, 4)]
        assert [len(p) for p in pages] == [1000, 1000, 500, 0]  # was: [1000, 1000, 1000, 1000] (page ignored)
        assert ids(pages[0] + pages[1] + pages[2]) == every  # each row once, oldest first
        assert ids(ex.fapiPrivateGetIncome({"limit": "1000"})) == every[:1000]  # no page: the first
        assert ids(ex.fapiPrivateGetIncome({"page": "2"})) == every[100:200]  # limit's default: 100
        assert ids(ex.fapiPrivateGetIncome({"limit": "5000", "page": "3"})) == every[2000:]  # limit at most 1000
        kind = ex.fapiPrivateGetIncome({"incomeType": "TRANSFER", "limit": "1000", "page": "3"})
        assert ids(kind) == every[2000:]


def test_with_only_an_end_time_pages_count_back_from_it() -> None:
    """Only endTime: the last `limit` rows up to it (as without paging), the page before them next."""
    with running_server() as server:
        every = many_transfers(server.sim)
        ex = ccxt_client(server.url)
        end = str(server.sim.now_ms)
        assert ids(ex.fapiPrivateGetIncome({"endTime": end, "limit": "1000"})) == every[-1000:]
        assert ids(ex.fapiPrivateGetIncome({"endTime": end, "limit": "1000", "page": "2"})) == every[-2000:-1000]
        assert ids(ex.fapiPrivateGetIncome({"endTime": end, "limit": "1000", "page": "3"})) == every[:-2000]
        assert ex.fapiPrivateGetIncome({"endTime": end, "limit": "1000", "page": "4"}) == []
