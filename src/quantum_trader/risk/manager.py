"""Risk: every signal becomes a `RiskDecision`, approved with a size and a planned stop, or refused.

The rules (risk/rules.py, one object each) run in a fixed order and the first refusal wins, so the
reason a user reads is the most basic one (halted before confidence before capacity before sizing).
The backtest asks the same rule objects which bars it may skip (`rules.blocked`), so a new rule
changes live refusals and backtests together. Positions are counted from what
the exchange reports (`PositionChanged`), including ones opened outside the bot, plus entries in
flight, so two signals in one bar cannot both take the last slot. An entry holds its slot from approval
until it opens a position or execution says it opened none (`EntryNotOpened`: not sent, refused, unfilled),
so a dry run (staging), whose entries are never sent, counts only the exchange's real positions.

Two halts, two lifetimes. A manual kill switch (or any `KillSwitch` not raised by the daily loss guard)
halts until `resume()`: a person pulled it, a person releases it. The daily loss limit halts until the
next UTC midnight (`halted_until_ms`), when the halt lifts by itself at the first signal, equity snapshot
or `blocked_symbols` query at or after it; a manual `resume()` lifts it earlier. A restart is neither: the
session replays the journal's kill switches since the last resume into `restore_halt` before it trades.

The first live day: with `live_since_ms` set, the position cap is min(QT_MAX_POSITIONS,
QT_LIVE_MAX_POSITIONS) until 24 h after `live_since_ms` (a rolling 24 h rather than "until UTC
midnight", so going live at 23:50 still gets a full day of reduced exposure).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Protocol

from ..core.bus import EventBus
from ..core.clock import Clock
from ..domain.enums import MarginType
from ..domain.events import (
    EntryNotOpened,
    EquitySnapshot,
    ExitReason,
    HaltEntries,
    KillSwitch,
    PositionChanged,
    RiskDecision,
    Signal,
    TradeClosed,
    TradeOpened,
)
from ..domain.exchange_types import READ_REASONS, AccountSnapshot, WalletUpdate
from ..domain.instrument import Instrument
from .daily_loss import REASON_PREFIX, DailyLossGuard, next_midnight_ms, utc_day
from .rules import ALL, RiskBook, RiskLimits, RiskPipeline, default_rules
from .sizing import SizingRefused, SizingRules, edge_scale, effective_leverage, size_entry
from .trade_ids import TradeIds

__all__ = ["AccountView", "RiskLimits", "RiskManager"]  # RiskLimits lives in rules.py; importable from here too


class AccountView(Protocol):
    """What risk reads from the exchange: the account and a symbol's current price."""

    async def account(self) -> AccountSnapshot: ...

    async def price(self, symbol: str) -> Decimal: ...


#: The exits after which a symbol cools down (QT_COOLDOWN_S), in the words its refusals use.
COOLDOWN_AFTER = {ExitReason.STOP_LOSS: "a stop-loss", ExitReason.EMERGENCY: "an emergency exit",
                  ExitReason.LIQUIDATION: "a liquidation"}


