"""A bot stopped for a long time reads every row of the income history at its restart, within the request budget.

Found by a demanding user's arithmetic: the reading stopped after 10 pages (10,000 rows) with a warning, and a
bot holding 222 symbols pays funding on each three times a day: ~4,700 rows a week, ~20,000 a month. The rows
past the tenth page (the newest) were never read: a transfer made then counted as a trading loss for the daily
loss limit, and open trades missed that funding. Worse, against a request budget that paces routine reads (the
simulator server's paper path, with ccxt's own pacing off), the seventh page was refused at the start of a
minute and the whole reading failed. Now every page is read, a page the budget holds back is asked again when
the budget has room, and a millisecond holding more than a page of rows is read by Binance's `page`.

The real ccxt adapter against the simulator server on loopback, its income history built by the simulator itself:
a long on each of 222 symbols and 17 days of funding (11,322 rows).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from decimal import ROUND_UP, Decimal
from typing import TypeVar

import pytest
from structlog.testing import capture_logs
from test_simserver_support import API_KEY, API_SECRET, running_server

from quantum_trader.domain.exchange_types import FUNDING_FEE, BalanceUpdate
from quantum_trader.exchange import income_reading
from quantum_trader.exchange.ccxt_adapter import CcxtExchange
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

T = TypeVar("T")
DAY_S = 86_400
PAGE_WEIGHT = 30
INCOME_PAGE = income_reading.INCOME_LIMIT


def funding_on_many_symbols(symbols: int) -> ExchangeSimulator:
    """A small long on each of the universe's first `symbols` symbols (the bot's 222 by default), at their
    typical prices: every funding time pays one row per symbol, all in the same millisecond."""
    universe = load_universe()
    instruments = {s: universe.instrument(s) for s in universe.top(symbols)}
    sim = ExchangeSimulator(instruments, SimConfig(start_time_ms=time.time_ns() // 1_000_000,
                                                   balance=Decimal("1000000"), default_leverage=5))
    sim.set_prices({s: str(i.typical_price) for s, i in instruments.items()})
    for symbol, inst in instruments.items():
        steps = (2 * inst.min_notional / sim.last_price(symbol) / inst.step_size).to_integral_value(ROUND_UP)
        quantity = max(steps * inst.step_size, inst.market_lot_size.min_qty)
        sim.new_order({"symbol": symbol, "side": "BUY", "type": "MARKET", "quantity": str(quantity)})
    return sim


def read_with_the_adapter(url: str, body: Callable[[CcxtExchange], Awaitable[T]]) -> T:
    """The ccxt adapter as paper sessions build it (ccxt's own pacing off: the request budget paces), its budget's
    minute just begun (the routine share then admits 200 weight and grows by 20 a second)."""
    async def main() -> T:
        ex = CcxtExchange(url, api_key=API_KEY, api_secret=API_SECRET, throttle=False)
        try:
            await ex.instruments()
            offset = time.time() % 60
            ex.budget.clock = lambda: time.time() - offset
            return await body(ex)
        finally:
            await ex.close()

    return asyncio.run(main())


def as_rows(updates: list[BalanceUpdate]) -> list[tuple[str | None, int, Decimal]]:
    return [(u.symbol, u.time_ms, u.change) for u in updates]


def test_seventeen_days_of_funding_on_222_symbols_are_read_whole_within_the_budget() -> None:
    sim = funding_on_many_symbols(222)
    start = sim.now_ms
    sim.advance(17 * DAY_S)
    listed = [(r.symbol, r.time_ms, r.amount) for r in sim.state.income.records]
    assert len(listed) == 222 * 3 * 17 == 11_322 and {r.income_type for r in sim.state.income.records} == {FUNDING_FEE}
    with running_server(sim) as server:
        async def body(ex: CcxtExchange) -> tuple[list[BalanceUpdate], int, int, float]:
            sent, began = ex.budget.sent, time.monotonic()
            found = await ex.income(start)
            return found, ex.budget.sent - sent, ex.budget.refused["routine"], time.monotonic() - began

        with capture_logs() as logs:
            found, pages, held_back, seconds = read_with_the_adapter(server.url, body)
    assert sorted(as_rows(found)) == sorted(listed)  # was: 8,992 rows after 10 pages, or the 7th page refused
    assert not [e for e in logs if e["log_level"] == "warning"]
    # Pages overlap at their last millisecond (a funding time's 222 rows): a page brings at least 778 new rows.
    assert math.ceil(len(listed) / INCOME_PAGE) <= pages <= math.ceil(len(listed) / (INCOME_PAGE - 222)) + 1
    assert held_back > 0  # the budget held pages back and the reading went on from where it was
    print(f"\n{len(listed)} rows: {pages} pages, weight {PAGE_WEIGHT * pages}, {seconds:.1f} s, "
          f"{held_back} refusals waited out")


def test_a_millisecond_with_more_rows_than_a_page_is_read_by_page_number() -> None:
    """No realistic account has 1,000 rows in one millisecond, but a reading by time alone could not move past one:
    it would ask for the same page until its cap, and miss the rest."""
    with running_server(weight_limit=24_000) as server:
        sim = server.sim
        start = sim.now_ms
        for n in range(2_345):  # all at one instant
            sim.transfer(Decimal(n % 7 + 1))
        sim.advance(5)
        sim.transfer(Decimal("-3"))
        listed = [(None, r.time_ms, r.amount) for r in sim.state.income.records]

        async def body(ex: CcxtExchange) -> tuple[list[BalanceUpdate], int]:
            sent = ex.budget.sent
            found = await ex.income(start)
            return found, ex.budget.sent - sent

        found, pages = read_with_the_adapter(server.url, body)
    assert as_rows(found) == listed and len(listed) == 2_346
    assert pages == 4  # 1,000 by time, 1,000 and 345 by page number in that millisecond, the last row by time


def test_a_reading_stopped_by_the_page_cap_says_what_was_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(income_reading, "INCOME_PAGES", 2)
    monkeypatch.setattr(income_reading, "INCOME_LIMIT", 10)
    with running_server(weight_limit=24_000) as server:
        sim = server.sim
        start = sim.now_ms
        for _ in range(30):
            sim.transfer(Decimal("1"))
            sim.advance(1)
        with capture_logs() as logs:
            found = read_with_the_adapter(server.url, lambda ex: ex.income(start))
    assert len(found) == 19  # two pages of 10, the second repeating the first one's last row
    [warning] = [e for e in logs if e["log_level"] == "warning"]
    assert "counts as a trading loss" in str(warning["event"]) and "miss the funding" in str(warning["event"])
    assert warning["since_ms"] == found[-1].time_ms and warning["pages"] == 2
