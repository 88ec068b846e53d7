"""Reading Binance's income history for the transfers in it (`GET /fapi/v1/income`).

Why: the user stream tells a running bot about a transfer (ACCOUNT_UPDATE reason DEPOSIT, WITHDRAW, ...), but
a transfer made while the bot was stopped is only in the income history, and the daily loss limit must not
count it as a trading loss at the restart (runtime/startup.py `count_transfers_while_away`).

Every kind is asked for in one request (weight 30) rather than one request per transfer kind (six, 180):
a day's fills, fees and funding rarely reach a page's 1,000 rows. A full page is followed by the next, from
its last row's time (Binance pages income by time), a row repeated across pages counting once (its income
type and `tranId` name it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

from ..domain.exchange_types import BalanceUpdate
from . import wire

log = structlog.get_logger(__name__)
#: Rows per income page: Binance's largest `limit`.
INCOME_LIMIT = 1000
#: Pages read at most (10,000 rows, a very busy day); beyond it a warning says what was left unread.
INCOME_PAGES = 10

Call = Callable[[str, Mapping[str, str]], Awaitable[Any]]


async def read_transfers(call: Call, start_ms: int) -> list[BalanceUpdate]:
    """The USDT transfers from `start_ms` on, oldest first; `call` is the adapter's budgeted raw call."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    since = start_ms
    for _ in range(INCOME_PAGES):
        page: list[dict[str, Any]] = await call("fapiPrivateGetIncome",
                                                {"startTime": str(since), "limit": str(INCOME_LIMIT)})
        rows.update(((str(r.get("incomeType")), str(r.get("tranId"))), r) for r in page)
        if len(page) < INCOME_LIMIT:
            break
        since = int(page[-1]["time"])
    else:
        log.warning("income history longer than read: transfers after it are not counted",
                    pages=INCOME_PAGES, since_ms=since)
    found = (wire.transfer_from_income(r) for r in sorted(rows.values(), key=lambda r: int(r["time"])))
    return [update for update in found if update is not None]
