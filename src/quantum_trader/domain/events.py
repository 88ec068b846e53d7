"""The events and commands that travel on the engine's bus.

Components never call each other; they publish these and subscribe to them, so the wiring of a
session lives in one place (runtime/session.py) and a backtest, a paper session and a live session
run the same objects. Events say what happened (past tense); commands say what is wanted. Every
event carries `time_ms` from the injected clock, never from the wall, so a replay is deterministic.

Money is Decimal; `confidence` is a probability in [0, 1] and stays a float.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from .enums import ExitReason as ExitReason  # re-exported: events and the audit speak the same words
from .enums import Side
from .exchange_types import OrderIntent, OrderSnapshot, PositionSnapshot
from .fast_init import fast_init


class Direction(StrEnum):
    """The side of a position (not of an order): CONTRACT and CLI say `long` / `short`."""

    LONG = "long"
    SHORT = "short"

    @property
    def entry_side(self) -> Side:
        return Side.BUY if self is Direction.LONG else Side.SELL

    @property
    def exit_side(self) -> Side:
        return self.entry_side.opposite

    @property
    def sign(self) -> int:
        return 1 if self is Direction.LONG else -1


#: `Signal.source` of a forced entry (`force-entry`, POST /api/v1/force-entry): a person's order, not a strategy's
#: signal. Its confidence (1.0) is made up, so readiness counts it as proof of the protection path only.
FORCED = "force"


# --- market ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BarClosed:
    """A bar of one symbol has closed; prices are on the symbol's tick."""

    symbol: str
    open_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    time_ms: int


@fast_init
@dataclass(frozen=True, slots=True)
class Signal:
    """A strategy wants a position; `source` is the strategy's name, or `FORCED` (`force`) for a forced entry."""

    symbol: str
    direction: Direction
    confidence: float
    source: str
    time_ms: int
    #: The price the strategy saw (bar close); sizing uses the exchange's price, not this.
    reference_price: Decimal | None = None
    reason: str = ""
    #: A model's signal (the AI scanner): expected net return per trade after fees as a fraction of notional,
    #: the model file's version, and the features that moved the score most as (name, contribution) pairs.
    expected_value: float | None = None
    model_version: str | None = None
    reasons: tuple[tuple[str, float], ...] = ()


@fast_init
@dataclass(frozen=True, slots=True)
class RiskDecision:
    """Risk's answer to a signal: approved with a size and planned stop, or refused with a reason."""

    signal: Signal
    approved: bool
    reason: str
    time_ms: int
    trade_id: str | None = None
    quantity: Decimal | None = None
    planned_stop: Decimal | None = None
    planned_take_profit: Decimal | None = None
    #: USDT lost if the stop fills at its price (fees and expected slippage included).
    planned_loss: Decimal | None = None
    leverage: int | None = None
    #: The account's equity the size was computed from: the trade's equity at entry, so its planned loss
    #: is exactly the risk setting's share of it, and recording an opened trade needs no further read.
    equity: Decimal | None = None
    #: A refusal's reason in one word (`cooldown`, `stop_beyond_liquidation`, ...): what a backtest counts
    #: refusals by, since the words of `reason` carry prices and times. None when approved.
    refusal_kind: str | None = None


# --- orders ---------------------------------------------------------------------------------------
@fast_init
@dataclass(frozen=True, slots=True)
class OrderIntentRecorded:
    """Write-ahead: published (and journaled) *before* the order leaves the process."""

    intent: OrderIntent
    trade_id: str
    purpose: str
    time_ms: int


@dataclass(frozen=True, slots=True)
class OrderNotSent:
    """The gateway deliberately sent nothing (staging): `reason` says why the bot would have sent it."""

    intent: OrderIntent
    trade_id: str
    purpose: str
    reason: str
    time_ms: int


@dataclass(frozen=True, slots=True)
class CancelNotSent:
    """A cancellation the gateway deliberately did not send (staging), with why the bot wanted it."""

    symbol: str
    client_id: str
    trade_id: str | None
    reason: str
    time_ms: int


@dataclass(frozen=True, slots=True)
class OrderRejectedEvent:
    """The exchange (or the adapter) refused an intent; `code` is Binance's code when there is one."""

    intent: OrderIntent
    trade_id: str
    purpose: str
    code: int | None
    message: str
    time_ms: int


@dataclass(frozen=True, slots=True)
class EntryNotOpened:
    """An approved entry that opened no position: its order was not sent (a gateway that sends nothing, a journal
    that could not record the intent, or the exchange refused the symbol's leverage or margin type first), the
    exchange refused it, or it filled nothing.

    Risk holds a slot for an entry from its approval; this is what frees it (a dry run's entry opens nothing,
    so staging counts only the positions the exchange reports). A position that opened after all is reported
    by the exchange (`PositionChanged`) and counted from there. `reason` says what became of the order, in
    the words the force-entry answer shows."""

    trade_id: str
    symbol: str
    #: False when the entry never left the process (a dry run, a journal refusal, its symbol's leverage or margin
    #: type refused): the exchange never saw the order.
    sent: bool
    #: True when the gateway sends nothing by design (staging): the order is journaled as what would be sent.
    dry_run: bool
    reason: str
    time_ms: int


@fast_init
@dataclass(frozen=True, slots=True)
class OrderChanged:
    """An order's state as the exchange reports it (placement answer, read-back, or stream update)."""

    snapshot: OrderSnapshot
    reason: str
    time_ms: int


