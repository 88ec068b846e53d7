"""The exchange port: the only things the bot asks of an exchange, in domain types.

Split by what a caller may do. `ExchangeReader` reads (markets, prices, positions, open orders,
account, events); `OrderGateway` changes orders and account settings (place, cancel, leverage,
margin type). Only execution holds a gateway: the monitor, the kill switch, reconciliation and risk
are given a reader, so a call that could change an order from anywhere else is a mypy error, and
staging wires a gateway that sends nothing (exchange/staging_gateway.py). `Exchange` is both, what an
adapter implements.

Adapters (in-process simulator, Binance over ccxt) implement it; the conformance suite in
tests/contract runs the same scenarios against each, so a behaviour the bot relies on is proven on
every venue it can talk to. All calls are async because the backend runs on asyncio; errors are
`domain.errors.ExchangeError` subclasses carrying Binance's code (`OrderRejected` for business
refusals, `RetryableExchangeError` for timeouts, 5xx and 429).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from decimal import Decimal
from typing import Protocol, runtime_checkable

from ..domain.enums import MarginType
from ..domain.exchange_types import (
    AccountSnapshot,
    BalanceUpdate,
    ExchangeEvent,
    FillUpdate,
    HeldMark,
    OrderIntent,
    OrderSnapshot,
    PositionSnapshot,
)
from ..domain.instrument import Instrument
from ..domain.kline import Kline


@runtime_checkable
class ExchangeReader(Protocol):
    """Everything the bot may read from a Binance USDⓈ-M account (one-way position mode)."""

    async def instruments(self) -> Mapping[str, Instrument]:
        """Every tradable symbol with its filters and leverage brackets."""
        ...

    async def mark_prices(self, symbols: Iterable[str] | None = None) -> dict[str, Decimal]:
        """Mark price per symbol (all symbols when `symbols` is None)."""
        ...

    def mark_since(self, symbol: str, since_ms: int) -> HeldMark | None:
        """A mark of `symbol` the adapter already holds and knows to be from after the event the exchange stamped
        `since_ms`, answered without a request (no wait, no request weight); None when it holds none such.

        In process: the simulator's mark now (it is after every event the simulator has emitted: one clock, one
        order of things). Over a URL: the latest mark the market stream delivered (feeds/live_feed.py feeds
        `exchange/mark_board.py`), when stamped later than `since_ms` (an equal stamp does not tell which came
        first); `since_ms` 0 asks whether the stream holds any mark of the symbol at all. The stop witness
        (trading/stop_witness.py) prefers it to `mark_prices`."""
        ...

    async def positions(self, symbol: str | None = None) -> list[PositionSnapshot]:
        """Open positions only (amount != 0); of one symbol when given (a cheaper read)."""
        ...

    async def open_orders(self, symbol: str | None = None) -> list[OrderSnapshot]:
        """Classic AND conditional open orders; conditional ones have `conditional=True`."""
        ...

    async def query(self, symbol: str, client_id: str) -> OrderSnapshot | None:
        """The order with this client id (open or not), or None if the exchange never accepted it."""
        ...

    async def account(self) -> AccountSnapshot:
        ...

    async def account_trades(self, symbol: str, start_ms: int) -> list[FillUpdate]:
        """The account's fills on `symbol` from `start_ms` on, oldest first, each with the client id of its
        order where the venue still knows it ("" otherwise): Binance's userTrades, with allOrders for the
        ids. What a restart reads to learn how a trade closed while the bot was away; [] where the venue
        keeps no record."""
        ...

    async def income(self, start_ms: int, income_type: str | None = None) -> list[BalanceUpdate]:
        """The USDT wallet changes no fill made from `start_ms` on, oldest first, as the user stream tells them:
        money moved into (+) or out of (-) the futures wallet (reason the venue's income type, `is_transfer`) and
        funding payments (reason FUNDING_FEE, with the symbol). Binance's income history, kept to those kinds;
        `income_type`: that kind only (Binance's `incomeType`). What a restart reads so a transfer made while the
        bot was away moves the daily loss limit's reference instead of counting as a loss, and an open trade
        keeps the funding it paid meanwhile; [] where the venue keeps no record."""
        ...

    async def hedge_mode(self) -> bool:
        """Whether the account is in Hedge Mode (Binance's `dualSidePosition`, GET /fapi/v1/positionSide/dual,
        weight 30). The bot trades One-way Mode only (positionSide BOTH, reduceOnly and closePosition orders):
        in Hedge Mode Binance refuses every order it sends (-4061, -1106), so a session refuses to start
        (runtime/startup.py `refuse_hedge_mode`). Read, never changed: switching is the user's decision, and
        Binance refuses it with a position or an order open."""
        ...

    async def klines(self, symbol: str, start_ms: int, end_ms: int) -> list[Kline]:
        """One-minute klines of `symbol` opened in [start_ms, end_ms], oldest first: the live bar feed's REST
        backfill. The last one may still be open when `end_ms` reaches the current minute; [] where the
        venue keeps no kline history (the in-process simulator)."""
        ...

    def events(self) -> AsyncIterator[ExchangeEvent]:
        """Order and position changes from the moment of the call on, until `close()`."""
        ...

    async def close(self) -> None:
        ...


@runtime_checkable
class OrderGateway(Protocol):
    """The only way to change orders and account settings; held by execution alone."""

    async def place(self, intent: OrderIntent) -> OrderSnapshot:
        """Send one order; conditional types go to the Algo Order API."""
        ...

    async def cancel(self, symbol: str, client_id: str) -> OrderSnapshot:
        """Cancel the open order (classic or conditional) with this client id."""
        ...

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        ...

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> None:
        """Idempotent: asking for the margin type already set is not an error."""
        ...


@runtime_checkable
class Exchange(ExchangeReader, OrderGateway, Protocol):
    """A whole adapter: what the composition root builds and splits into a reader and a gateway."""
