"""Trades: from an entry fill to flat, with the figures the stop audit and the backtest report need.

A trade opens when execution says so (`TradeOpened`, with its planned stop and loss) and closes when the
exchange reports the position flat and the fills that flattened it have arrived (Binance sends the
ACCOUNT_UPDATE before the ORDER_TRADE_UPDATE of the same fill, so "flat" alone is not enough); a trade
reported flat whose fills never come (a stream that dropped them, polling that missed them, an order the bot
does not watch) is handed to `ExitLookup` (exit_lookup.py) once something new happens on its symbol or its
fills are late, and closed with the exit the exchange recorded, never at a made-up price (the
tracker alone, without a lookup wired, still closes it at the mark as `manual`). Its exit price is the
average of the fills that reduced it, its fees are the sum over all its fills (estimated at the taker rate
where the venue reports none), and its exit reason comes from the closing order's client id:
`qt-<trade>-sl-0` closed by the stop, `-tp-` by the take-profit, `-em-` emergency, `-kill-` kill switch,
Binance's `autoclose-` a liquidation, anything else (a hand-placed order) manual.

A trade outlives the process that opened it: each funding payment it receives is published as a `funding`
`ProtectionAction` with its trade id and the payment's exchange time (the journal keeps it), and a restart adopts
the open trade with the fills and funding the journal holds for it (`OpenTrade.restored`), so its fees keep the
entry's commission and its funding what was paid before the restart. It used to start again from zero: a trade
closed in the session after its entry was journaled with the exit fee alone, and the audit's P&L drifted from
the wallet's. Funding paid while the bot was stopped is added at the restart from the exchange's income
history (away_funding.py), each payment once by its time.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from ..core.bus import EventBus
from ..domain.enums import ExitReason
from ..domain.events import FUNDING, FillEvent, PositionChanged, ProtectionAction, TradeClosed, TradeOpened
from ..domain.exchange_types import FUNDING_FEE, BalanceUpdate
from ..domain.money import ZERO, average_price, decimals_of
from ..exchange.ids import PREFIX, belongs_to

PURPOSE_REASONS = {"sl": ExitReason.STOP_LOSS, "tp": ExitReason.TAKE_PROFIT, "em": ExitReason.EMERGENCY,
                   "soft": ExitReason.EMERGENCY, "kill": ExitReason.KILL_SWITCH}


def exit_reason_for(client_id: str | None) -> ExitReason:
    if client_id is None:
        return ExitReason.MANUAL
    if client_id.startswith("autoclose-"):
        return ExitReason.LIQUIDATION
    parts = client_id.split("-")
    if len(parts) >= 4 and parts[0] == "qt":
        return PURPOSE_REASONS.get(parts[-2], ExitReason.MANUAL)
    return ExitReason.MANUAL


@dataclass(slots=True)
class OpenTrade:
    opened: TradeOpened
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    exit_qty: Decimal = ZERO
    exit_value: Decimal = ZERO
    last_exit_client: str | None = None
    #: Most decimals among the exit fills' prices: the exit average is reported to 3 more, as avgPrice is.
    exit_decimals: int = 0
    #: The fills counted, by fill id: one heard twice (the stream and a catch-up, the journal and the stream
    #: after a restart) counts once.
    fills: dict[str, FillEvent] = field(default_factory=dict)
    #: The exchange reported the position flat; waiting for the closing fills.
    flat: PositionChanged | None = None
    #: The exchange's time of each funding payment counted in `funding`: what tells a payment the income history
    #: lists at a restart from one already counted (away_funding.py).
    funding_ms: list[int] = field(default_factory=list)

    @property
    def fully_exited(self) -> bool:
        return self.exit_qty >= self.opened.quantity

    @property
    def exchange_start_ms(self) -> int:
        """When the trade began on the exchange's clock: the time of its earliest fill heard (fills carry the
        exchange's stamp), else its own opening time. The two clocks differ: a simulator replaying a past month
        stamps fills in that month while the bot journals on the machine's clock, so a look-up of the exchange's
        records (fills, funding) from the trade's opening time finds none of them."""
        return min((fill.time_ms for fill in self.fills.values()), default=self.opened.time_ms)

    @classmethod
    def restored(cls, opened: TradeOpened, fills: Iterable[FillEvent],
                 funding: Iterable[tuple[int, Decimal]] = ()) -> OpenTrade:
        """The trade as the tracker held it before a restart, from what the journal kept: `fills` (the symbol's
        journaled fills from about the trade's opening on, in journal order; `own_fills` picks the trade's) and
        the funding payments journaled under its trade id, (time_ms, amount)."""
        trade = cls(opened)
        for fill in own_fills(opened, fills):
            trade.apply(fill)
        for time_ms, amount in funding:
            trade.count_funding(amount, time_ms)
        return trade

    def count_funding(self, change: Decimal, time_ms: int) -> None:
        """One funding payment (signed: + received, - paid), paid at `time_ms` on the exchange's clock."""
        self.funding += change
        self.funding_ms.append(time_ms)

    def apply(self, fill: FillEvent) -> None:
        """Count a fill on the trade's symbol: its fee, and its quantity and price when it reduces the trade."""
        if fill.fill_id in self.fills:
            return
        self.fills[fill.fill_id] = fill
        self.fees += fill.fee
        if fill.side is self.opened.direction.exit_side:
            self.exit_qty += fill.quantity
            self.exit_value += fill.quantity * fill.price
            self.exit_decimals = max(self.exit_decimals, decimals_of(fill.price))
            self.last_exit_client = fill.client_id