@fast_init
@dataclass(frozen=True, slots=True)
class FillEvent:
    """Part or all of an order traded; `fill_id` makes journaling idempotent."""

    fill_id: str
    symbol: str
    client_id: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    realized_pnl: Decimal
    time_ms: int
    maker: bool = False


@fast_init
@dataclass(frozen=True, slots=True)
class PositionChanged:
    snapshot: PositionSnapshot
    reason: str
    time_ms: int


# --- trades and protection ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TradeOpened:
    trade_id: str
    symbol: str
    direction: Direction
    quantity: Decimal
    entry_price: Decimal
    planned_stop: Decimal | None
    planned_take_profit: Decimal | None
    planned_loss: Decimal | None
    leverage: int
    equity: Decimal
    time_ms: int
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class TradeClosed:
    """A position went flat; the figures the stop audit needs, in Decimal.

    An `unknown` exit (closed while the bot was away, and the exchange kept no record of it:
    trading/away_exits.py) has no exit price and no realised P&L: both are None rather than a stand-in
    (the entry price, zero) that a sum or a chart would take for a fact. Its `time_ms` is then when the
    bot found the trade closed (never before the entry), not when it closed, which nobody knows."""

    trade_id: str
    symbol: str
    direction: Direction
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal | None
    exit_reason: ExitReason
    realized_pnl: Decimal | None
    fees: Decimal
    funding: Decimal
    planned_stop: Decimal | None
    planned_loss: Decimal | None
    leverage: int
    equity_at_entry: Decimal
    opened_ms: int
    time_ms: int

    @property
    def exit_known(self) -> bool:
        """False for an exit of which nothing is known but that it happened (no price, no P&L)."""
        return self.exit_price is not None and self.realized_pnl is not None


@fast_init
@dataclass(frozen=True, slots=True)
class ProtectionAction:
    """Something done to keep a position protected (placed, verified, replaced, emergency exit ...)."""

    symbol: str
    action: str
    reason: str
    time_ms: int
    trade_id: str | None = None
    client_id: str | None = None
    order_type: str | None = None
    price: Decimal | None = None


#: The daily loss limit's reference (a `ProtectionAction` on symbol `*`): `price` the equity the day is measured
#: from, or None after a manual resume that gave the rest of the day a new allowance (risk/daily_loss.py). The
#: journal keeps them, and a restart within the day reads the last one back (runtime/startup.py).
DAILY_REFERENCE = "daily_reference"
#: Money moved in or out of the futures wallet (a `ProtectionAction` on symbol `*`, `price` the signed amount,
#: `reason` the exchange's name for it): journaled so "today's P&L" can leave transfers out (readmodels).
TRANSFER = "transfer"
#: A funding payment of a trade (a `ProtectionAction` on its symbol with its trade id, `price` the signed amount:
#: + received, - paid): journaled so a trade open across a restart keeps the funding it was paid before it.
FUNDING = "funding"


@dataclass(frozen=True, slots=True)
class EquitySnapshot:
    wallet: Decimal
    equity: Decimal
    available: Decimal
    open_positions: int
    time_ms: int


# --- control --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KillSwitch:
    """Command: cancel all orders, flatten all positions, stop new entries."""

    reason: str
    time_ms: int


@dataclass(frozen=True, slots=True)
class KillSwitchDone:
    """What a kill switch did, once it is over (trading/kill_switch.py): its `summary` (also journaled as the
    `kill_switch` protection action's reason), the positions it could not close (`still_open`, each with what
    protects it) and, when it could not read the account, why (`unknown`: every position may still be open).
    Typed so that what reports it (the alert) tells a flat account from one that is not, without parsing text."""

    reason: str
    summary: str
    time_ms: int
    still_open: tuple[str, ...] = ()
    unknown: str | None = None

    @property
    def flat(self) -> bool:
        """Every position was read back closed (in staging: every exit would have been sent)."""
        return not self.still_open and self.unknown is None


@dataclass(frozen=True, slots=True)
class HaltEntries:
    """Command: stop new entries until a manual resume, and nothing else: open positions and their stops
    stay as they are (unlike `KillSwitch`). Raised when something entries rely on is gone for good, such
    as a position monitor the supervisor could not restart."""

    reason: str
    time_ms: int


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """A component failed at something; the bus turns a handler's exception into one of these."""

    component: str
    message: str
    time_ms: int
    fatal: bool = False
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScannerSilent:
    """A strategy emits no signal for a reason, not because nothing qualifies: its model is missing or
    refused (`no_model`), a scan raised (`scan_error`, that bar gets no signal), symbols lost an input
    (`missing_data`), or the strategy itself raised (`strategy_error`). Published once per change of
    reason, journaled (errors table, details kind `no_signal`), never a trade. `symbols`: those concerned
    (empty: all)."""

    source: str
    kind: str
    reason: str
    time_ms: int
    symbols: tuple[str, ...] = ()


Event = (BarClosed | Signal | RiskDecision | OrderIntentRecorded | OrderNotSent | CancelNotSent | OrderRejectedEvent
         | OrderChanged | FillEvent | PositionChanged | TradeOpened | TradeClosed | ProtectionAction
         | EquitySnapshot | KillSwitch | KillSwitchDone | HaltEntries | ErrorEvent
         | ScannerSilent)
