"""What a backtest leaves open when its data ends, and how its final equity follows from net_pnl.

`net_pnl` counts closed trades only (trading/performance.py), while the equity curve (and the drawdown and
Sharpe ratio drawn from it) holds every open position at its mark. A default LINKUSDT 2026-02 run ended with a
short still open: net_pnl -1698.71 (-16.99 %), but the report's final equity 8268.94 (-17.31 %), the difference
(the short's unrealised -30.41 and its entry fee) in no trade list and no field. Nothing is closed at the end
(that would be a trade the strategy never made); the positions are shown instead, with the identity

    final_equity = start_equity + net_pnl + open_pnl_at_end
    open_pnl_at_end = unrealised_at_end - the open positions' fees so far + their funding so far

which holds to the last digit, since the wallet paid those fees and funding and the equity adds the unrealised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..domain.exchange_types import PositionSnapshot
from ..domain.money import ZERO, fmt, pct
from ..runtime.wiring import Engine
from ..trading.performance import pct_text, usdt_text
from ..trading.trades import OpenTrade


@dataclass(frozen=True, slots=True)
class OpenAtEnd:
    """One position open at the last bar's close, at that close's mark."""

    symbol: str
    side: str
    quantity: Decimal
    entry_price: Decimal
    mark_price: Decimal
    unrealised_pnl: Decimal
    #: Fees and funding paid so far on it (the entry's fee, funding while it was open); zero for a position the
    #: engine has no trade for.
    fees: Decimal
    funding: Decimal
    trade_id: str | None
    opened_ms: int | None

    @property
    def open_pnl(self) -> Decimal:
        """What it adds to the equity beyond net_pnl: unrealised, less the fees paid on it, plus its funding."""
        return self.unrealised_pnl - self.fees + self.funding

    def to_dict(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "side": self.side, "quantity": fmt(self.quantity),
                "entry_price": fmt(self.entry_price), "mark_price": fmt(self.mark_price),
                "unrealised_pnl": usdt_text(self.unrealised_pnl), "fees": usdt_text(self.fees),
                "funding": usdt_text(self.funding), "open_pnl": usdt_text(self.open_pnl),
                "trade_id": self.trade_id, "opened_ms": self.opened_ms}


@dataclass(frozen=True, slots=True)
class EndOfRun:
    """The account when the data ended: its equity (against the run's starting balance), and the positions
    still open."""

    start_equity: Decimal
    final_equity: Decimal
    positions: tuple[OpenAtEnd, ...] = ()

    @property
    def unrealised(self) -> Decimal:
        return sum((p.unrealised_pnl for p in self.positions), ZERO)

    @property
    def open_pnl(self) -> Decimal:
        return sum((p.open_pnl for p in self.positions), ZERO)

    def to_json(self) -> dict[str, Any]:
        """The result's fields: `final_equity` (wallet + unrealised, the equity curve's last point) and its
        `final_return_pct`, `unrealised_at_end`, `open_pnl_at_end` (= final_equity - start_equity - net_pnl)
        and `positions_at_end`."""
        start = self.start_equity
        return {"final_equity": usdt_text(self.final_equity),
                "final_return_pct": pct_text(pct(self.final_equity - start, start)),
                "unrealised_at_end": usdt_text(self.unrealised), "open_pnl_at_end": usdt_text(self.open_pnl),
                "positions_at_end": [p.to_dict() for p in self.positions]}


async def read_end(engine: Engine, start_equity: Decimal) -> EndOfRun:
    """The account and its open positions as the exchange reports them after the last bar (a reading only:
    nothing is published, so nothing changes the run), each joined with the engine's trade for its fees."""
    account = await engine.exchange.account()
    positions = await engine.exchange.positions()
    return EndOfRun(start_equity, account.equity,
                    tuple(_open(p, engine.trades.open) for p in positions if p.amount != 0))


def _open(position: PositionSnapshot, trades: Mapping[str, OpenTrade]) -> OpenAtEnd:
    trade = trades.get(position.symbol)
    opened = None if trade is None else trade.opened
    return OpenAtEnd(symbol=position.symbol, side="long" if position.amount > 0 else "short",
                     quantity=abs(position.amount), entry_price=position.entry, mark_price=position.mark,
                     unrealised_pnl=position.unrealized, fees=ZERO if trade is None else trade.fees,
                     funding=ZERO if trade is None else trade.funding,
                     trade_id=None if opened is None else opened.trade_id,
                     opened_ms=None if opened is None else opened.time_ms)