def funding_action(trade: OpenTrade, payment: BalanceUpdate, reason: str) -> ProtectionAction:
    """The journal's record of one funding payment of the trade (action `funding`, `price` the signed amount),
    stamped with the payment's exchange time: a restart reads both back (`OpenTrade.restored`)."""
    return ProtectionAction(symbol=trade.opened.symbol, action=FUNDING, reason=reason, time_ms=payment.time_ms,
                            trade_id=trade.opened.trade_id, price=payment.change)


def own_fills(opened: TradeOpened, fills: Iterable[FillEvent]) -> list[FillEvent]:
    """The fills the tracker counted for a trade, among the symbol's in the order they were heard: its own orders'
    (`qt-<trade>-...`), and, from the first of those on, every other fill on the symbol but another trade's (a
    stop's or a liquidation's fill carries no id of the trade; one position per symbol, so it is this one's). A
    trade whose own fills are missing takes the fills from its opening time on."""
    listed = list(fills)
    first = next((i for i, f in enumerate(listed) if belongs_to(f.client_id, opened.trade_id)), None)
    after = listed[first:] if first is not None else [f for f in listed if f.time_ms >= opened.time_ms]
    return [f for f in after if belongs_to(f.client_id, opened.trade_id) or not f.client_id.startswith(f"{PREFIX}-")]


