"""Start-up reconciliation of trades: the journal says open, the exchange may say otherwise.

After a crash or a stop, a trade the journal shows open may have been closed on the exchange while
the bot was away (its stop fired, someone closed it by hand). The exchange is the source of truth:
such a trade is closed now with the exit the exchange recorded (away_exits.py: its fills, else the
trade's own filled exit order), or as `unknown` with why, never with an invented price or time. Its fees
and funding keep what the journal says it paid before (its entry's fee, funding received while it was open),
and every trade, closed now or still open, counts the funding the income history lists as paid while the bot
was stopped (away_funding.py).
How each exit was found is journaled as a protection action (`exit_found` / `exit_unknown`).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from ..core.bus import EventBus
from ..core.clock import Clock
from ..domain.enums import ExitReason, OrderType, Side, WorkingType
from ..domain.events import OrderChanged, OrderRejectedEvent, ProtectionAction, TradeClosed
from ..domain.exchange_types import BalanceUpdate, OrderIntent
from ..domain.money import to_decimal
from ..exchange.port import ExchangeReader
from .away_exits import FoundExit, find_exit, on_bot_clock
from .away_funding import count_funding_while_away
from .trades import OpenTrade


async def close_trades_gone_while_away(bus: EventBus, clock: Clock, exchange: ExchangeReader, trades: list[OpenTrade],
                                       income: Sequence[BalanceUpdate] = ()) -> list[OpenTrade]:
    """Publish `TradeClosed` for trades without a position on the exchange; return those still open. `trades`
    carry what they paid before the restart (`OpenTrade.restored`), which their close keeps, and each counts the
    funding among `income` (the income history read at the restart) paid while the bot was stopped, up to its
    exit for a trade closed."""
    open_symbols = {p.symbol for p in await exchange.positions()}
    still_open = []
    for trade in trades:
        opened = trade.opened
        if opened.symbol in open_symbols:
            await count_funding_while_away(bus, trade, income)
            still_open.append(trade)
            continue
        found = await find_exit(exchange, trade, clock.now_ms())
        await count_funding_while_away(bus, trade, income, until_ms=found.time_ms)
        unknown = found.reason is ExitReason.UNKNOWN
        await bus.publish(ProtectionAction(
            symbol=opened.symbol, action="exit_unknown" if unknown else "exit_found", reason=found.note,
            time_ms=clock.now_ms(), trade_id=opened.trade_id, price=None if unknown else found.price))
        await bus.publish(closed_as_found(trade, found, clock.now_ms()))
    return still_open


def closed_as_found(trade: OpenTrade, found: FoundExit, now_ms: int) -> TradeClosed:
    """The close of a trade whose exit was looked up on the exchange: the exchange's exit, with the fees and
    funding the trade paid as the bot knows them as well (`fees_of`; funding is the stream's alone to tell),
    dated on the bot's clock (`on_bot_clock`: the exchange's may be another)."""
    opened = trade.opened
    return TradeClosed(
        trade_id=opened.trade_id, symbol=opened.symbol, direction=opened.direction, quantity=opened.quantity,
        entry_price=opened.entry_price, exit_price=found.price, exit_reason=found.reason,
        realized_pnl=found.realized_pnl, fees=fees_of(trade, found), funding=trade.funding,
        planned_stop=opened.planned_stop, planned_loss=opened.planned_loss, leverage=opened.leverage,
        equity_at_entry=opened.equity, opened_ms=opened.time_ms, time_ms=on_bot_clock(trade, found, now_ms))


def fees_of(trade: OpenTrade, found: FoundExit) -> Decimal:
    """The exchange's fills the exit was found in, each once, with the fee the exchange reports (else the one the
    bot heard for it), and the fills the bot heard that the exchange's list lacks: its entry fill when the venue
    keeps no fills or lists them from too late, say. An order the list names is its to tell (fills the bot made up
    from polling carry ids of their own, so an order's fills are never counted twice)."""
    listed = {f.fill_id: f.fee if f.fee is not None else _heard_fee(trade, f.fill_id) for f in found.fills}
    orders = {f.client_id for f in found.fills if f.client_id}
    heard = [f.fee for f in trade.fills.values() if f.fill_id not in listed and f.client_id not in orders]
    return sum(listed.values(), Decimal(0)) + sum(heard, Decimal(0))


def _heard_fee(trade: OpenTrade, fill_id: str) -> Decimal:
    fill = trade.fills.get(fill_id)
    return Decimal(0) if fill is None else fill.fee


async def settle_pending_intents(bus: EventBus, clock: Clock, exchange: ExchangeReader,
                                 pending: list[dict[str, object]]) -> int:
    """Orders journaled as intents and never answered (a crash between journal and answer): ask the
    exchange for each client id; record what it says, or that the order never arrived. Returns how many."""
    for row in pending:
        symbol, client_id = str(row["symbol"]), str(row["client_id"])
        found = await exchange.query(symbol, client_id)
        if found is not None:
            await bus.publish(OrderChanged(snapshot=found, reason="RECONCILED", time_ms=clock.now_ms()))
            continue
        await bus.publish(OrderRejectedEvent(
            intent=_intent_of(row), trade_id=str(row.get("trade_id") or ""), purpose=str(row.get("purpose") or ""),
            code=None, message="never reached the exchange (found missing at restart)", time_ms=clock.now_ms()))
    return len(pending)


def _intent_of(row: dict[str, object]) -> OrderIntent:
    def dec(key: str) -> Decimal | None:
        value = row.get(key)
        return None if value is None else to_decimal(value, key)

    return OrderIntent(client_id=str(row["client_id"]), symbol=str(row["symbol"]), side=Side(str(row["side"])),
                       type=OrderType(str(row["type"])), quantity=dec("quantity"), price=dec("price"),
                       trigger_price=dec("trigger_price"), reduce_only=bool(row.get("reduce_only")),
                       close_position=bool(row.get("close_position")),
                       working_type=WorkingType(str(row.get("working_type") or "CONTRACT_PRICE")))
