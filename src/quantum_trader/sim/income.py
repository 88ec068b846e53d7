"""The simulator's income history: what `GET /fapi/v1/income` answers, shaped and filtered as Binance does.

Why it exists: the user stream tells only a running bot. A bot restarted after a transfer or a funding payment
made while it was stopped reads Binance's income history: a transfer must not count as a trading loss for the
daily loss limit, and funding belongs to the open trade that paid or received it (runtime/startup.py). The
simulator keeps the rows Binance would list:

- `TRANSFER`: the transfers it makes (`ExchangeSimulator.transfer`), Binance's name for money moved between
  the spot (or funding) wallet and the futures wallet; symbol "".
- `FUNDING_FEE`: each funding payment (sim/settings.py `apply_funding_until`), signed as the wallet moved,
  with the symbol; `tradeId` "".
- `REALIZED_PNL` and `COMMISSION`: read off the fill log when asked (`fill_income`), one row per fill whose
  realised P&L or fee is not zero, `tradeId` the fill's trade id; nothing is stored for them, so a simulator
  that keeps no fill log (`retain_history` off: a paper session, a backtest) lists none, as its userTrades
  lists none.
- `INSURANCE_CLEAR`: the fee of a liquidation's close, in place of its COMMISSION row (Binance's kind for the
  liquidation clearance fee: its documentation glosses the kind as forced liquidation, and traders' guides and
  tools list the fee under it, by symbol). The fill keeps the fee as its commission, as the stream tells it.

Other kinds (rebates, ...) are not modelled, nor is the insurance fund's cover of a bankrupt isolated position
(an ACCOUNT_UPDATE with reason INSURANCE_CLEAR, sim/liquidation.py), for want of evidence of its income row.

Binance keeps three months of history (`RETENTION_MS`): older rows are neither listed nor kept. A paper account
saves the stored rows of those three months and the next `tranId` with the account (`saved_row`,
`restored_history`; sim/persistence.py): a bot restarted after a resume still reads the funding and transfers
made before it, and a new row never reuses an older row's `tranId` (the income reader counts a row once by its
kind and `tranId`). An account saved before this was kept resumes with an empty history, its ids from
`FIRST_TRAN_ID`: it listed no row a reader could have seen.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..domain.fast_init import fast_init
from ..domain.fills import Fill
from ..domain.money import fmt

#: Binance's incomeType for money moved between the spot (or funding) wallet and the futures wallet.
TRANSFER = "TRANSFER"
#: Binance's incomeType for a funding payment (signed: + received, - paid).
FUNDING_FEE = "FUNDING_FEE"
#: A fill's realised P&L, and its fee (negative: paid), each a row of the fill's trade.
REALIZED_PNL = "REALIZED_PNL"
COMMISSION = "COMMISSION"
#: A liquidation's fee (negative: paid), the row of the liquidated symbol's closing trade.
INSURANCE_CLEAR = "INSURANCE_CLEAR"
#: The first `tranId` the simulator gives (Binance's are large integers, unique per income type).
FIRST_TRAN_ID = 9_100_000_001
#: Binance answers the last 7 days when a query names neither startTime nor endTime.
DEFAULT_WINDOW_MS = 7 * 86_400_000
#: Binance keeps the last three months of income history.
RETENTION_MS = 90 * 86_400_000
#: Records older than the retention are dropped once this many more days have passed (not at every record).
_PRUNE_SLACK_MS = 86_400_000


@fast_init
@dataclass(frozen=True, slots=True)
class IncomeRecord:
    """One row of the income history, in the margin asset (USDT)."""

    time_ms: int
    income_type: str
    amount: Decimal
    tran_id: int
    symbol: str = ""
    trade_id: str = ""


@dataclass(slots=True)
class IncomeHistory:
    """The rows the simulator stores (transfers, funding), oldest first, with the next `tranId`."""

    records: list[IncomeRecord] = field(default_factory=list)
    next_tran_id: int = FIRST_TRAN_ID

    def add(self, time_ms: int, income_type: str, amount: Decimal, symbol: str = "") -> IncomeRecord:
        """Record one row now (the simulator's clock only moves forward, so the list stays in time order)."""
        record = IncomeRecord(time_ms, income_type, amount, self.next_tran_id, symbol)
        self.next_tran_id += 1
        self.records.append(record)
        if self.records[0].time_ms < time_ms - RETENTION_MS - _PRUNE_SLACK_MS:  # in time order: cut the head
            del self.records[:bisect.bisect_left(self.records, time_ms - RETENTION_MS, key=lambda r: r.time_ms)]
        return record


    def kept(self, now_ms: int) -> list[IncomeRecord]:
        """The rows Binance still lists at `now_ms` (the last three months), oldest first: what a save keeps."""
        return self.records[bisect.bisect_left(self.records, now_ms - RETENTION_MS, key=lambda r: r.time_ms):]


def saved_row(record: IncomeRecord) -> list[Any]:
    """A stored row as a paper account saves it: [time, kind, amount as exact text, tranId, symbol] (stored rows
    carry no trade id: transfers and funding)."""
    return [record.time_ms, record.income_type, str(record.amount), record.tran_id, record.symbol]


def restored_history(data: Mapping[str, Any] | None) -> IncomeHistory:
    """The history a saved account holds (`{"next_tran_id", "rows"}`); an account saved before income was kept
    has none: an empty history whose ids start at `FIRST_TRAN_ID`."""
    if data is None:
        return IncomeHistory()
    records = [IncomeRecord(int(t), str(kind), Decimal(amount), int(tran_id), str(symbol))
               for t, kind, amount, tran_id, symbol in data["rows"]]
    next_id = max(int(data["next_tran_id"]), records[-1].tran_id + 1 if records else FIRST_TRAN_ID)
    return IncomeHistory(records, next_id)


def fill_income(fills: Iterable[Fill]) -> Iterator[IncomeRecord]:
    """The REALIZED_PNL and COMMISSION (a liquidation's: INSURANCE_CLEAR) rows of fills, in their order: a row per
    non-zero amount, its `tranId` the fill's trade id (unique per income type, as Binance's are)."""
    for fill in fills:
        if fill.realized_pnl != 0:
            yield IncomeRecord(fill.time, REALIZED_PNL, fill.realized_pnl, fill.trade_id, fill.symbol,
                               str(fill.trade_id))
        if fill.commission != 0:
            yield IncomeRecord(fill.time, INSURANCE_CLEAR if fill.liquidation else COMMISSION, -fill.commission,
                               fill.trade_id, fill.symbol, str(fill.trade_id))


def income_json(record: IncomeRecord) -> dict[str, Any]:
    """The row as Binance writes it: `income` is signed decimal text, `info` repeats the kind; `symbol` is empty
    for transfers and `tradeId` for everything but a fill's rows."""
    return {"symbol": record.symbol, "incomeType": record.income_type, "income": fmt(record.amount),
            "asset": "USDT", "info": record.income_type, "time": record.time_ms, "tranId": record.tran_id,
            "tradeId": record.trade_id}


def select_income(history: IncomeHistory, fills: Iterable[Fill], *, now_ms: int, income_type: str | None,
                  symbol: str | None, start_ms: int | None, end_ms: int | None, limit: int,
                  page: int = 1) -> list[IncomeRecord]:
    """Binance's filter: by kind and symbol, in [start, end] (the last 7 days when neither is given; never more
    than the three months kept), oldest first, at most `limit` from the start of the window (from its end when
    only endTime is given). `page` (Binance's, from 1) is the page-th run of `limit` rows counted the same way:
    a client reads a long history page after page. The stored rows and the fill log's are merged by time."""
    if start_ms is None and end_ms is None:
        start_ms = now_ms - DEFAULT_WINDOW_MS
    oldest = max(start_ms if start_ms is not None else 0, now_ms - RETENTION_MS)
    stored: Iterable[IncomeRecord] = history.records
    traded: Iterable[IncomeRecord] = () if income_type in (TRANSFER, FUNDING_FEE) else fill_income(fills)
    rows = [r for r in heapq.merge(stored, traded, key=lambda r: r.time_ms)
            if (income_type is None or r.income_type == income_type) and (symbol is None or r.symbol == symbol)
            and r.time_ms >= oldest and (end_ms is None or r.time_ms <= end_ms)]
    skip = (max(page, 1) - 1) * limit
    if start_ms is None:
        return rows[max(len(rows) - skip - limit, 0):max(len(rows) - skip, 0)]
    return rows[skip:skip + limit]