class RiskManager:
    def __init__(self, bus: EventBus, clock: Clock, instruments: Mapping[str, Instrument], account: AccountView,
                 sizing: SizingRules, limits: RiskLimits, *, trade_ids: TradeIds | None = None) -> None:
        self.bus, self.clock, self.instruments, self.view = bus, clock, instruments, account
        #: Unique across sessions (see trade_ids.py); the default is deterministic for runs without a journal.
        self.trade_ids = trade_ids or TradeIds.from_clock(clock.now_ms())
        self.sizing, self.limits = sizing, limits
        #: What the rules read (positions, halt, cooldowns); only this manager's handlers write it.
        self.book = RiskBook(limits, instruments)
        #: The ordered rules, asked by `on_signal` and by the backtest (what it may skip).
        self.rules = RiskPipeline(default_rules(self.book, sizing))
        self.daily_loss = (DailyLossGuard(bus, limits.daily_loss_limit_pct)
                           if limits.daily_loss_limit_pct is not None else None)
        self.decisions = 0
        #: Symbols with a position the exchange reported (or a trade opened): an entry that opened nothing there
        #: must not free the slot (`_on_not_opened`).
        self._held: set[str] = set()
        self._deciding = asyncio.Lock()  # a forced entry and a feed signal must not both take the last slot

    def attach(self) -> None:
        self.bus.subscribe(Signal, self.on_signal)
        self.bus.subscribe(TradeOpened, self._on_opened)
        self.bus.subscribe(TradeClosed, self._on_closed)
        self.bus.subscribe(PositionChanged, self._on_position)
        self.bus.subscribe(WalletUpdate, self._on_wallet)
        self.bus.subscribe(EntryNotOpened, self._on_not_opened)
        self.bus.subscribe(KillSwitch, self._on_kill)
        self.bus.subscribe(HaltEntries, self._on_halt_entries)
        self.bus.subscribe(EquitySnapshot, self._on_equity)  # before the guard: a new day lifts, then resets
        if self.daily_loss is not None:
            self.daily_loss.attach()

    @property
    def state(self) -> str:
        return "HALTED" if self._halted(self.clock.now_ms()) else "ACTIVE"

    # The book's fields, read (and, for the halt, written) under their historical names.
    @property
    def open_symbols(self) -> set[str]:
        return self.book.open_symbols

    @property
    def cooldown_until(self) -> dict[str, int]:
        return self.book.cooldown_until

    @property
    def halted_reason(self) -> str | None:
        return self.book.halted_reason

    @halted_reason.setter
    def halted_reason(self, reason: str | None) -> None:
        self.book.halted_reason = reason

    @property
    def halted_until_ms(self) -> int | None:
        """Set for a daily-loss halt only: the halt lifts at this time (the next UTC midnight)."""
        return self.book.halted_until_ms

    @halted_until_ms.setter
    def halted_until_ms(self, until_ms: int | None) -> None:
        self.book.halted_until_ms = until_ms

    def _halted(self, now_ms: int) -> str | None:
        """The halt reason in force at `now_ms`, lifting a daily-loss halt whose day has ended."""
        return self.book.halt_in_force(now_ms)

    def position_cap(self, now_ms: int) -> tuple[int, str]:
        """The open-position cap in force and the setting that sets it (for the refusal's wording)."""
        return self.book.position_cap(now_ms)

    def blocked_symbols(self, symbols: tuple[str, ...]) -> frozenset[str] | tuple[str, ...]:
        """Symbols no signal can pass on now until the risk state changes (`rules.blocked`): all of
        them (`symbols` itself) or those named."""
        blocked = self.rules.blocked(frozenset(symbols), self.clock.now_ms())
        return symbols if blocked is ALL else blocked

    def resume(self) -> bool:
        """Manual reset after a kill switch (manual or daily loss). After the daily limit tripped today, the rest
        of the day gets a new allowance from the next equity point: the old floor would trip again at once (or,
        as it did, never again that day while a restart re-armed it and flattened what was opened since). True when
        it did so (the caller journals it: runtime/startup.py `resume_entries`)."""
        self.halted_reason, self.halted_until_ms = None, None
        guard = self.daily_loss
        if guard is None or guard.tripped_day != utc_day(self.clock.now_ms()):
            return False
        guard.rebase()
        return True

    def restore_halt(self, kills: Iterable[tuple[str, int]]) -> str | None:
        """At start-up, before any signal: the halt that the journal's kill switches since the last resume leave
        in force now, as `_on_kill` left it before the restart (a restart is no manual reset). `kills` are their
        (reason, time_ms) in journal order; a daily one is told by its reason (`REASON_PREFIX`), and the kill
        switch handler's summary row that follows each (its reason, then ": " and what it did) is skipped, so a
        daily halt lifts at the midnight after the kill switch itself. Returns the reason in force, or None."""
        for reason, time_ms in kills:
            current = self.halted_reason
            if current is not None and reason.startswith(current + ": "):
                continue
            daily = reason.startswith(REASON_PREFIX)
            if daily and current is not None and self.halted_until_ms is None:
                continue  # a manual halt stays until a manual resume, as in `_on_kill`
            self.halted_reason, self.halted_until_ms = reason, next_midnight_ms(time_ms) if daily else None
        in_force = self._halted(self.clock.now_ms())
        if in_force is not None and self.halted_until_ms is not None and self.daily_loss is not None:
            self.daily_loss.tripped_day = utc_day(self.halted_until_ms - 1)  # that day's kill switch has fired
        return in_force

    def restore_day_start(self, equity: Decimal, time_ms: int, undated: Iterable[Decimal] = ()) -> bool:
        """At start-up: the daily loss limit's reference is `equity`, measured at `time_ms` (the account's last
        journaled reference that day; `undated`: transfers it holds without their time, risk/daily_loss.py
        `undated_moves`). Applied only within that UTC day and with a daily limit set; True if so."""
        day = utc_day(time_ms)
        if self.daily_loss is None or utc_day(self.clock.now_ms()) != day:
            return False
        self.daily_loss.restore_day(day, equity, time_ms, undated)
        return True

    async def on_signal(self, signal: Signal) -> None:
        async with self._deciding:
            decision = await self._decide(signal)
        await self.bus.publish(decision)

    async def _decide(self, signal: Signal) -> RiskDecision:
        self.decisions += 1
        refusal = self.rules.first_refusal(signal, self.clock.now_ms())
        if refusal is None:
            decision = await self._sized(signal)
        else:
            decision = RiskDecision(signal=signal, approved=False, reason=refusal.reason, time_ms=self.clock.now_ms(),
                                    refusal_kind=refusal.kind)
        if decision.approved:
            self.open_symbols.add(signal.symbol)
        return decision

    async def _sized(self, signal: Signal) -> RiskDecision:
        now = self.clock.now_ms()
        inst = self.instruments[signal.symbol]
        try:
            account = await self.view.account()
            price = await self.view.price(signal.symbol)
            sized = size_entry(inst, signal.direction, price, account.equity, account.available, self.sizing,
                               expected_value=signal.expected_value)
        except SizingRefused as refused:
            return RiskDecision(signal=signal, approved=False, reason=str(refused), time_ms=now,
                                refusal_kind=refused.kind)
        trade_id = self.trade_ids.next(signal.symbol)  # never reused, even within a second or after a restart
        scale = edge_scale(signal.expected_value, self.sizing)
        reason = "sized by planned loss" if scale == 1 else f"sized by planned loss x {scale:.2f} (expected edge)"
        return RiskDecision(signal=signal, approved=True, reason=reason, time_ms=now,
                            trade_id=trade_id, quantity=sized.quantity, planned_stop=sized.stop,
                            planned_take_profit=sized.take_profit, planned_loss=sized.planned_loss,
                            leverage=effective_leverage(inst, self.sizing), equity=account.equity)

    def _on_opened(self, event: TradeOpened) -> None:
        self.open_symbols.add(event.symbol)
        self._held.add(event.symbol)

    def _on_closed(self, event: TradeClosed) -> None:
        self.open_symbols.discard(event.symbol)
        self._held.discard(event.symbol)
        if event.exit_reason in COOLDOWN_AFTER:
            self.cooldown_until[event.symbol] = event.time_ms + round(self.limits.cooldown_s * 1000)
            self.book.cooldown_after[event.symbol] = COOLDOWN_AFTER[event.exit_reason]

    def _on_position(self, event: PositionChanged) -> None:
        snapshot = event.snapshot
        if snapshot.amount != 0:
            self.open_symbols.add(snapshot.symbol)
            self._held.add(snapshot.symbol)
        else:
            self.open_symbols.discard(snapshot.symbol)
            self._held.discard(snapshot.symbol)
        if snapshot.amount != 0 and snapshot.margin_type is MarginType.CROSSED:
            self.book.cross_symbols.add(snapshot.symbol)
        else:
            self.book.cross_symbols.discard(snapshot.symbol)
        if event.reason in READ_REASONS:
            # A position read from the exchange (the stream was down, or start-up) comes without a wallet report: a
            # closed one has given its margin back to a cross wallet the book no longer knows, until the next report.
            self.book.cross_wallet = None

    def _on_wallet(self, event: WalletUpdate) -> None:
        """The cross wallet the margin rule reads; a report without one makes it unknown (no block)."""
        self.book.cross_wallet = event.cross_wallet

    def _on_not_opened(self, event: EntryNotOpened) -> None:
        """The slot held since approval is free again: the entry was not sent (a dry run sends nothing), refused,
        or filled by none. A position the exchange reports on the symbol keeps it counted (`PositionChanged`)."""
        if event.symbol not in self._held:
            self.open_symbols.discard(event.symbol)

    def _on_kill(self, event: KillSwitch) -> None:
        daily = self.daily_loss is not None and self.daily_loss.is_own(event)
        if daily and self.halted_reason is not None and self.halted_until_ms is None:
            return  # already halted until a manual resume: a daily halt must not make that one expire
        self.halted_reason = event.reason
        self.halted_until_ms = next_midnight_ms(event.time_ms) if daily else None

    def _on_halt_entries(self, event: HaltEntries) -> None:
        """Entries stop until `resume()`; an earlier manual halt keeps its reason. Positions are not touched."""
        if self.halted_reason is None or self.halted_until_ms is not None:
            self.halted_reason, self.halted_until_ms = event.reason, None

    def _on_equity(self, event: EquitySnapshot) -> None:
        self._halted(event.time_ms)
