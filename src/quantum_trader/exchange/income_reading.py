"""Reading Binance's income history for what no stream told a stopped bot (`GET /fapi/v1/income`, weight 30).

Why: the user stream tells a running bot about a transfer (ACCOUNT_UPDATE reason DEPOSIT, WITHDRAW, ...) and a
funding payment (reason FUNDING_FEE), but one made while the bot was stopped is only in the income history. At
the restart the daily loss limit must not count such a transfer as a trading loss, and an open trade must keep
the funding it paid or received (runtime/startup.py `read_income_while_away`).

One reading serves both: asked for every kind (no `incomeType`), one request (weight 30) covers the six transfer
kinds and funding, rather than one request per kind (seven, 210); asked for FUNDING_FEE alone (no daily loss
reference to move), it pages through no fills' rows. Either way one request covers every symbol.

Every row is read: a long stop is exactly when there are many (funding on 222 symbols is ~660 rows a day, 4,700
a week, 20,000 a month), and a row left unread is a transfer counted as a trading loss or funding a trade never
gets. A full page is followed by the next, from its last row's time (Binance pages income by time; `startTime`
is inclusive, so the rows of that millisecond come again and count once: their income type and `tranId` name
them). A page whose rows all share one millisecond cannot move the time on: the rest of that millisecond is read
by Binance's `page`. A page the request budget holds back (routine reads are paced over the minute) is asked
again once the budget has room, and the reading goes on from where it was: restarted, a reading longer than the
routine share of a minute would never finish. `INCOME_PAGES` only stops a venue that never stops answering full
pages; reaching it is a warning that says what was left out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

from ..domain.exchange_types import BalanceUpdate
from . import wire
from .budget import BudgetRefused

log = structlog.get_logger(__name__)
#: Rows per income page: Binance's largest `limit`.
INCOME_LIMIT = 1000
#: Pages read at most: a million rows (weight 30,000, about 25 minutes of the routine share of Binance's 2,400 a
#: minute), far beyond Binance's three months of a busy account; it only stops a venue that answers full pages
#: for ever.
INCOME_PAGES = 1000
#: How long a page the request budget held back waits before it is asked again (the routine share grows by
#: 20 weight a second, a page every 1.5 s at Binance's default limit).
BUDGET_WAIT_S = 1.0

Call = Callable[[str, Mapping[str, str]], Awaitable[Any]]
Rows = dict[tuple[str, str], dict[str, Any]]


async def read_income(call: Call, start_ms: int, income_type: str | None = None) -> list[BalanceUpdate]:
    """The USDT transfers and funding payments from `start_ms` on, oldest first (`income_type`: that kind only);
    `call` is the adapter's budgeted raw call."""
    rows: Rows = {}
    since, pages = start_ms, 0
    kind = {} if income_type is None else {"incomeType": income_type}
    while True:
        page = await _page(call, {**kind, "startTime": str(since), "limit": str(INCOME_LIMIT)})
        pages += 1
        _keep(rows, page)
        if len(page) < INCOME_LIMIT:
            break
        last = int(page[-1]["time"])
        if last == since:  # a whole page in one millisecond: the time cannot move on, Binance's `page` can
            pages += await _rest_of_millisecond(call, kind, since, rows)
            last = since + 1
        since = last
        if pages >= INCOME_PAGES:
            log.warning("income history longer than read: a transfer made after since_ms while the bot was stopped "
                        "counts as a trading loss for the daily loss limit, and open trades miss the funding paid "
                        "after it", pages=pages, rows=len(rows), since_ms=since)
            break
    if pages > 1:
        log.info("income history read", pages=pages, rows=len(rows), weight=30 * pages, from_ms=start_ms)
    found = (wire.balance_from_income(r) for r in sorted(rows.values(), key=lambda r: int(r["time"])))
    return [update for update in found if update is not None]


async def _rest_of_millisecond(call: Call, kind: Mapping[str, str], at_ms: int, rows: Rows) -> int:
    """The rows of millisecond `at_ms` after its first full page, page by page; returns the pages read (at most
    `INCOME_PAGES`: a venue that answers every page full must not hold the start-up for ever)."""
    number = 1
    while number < INCOME_PAGES:
        number += 1
        page = await _page(call, {**kind, "startTime": str(at_ms), "endTime": str(at_ms), "page": str(number),
                                  "limit": str(INCOME_LIMIT)})
        _keep(rows, page)
        if len(page) < INCOME_LIMIT:
            break
    return number - 1


async def _page(call: Call, params: Mapping[str, str]) -> list[dict[str, Any]]:
    """One page; asked again while the request budget holds routine reads back (a 429 or a ban is raised)."""
    while True:
        try:
            page: list[dict[str, Any]] = await call("fapiPrivateGetIncome", params)
            return page
        except BudgetRefused as exc:
            if exc.blocked:
                raise
            await asyncio.sleep(min(exc.retry_after, BUDGET_WAIT_S))


def _keep(rows: Rows, page: list[dict[str, Any]]) -> None:
    """A row repeated across pages counts once (Binance's `tranId` is unique within an income type)."""
    rows.update(((str(r.get("incomeType")), str(r.get("tranId"))), r) for r in page)
