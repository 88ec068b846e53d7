"""Start-up reconciliation of trades: the journal says open, the exchange may say otherwise.

After a crash or a stop, a trade the journal shows open may have been closed on the exchange while
the bot was away (its stop fired, someone closed it by hand). The exchange is the source of truth:
such a trade is closed now with the exit the exchange recorded (away_exits.py: its fills, else the
trade's own filled exit order), or as `unknown` with why, never with an invented price or time.
How each exit was found is journaled as a protection action (`exit_found` / `exit_unknown`).
"""

from __future__ import annotations

from decimal import Decimal

from ..core.bus import EventBus
from ..core.clock import Clock
from ..domain.enums import ExitReason, OrderType, Side, WorkingType
from ..domain.events import OrderChanged, OrderRejectedEvent, ProtectionAction, TradeClosed, TradeOpened
from ..domain.exchange_types import OrderIntent
from ..domain.money import to_decimal
from ..exchange.port import ExchangeReader
from .away_exits import FoundExit, find_exit


async def close_trades_gone_while_away(bus: EventBus, clock: Clock, exchange: ExchangeReader,
                                       trades: list[TradeOpened]) -> list[TradeOpened]:
    """Publish `TradeClosed` for trades without a position on the exchange; return those still open."""
    open_symbols = {p.symbol for p in await exchange.positions()}
    still_open = []
    for trade in trades:
        if trade.symbol in open_symbols:
            still_open.append(trade)
            continue
        found = await find_exit(exchange, trade, clock.now_ms())
        unknown = found.reason is ExitReason.UNKNOWN
        await bus.publish(ProtectionAction(
            symbol=trade.symbol, action="exit_unknown" if unknown else "exit_found", reason=found.note,
            time_ms=clock.now_ms(), trade_id=trade.trade_id, price=None if unknown else found.price))
        await bus.publish(closed_as_found(trade, found))
    return still_open


def closed_as_found(trade: TradeOpened, found: FoundExit) -> TradeClosed:
    return TradeClosed(
        trade_id=trade.trade_id, symbol=trade.symbol, direction=trade.direction, quantity=trade.quantity,
        entry_price=trade.entry_price, exit_price=found.price, exit_reason=found.reason,
        realized_pnl=found.realized_pnl, fees=found.fees, funding=Decimal(0), planned_stop=trade.planned_stop,
        planned_loss=trade.planned_loss, leverage=trade.leverage, equity_at_entry=trade.equity,
        opened_ms=trade.time_ms, time_ms=max(found.time_ms, trade.time_ms))


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
