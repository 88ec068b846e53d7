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

A 429 or a ban (418) in the middle is not the budget's to wait out: it leaves the reading (the retry layer waits
out its Retry-After, exchange/retry.py, patiently at start-up) and the reading is asked again. It then resumes
from the page it had reached (`IncomeReading`, kept by the adapter), keeping the rows already read: restarted
from page 1, a reading of fifteen pages struck at its tenth would ask for 25, and could meet the next 429 before
it ever got further. Resuming is safe however long the wait: rows only join the history at the time they are
made, after the last one read, and the next page starts at that row's millisecond, which it reads again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.loggers import get_logger
from ..domain.exchange_types import BalanceUpdate
from . import wire
from .budget import BudgetRefused

log = get_logger(__name__)
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


@dataclass
class IncomeReading:
    """How far one reading of the income history from `start_ms` (`income_type`: that kind only) has got: the
    next page to ask for (from `since`, by time; `page` > 1: Binance's page number inside millisecond `since`,
    whose first page was full of it), the pages read and the rows kept. A reading a 429 or a ban interrupted
    goes on from here when it is asked again (`read_income`)."""

    start_ms: int
    income_type: str | None
    since: int
    page: int = 1
    pages: int = 0
    rows: Rows = field(default_factory=dict)
    done: bool = False

    @classmethod
    def begin(cls, start_ms: int, income_type: str | None) -> IncomeReading:
        return cls(start_ms, income_type, since=start_ms)

    def answers(self, start_ms: int, income_type: str | None) -> bool:
        """Whether this unfinished reading is the one asked for again (the retry of an interrupted one)."""
        return not self.done and (self.start_ms, self.income_type) == (start_ms, income_type)

    def params(self) -> dict[str, str]:
        """The next page's request: by time, or by page number inside one millisecond."""
        kind = {} if self.income_type is None else {"incomeType": self.income_type}
        within = {} if self.page == 1 else {"endTime": str(self.since), "page": str(self.page)}
        return {**kind, "startTime": str(self.since), **within, "limit": str(INCOME_LIMIT)}

    def take(self, page: list[dict[str, Any]]) -> None:
        """Keep a page's rows and move on: a short page ends the reading (by time) or its millisecond (by
        page number); a full page whose rows all share `since` cannot move the time on, Binance's `page` can."""
        self.pages += 1
        self.rows.update(((str(r.get("incomeType")), str(r.get("tranId"))), r) for r in page)  # each row once
        full = len(page) >= INCOME_LIMIT
        if self.page > 1:
            self.page, self.since = (self.page + 1, self.since) if full else (1, self.since + 1)
        elif not full:
            self.done = True
        elif int(page[-1]["time"]) == self.since:  # a whole page in one millisecond
            self.page = 2
        else:
            self.since = int(page[-1]["time"])
        if not self.done and self.pages >= INCOME_PAGES:
            log.warning("income history longer than read: a transfer made after since_ms while the bot was stopped "
                        "counts as a trading loss for the daily loss limit, and open trades miss the funding paid "
                        "after it", pages=self.pages, rows=len(self.rows), since_ms=self.since)
            self.done = True

    def found(self) -> list[BalanceUpdate]:
        """The transfers and funding among the rows, oldest first."""
        rows = (wire.balance_from_income(r) for r in sorted(self.rows.values(), key=lambda r: int(r["time"])))
        return [update for update in rows if update is not None]


class IncomeReader:
    """An adapter's income readings: one a 429 or a ban interrupted is resumed by the next call asking for the
    same reading (the retry layer's, after the Retry-After); any other call starts afresh."""

    def __init__(self, call: Call) -> None:
        self._call = call
        self._last: IncomeReading | None = None

    async def read(self, start_ms: int, income_type: str | None = None) -> list[BalanceUpdate]:
        if self._last is None or not self._last.answers(start_ms, income_type):
            self._last = IncomeReading.begin(start_ms, income_type)
        return await read_income(self._call, self._last)


async def read_income(call: Call, reading: IncomeReading) -> list[BalanceUpdate]:
    """The USDT transfers and funding payments `reading` asks for, oldest first, read from where it has got;
    `call` is the adapter's budgeted raw call. A 429 or a ban raises, `reading` keeping its place."""
    if reading.pages:
        log.info("income history reading resumed", pages_read=reading.pages, rows=len(reading.rows),
                 since_ms=reading.since, page=reading.page)
    while not reading.done:
        reading.take(await _page(call, reading.params()))
    if reading.pages > 1:
        log.info("income history read", pages=reading.pages, rows=len(reading.rows), weight=30 * reading.pages,
                 from_ms=reading.start_ms)
    return reading.found()


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
