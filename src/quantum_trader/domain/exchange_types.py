"""What crosses the exchange port: intents going out, snapshots and events coming back.

Every adapter (in-process simulator, Binance over ccxt) speaks these types and nothing else, so the
bot never sees venue JSON. Money is Decimal; ids are strings because Binance's `orderId` and
`algoId` are two different number spaces and only the client id is ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from .enums import MarginType, OrderType, Side, TimeInForce, WorkingType
from .fast_init import fast_init

#: Binance's charset and length for newClientOrderId / clientAlgoId.
CLIENT_ID_PATTERN = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}\Z")


class SnapshotStatus(StrEnum):
    """One status vocabulary for classic and algo orders; TRIGGERED means the stop has fired."""

    OPEN = "OPEN"
    TRIGGERED = "TRIGGERED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"

    @property
    def is_open(self) -> bool:
        return self is SnapshotStatus.OPEN


def check_client_id(client_id: str) -> str:
    """Refuse ids Binance would reject with -4015, before anything is sent (a bug, not a market event)."""
    if not CLIENT_ID_PATTERN.match(client_id):
        raise ValueError(f"client_id {client_id!r}: must be 1-36 characters of [.A-Za-z0-9:/_-]")
    return client_id


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderIntent:
    """An order the bot wants: Binance's parameters, typed, with a client id that makes it idempotent.

    Conditional types (STOP_MARKET, TAKE_PROFIT_MARKET, ...) are routed by the adapter to the Algo
    Order API; the intent does not say where it goes, only what it is.
    """

    client_id: str
    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    reduce_only: bool = False
    close_position: bool = False
    working_type: WorkingType = WorkingType.CONTRACT_PRICE
    price_protect: bool = False
    time_in_force: TimeInForce | None = None

    def __post_init__(self) -> None:
        check_client_id(self.client_id)
        if self.quantity is not None and self.quantity <= 0:
            raise ValueError(f"quantity: {self.quantity} must be positive")

    @property
    def conditional(self) -> bool:
        return self.type.is_conditional


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSnapshot:
    """An order as the exchange reports it; `conditional` is True for Algo Order API orders."""

    client_id: str
    venue_id: str
    symbol: str
    side: Side
    type: OrderType
    status: SnapshotStatus
    conditional: bool
    quantity: Decimal
    filled: Decimal
    avg_price: Decimal
    trigger_price: Decimal | None
    price: Decimal | None
    reduce_only: bool
    close_position: bool
    working_type: WorkingType
    update_time: int
    #: For a triggered conditional order: the venue id of the classic order it spawned.
    triggered_order_id: str | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PositionSnapshot:
    """One-way-mode position: `amount` > 0 long, < 0 short."""

    symbol: str
    amount: Decimal
    entry: Decimal
    mark: Decimal
    unrealized: Decimal
    leverage: int
    margin_type: MarginType
    liquidation_price: Decimal | None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSnapshot:
    """USDT figures: wallet (realised), equity (wallet + unrealised at mark), available for new margin."""

    wallet: Decimal
    equity: Decimal
    available: Decimal


@fast_init
@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order changed state; `reason` is the venue's execution type (NEW, TRADE, CANCELED, ...)."""

    snapshot: OrderSnapshot
    reason: str


@fast_init
@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """A position changed; `reason` is the venue's reason (ORDER, FUNDING_FEE, ...) or "POLL"."""

    snapshot: PositionSnapshot
    reason: str


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class FillUpdate:
    """One trade of one order, as the user-data stream reports it (`x: TRADE`).

    `fee` is None where the venue's answer carries no commission (REST polling sees only the order's
    cumulative fill); `fill_id` is the venue's trade id, or a derived one, and makes fills idempotent.
    """

    fill_id: str
    symbol: str
    client_id: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal | None
    realized_pnl: Decimal
    maker: bool
    time_ms: int


#: Binance's income kinds (GET /fapi/v1/income `incomeType`) that move money between the futures wallet and
#: another wallet or account.
TRANSFER_INCOME = frozenset({"TRANSFER", "INTERNAL_TRANSFER", "CROSS_COLLATERAL_TRANSFER", "COIN_SWAP_DEPOSIT",
                             "COIN_SWAP_WITHDRAW", "STRATEGY_UMFUTURES_TRANSFER"})
#: A funding payment's reason: the stream's ACCOUNT_UPDATE `m` and the income history's `incomeType` alike.
FUNDING_FEE = "FUNDING_FEE"
#: The reasons of position reports read from the exchange (a REST sweep, start-up) rather than sent in an
#: ACCOUNT_UPDATE: no wallet report comes with them, so what the stream last said of the wallet may be stale.
POLLED, AT_STARTUP = "POLL", "STARTUP"
READ_REASONS = frozenset({POLLED, AT_STARTUP})
#: A `BalanceUpdate.reason` that is money moved in or out, not a trading result: the stream's ACCOUNT_UPDATE
#: reasons (`m`) for it, and the income kinds above (what a restart reads for transfers made while it was away).
TRANSFER_REASONS = TRANSFER_INCOME | frozenset({"DEPOSIT", "WITHDRAW", "WITHDRAW_REJECT", "ADMIN_DEPOSIT",
                                                "ADMIN_WITHDRAW", "ASSET_TRANSFER"})


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceUpdate:
    """The USDT wallet moved for a reason other than a fill (FUNDING_FEE, ...); `symbol` when known."""

    change: Decimal
    reason: str
    symbol: str | None
    time_ms: int

    @property
    def is_transfer(self) -> bool:
        """Money moved in or out of the wallet (a deposit, a withdrawal to spot, ...), not a trading result."""
        return self.reason in TRANSFER_REASONS


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class WalletUpdate:
    """The USDT wallet balance after an account change the stream reported (a fill's realised P&L and fee,
    funding, a transfer): what keeps the monitor's equity current between its paced account readings, so an
    equity point right after a stop-out holds the loss it realised. `cross_wallet`: the wallet less every
    isolated position's margin (the `cw` Binance sends beside `wb`), what new cross margin is drawn from;
    None where the report did not carry it."""

    wallet: Decimal
    time_ms: int
    cross_wallet: Decimal | None = None



@dataclass(frozen=True, slots=True)
class HeldMark:
    """A mark price the bot already holds (no request made for it) and the exchange time it is of: what the
    market stream last delivered, or the in-process simulator's mark now (exchange/port.py `mark_since`)."""

    price: Decimal
    time_ms: int


ExchangeEvent = OrderUpdate | PositionUpdate | FillUpdate | BalanceUpdate | WalletUpdate
