"""Binance USDⓈ-M enums, spelled exactly as the exchange spells them on the wire.

Values are the wire strings so that parsing is `Enum(value)` and rendering is `.value`; a value that
is not a member is, by construction, something Binance would refuse.
"""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL: the direction a fill moves the signed position."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    """The seven futures order types; spot-only types (STOP_LOSS, ...) are deliberately absent."""

    LIMIT = "LIMIT"
    MARKET = "MARKET"
    STOP = "STOP"
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"
    TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"

    @property
    def is_conditional(self) -> bool:
        """Conditional types live on the Algo Order API since 2025-12-09 (-4120 on /fapi/v1/order)."""
        return self not in (OrderType.LIMIT, OrderType.MARKET)

    @property
    def is_stop_family(self) -> bool:
        """STOP-like triggers fire BUY when P >= trigger, SELL when P <= trigger."""
        return self in (OrderType.STOP, OrderType.STOP_MARKET)

    @property
    def is_take_profit_family(self) -> bool:
        return self in (OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_MARKET)

    @property
    def becomes_limit(self) -> bool:
        """Stop-limit types turn into a resting LIMIT order when triggered, and may never fill."""
        return self in (OrderType.STOP, OrderType.TAKE_PROFIT)

    @property
    def allows_close_position(self) -> bool:
        return self in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)


#: Order types that exist on Binance spot but not on futures; futures answer -1116 for them.
SPOT_ONLY_ORDER_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER"})


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"
    GTD = "GTD"
    #: Shown by Binance on TP/SL orders attached to a position; expired when the position closes.
    GTE_GTC = "GTE_GTC"


class WorkingType(StrEnum):
    MARK_PRICE = "MARK_PRICE"
    CONTRACT_PRICE = "CONTRACT_PRICE"


class PositionSide(StrEnum):
    BOTH = "BOTH"
    LONG = "LONG"
    SHORT = "SHORT"


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


class AlgoStatus(StrEnum):
    NEW = "NEW"
    CANCELED = "CANCELED"
    TRIGGERING = "TRIGGERING"
    TRIGGERED = "TRIGGERED"
    FINISHED = "FINISHED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_open(self) -> bool:
        return self in (AlgoStatus.NEW, AlgoStatus.TRIGGERING)


class ExecutionType(StrEnum):
    NEW = "NEW"
    CANCELED = "CANCELED"
    CALCULATED = "CALCULATED"
    EXPIRED = "EXPIRED"
    TRADE = "TRADE"
    AMENDMENT = "AMENDMENT"


class MarginType(StrEnum):
    """Request spelling (ISOLATED / CROSSED); positionRisk reports `wire_lower` ("isolated" / "cross")."""

    ISOLATED = "ISOLATED"
    CROSSED = "CROSSED"

    @property
    def wire_lower(self) -> str:
        return "isolated" if self is MarginType.ISOLATED else "cross"


class NewOrderRespType(StrEnum):
    ACK = "ACK"
    RESULT = "RESULT"


class ExitReason(StrEnum):
    """Why a position closed: the vocabulary of the stop audit."""

    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    EMERGENCY = "emergency"
    LIQUIDATION = "liquidation"
    MANUAL = "manual"
    KILL_SWITCH = "kill_switch"
    #: Closed while the bot was away and the exchange keeps no record of how: no price, time or fee is
    #: invented for it (trading/reconcile.py journals why), and the audit counts it apart, never a breach.
    UNKNOWN = "unknown"