class TradeTracker:
    """Keeps the open trades; publishes `TradeClosed` when a position goes flat."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.open: dict[str, OpenTrade] = {}
        self._early: dict[str, list[FillEvent]] = {}  # fills that arrived before their TradeOpened
        self.closed = 0
        self.funding_total = ZERO
        #: Set by `ExitLookup.attach`: a flat trade whose fills are missing waits in `unresolved` for the lookup.
        self.lookup_missing = False
        self.unresolved: list[OpenTrade] = []

    def attach(self) -> None:
        self.bus.subscribe(TradeOpened, self._on_opened)
        self.bus.subscribe(FillEvent, self._on_fill)
        self.bus.subscribe(PositionChanged, self._on_position)
        self.bus.subscribe(BalanceUpdate, self._on_balance)

    def adopt(self, trade: OpenTrade) -> None:
        """Track a trade known from the journal (after a restart), with what it paid before (`OpenTrade.restored`)."""
        self.open[trade.opened.symbol] = trade

    async def _on_opened(self, event: TradeOpened) -> None:
        await self._close_stale(event.symbol)
        trade = OpenTrade(event)
        self.open[event.symbol] = trade
        for fill in self._early.pop(event.symbol, []):
            if belongs_to(fill.client_id, event.trade_id):  # never another trade's fill (after a restart)
                trade.apply(fill)

    async def _on_fill(self, fill: FillEvent) -> None:
        trade = self.open.get(fill.symbol)
        if trade is not None and trade.flat is not None and fill.side is trade.opened.direction.entry_side:
            await self._close_stale(fill.symbol)  # a new entry: the old trade's fills are not coming
            trade = None
        if trade is None:
            self._early.setdefault(fill.symbol, []).append(fill)
            if len(self._early[fill.symbol]) > 50:  # fills of positions the bot does not trade
                del self._early[fill.symbol][0]
            return
        trade.apply(fill)
        if trade.flat is not None and trade.fully_exited:
            await self._close(trade, trade.flat)

    async def _on_balance(self, event: BalanceUpdate) -> None:
        """Funding paid or received: the trade's, and journaled as such (a restart reads it back)."""
        if event.reason != FUNDING_FEE:
            return
        self.funding_total += event.change
        trade = self.open.get(event.symbol) if event.symbol else None
        if trade is None:
            return
        trade.count_funding(event.change, event.time_ms)
        await self.bus.publish(funding_action(trade, event, "funding fee (signed: + received, - paid)"))

    async def _on_position(self, event: PositionChanged) -> None:
        trade = self.open.get(event.snapshot.symbol)
        if trade is None:
            return
        if event.snapshot.amount != 0:
            if trade.flat is not None:
                await self._close_stale(event.snapshot.symbol)
            return
        trade.flat = event
        if trade.fully_exited:
            await self._close(trade, event)

    async def _close_stale(self, symbol: str) -> None:
        trade = self.open.get(symbol)
        if trade is not None and trade.flat is not None:
            await self._close(trade, trade.flat)

    async def _close(self, trade: OpenTrade, flat: PositionChanged) -> None:
        del self.open[trade.opened.symbol]
        self._early.pop(trade.opened.symbol, None)
        if self.lookup_missing and not trade.fully_exited:
            self.unresolved.append(trade)  # its exit is looked up on the exchange, not made up here
            return
        self.closed += 1
        await self.bus.publish(_closed(trade, flat))

    def exit_candidates(self, held: Collection[str] | None = None) -> list[OpenTrade]:
        """Open trades whose exit may never reach the bot: reported flat without all their closing fills, and,
        given `held` (the symbols the exchange's latest reading holds a position in), those whose symbol it
        does not hold: a position closed while no stream listened (a kill switch at start-up, before the
        stream) never reports itself flat. A REST reading may run ahead of the stream, so the caller waits
        before it takes one (`take`)."""
        return [t for t in self.open.values() if not t.fully_exited and (
            t.flat is not None or (held is not None and t.opened.symbol not in held))]

    def take(self, trades: Collection[OpenTrade]) -> list[OpenTrade]:
        """Remove these trades (still open) and those already handed over, for their exits to be looked up."""
        for trade in trades:
            if self.open.get(trade.opened.symbol) is trade:
                del self.open[trade.opened.symbol]
                self._early.pop(trade.opened.symbol, None)
        taken, self.unresolved = [*self.unresolved, *trades], []
        return taken

def _closed(trade: OpenTrade, event: PositionChanged) -> TradeClosed:
    opened = trade.opened
    exit_price = (average_price(trade.exit_value, trade.exit_qty, trade.exit_decimals) if trade.exit_qty
                  else event.snapshot.mark)
    sign = Decimal(opened.direction.sign)
    realized = sign * (exit_price - opened.entry_price) * opened.quantity
    return TradeClosed(
        trade_id=opened.trade_id, symbol=opened.symbol, direction=opened.direction, quantity=opened.quantity,
        entry_price=opened.entry_price, exit_price=exit_price, exit_reason=exit_reason_for(trade.last_exit_client),
        realized_pnl=realized, fees=trade.fees, funding=trade.funding, planned_stop=opened.planned_stop,
        planned_loss=opened.planned_loss, leverage=opened.leverage, equity_at_entry=opened.equity,
        opened_ms=opened.time_ms, time_ms=event.time_ms)

