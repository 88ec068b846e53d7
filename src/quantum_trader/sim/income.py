"""The simulator's income history: what `GET /fapi/v1/income` answers, for the kinds the simulator records.

Why it exists: a bot restarted after a transfer made while it was stopped must tell that money from a
trading loss (the daily loss limit measures the day from a reference that transfers move). The user
stream only tells a running bot; Binance's income history tells a restart. The simulator records the
transfers it makes (`ExchangeSimulator.transfer`) as incomeType `TRANSFER`, Binance's name for money moved
between the spot and the futures wallet. Fills, fees and funding are not recorded here (their history is in
userTrades and the stream), so a query for those kinds answers [] where Binance would list them. Records are
history, not state: a paper account's snapshot does not keep them, as it keeps no fill log either.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..domain.money import fmt

#: Binance's incomeType for money moved between the spot (or funding) wallet and the futures wallet.
TRANSFER = "TRANSFER"
#: The first `tranId` the simulator gives (Binance's are large integers, unique per income type).
FIRST_TRAN_ID = 9_100_000_001
#: Binance answers the last 7 days when a query names neither startTime nor endTime.
DEFAULT_WINDOW_MS = 7 * 86_400_000


@dataclass(frozen=True, slots=True)
class IncomeRecord:
    """One row of the income history, in the margin asset (USDT)."""

    time_ms: int
    income_type: str
    amount: Decimal
    tran_id: int
    symbol: str = ""


def income_json(record: IncomeRecord) -> dict[str, Any]:
    """The row as Binance writes it: `income` is signed decimal text; `symbol` and `tradeId` empty for transfers."""
    return {"symbol": record.symbol, "incomeType": record.income_type, "income": fmt(record.amount),
            "asset": "USDT", "info": record.income_type, "time": record.time_ms, "tranId": record.tran_id,
            "tradeId": ""}


def select_income(records: list[IncomeRecord], *, now_ms: int, income_type: str | None, symbol: str | None,
                  start_ms: int | None, end_ms: int | None, limit: int) -> list[IncomeRecord]:
    """Binance's filter: by kind and symbol, in [start, end] (the last 7 days when neither is given), oldest
    first, at most `limit` from the start of the window (from its end when only endTime is given)."""
    if start_ms is None and end_ms is None:
        start_ms = now_ms - DEFAULT_WINDOW_MS
    rows = [r for r in records
            if (income_type is None or r.income_type == income_type) and (symbol is None or r.symbol == symbol)
            and (start_ms is None or r.time_ms >= start_ms) and (end_ms is None or r.time_ms <= end_ms)]
    return rows[-limit:] if start_ms is None else rows[:limit]
