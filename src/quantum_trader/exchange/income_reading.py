"""Reading Binance's income history for what no stream told a stopped bot (`GET /fapi/v1/income`, weight 30).

Why: the user stream tells a running bot about a transfer (ACCOUNT_UPDATE reason DEPOSIT, WITHDRAW, ...) and a
funding payment (reason FUNDING_FEE), but one made while the bot was stopped is only in the income history. At
the restart the daily loss limit must not count such a transfer as a trading loss, and an open trade must keep
the funding it paid or received (runtime/startup.py `read_income_while_away`).

One reading serves both: asked for every kind (no `incomeType`), one request (weight 30) covers the six transfer
kinds and funding, rather than one request per kind (seven, 210); asked for FUNDING_FEE alone (no daily loss
reference to move), it pages through no fills' rows. Either way one request covers every symbol. A full page is
followed by the next, from its last row's time (Binance pages income by time), a row repeated across pages
counting once (its income type and `tranId` name it).
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
#: Pages read at most (10,000 rows, a very busy stretch); beyond it a warning says what was left unread.
INCOME_PAGES = 10

Call = Callable[[str, Mapping[str, str]], Awaitable[Any]]


async def read_income(call: Call, start_ms: int, income_type: str | None = None) -> list[BalanceUpdate]:
    """The USDT transfers and funding payments from `start_ms` on, oldest first (`income_type`: that kind only);
    `call` is the adapter's budgeted raw call."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    since = start_ms
    kind = {} if income_type is None else {"incomeType": income_type}
    for _ in range(INCOME_PAGES):
        page: list[dict[str, Any]] = await call("fapiPrivateGetIncome",
                                                {**kind, "startTime": str(since), "limit": str(INCOME_LIMIT)})
        rows.update(((str(r.get("incomeType")), str(r.get("tranId"))), r) for r in page)
        if len(page) < INCOME_LIMIT:
            break
        since = int(page[-1]["time"])
    else:
        log.warning("income history longer than read: transfers and funding after it are not counted",
                    pages=INCOME_PAGES, since_ms=since)
    found = (wire.balance_from_income(r) for r in sorted(rows.values(), key=lambda r: int(r["time"])))
    return [update for update in found if update is not None]
