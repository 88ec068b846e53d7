"""One symbol's protection, made right: the monitor's per-position rules in the order they matter.

1. a position the bot is still opening is left to execution (it places SL and TP itself);
2. a stop the mark has crossed without firing → after the grace period, the software stop;
3. the stop-loss: keep the tightest working one, cancel duplicates and wrong ones; a missing or
   wrong stop is *replaced before cancel*; -2021 or bounded failure → emergency exit;
4. the take-profit, the same way (its failure never closes the position);
5. the trailing stop, only ever tighter;
and for a symbol without a position, every reduce-only / closePosition order left is an orphan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ..core.clock import Clock
from ..domain.enums import OrderType
from ..domain.exchange_types import OrderSnapshot, PositionSnapshot
from ..domain.instrument import Instrument
from ..domain.money import fmt, price_text
from ..exchange.port import ExchangeReader
from .execution import Execution
from .monitor_repair import Outcome, Repairer
from .monitor_rules import (
    SL,
    TP,
    Levels,
    SidePlan,
    orphans,
    plan_side,
    stop_crossed,
    tightest,
    trail_target,
    wanted_stop,
)
from .protection_outage import Fallback
from .protection_state import Cause, ProtectionBook


@dataclass(frozen=True, slots=True)
class GuardConfig:
    grace_ms: int
    trailing_stop_pct: Decimal | None


class SymbolGuard:
    """Applies the rules to one symbol's position and open orders; returns whether it changed anything."""

    def __init__(self, clock: Clock, exchange: ExchangeReader, execution: Execution, repair: Repairer,
                 book: ProtectionBook, config: GuardConfig) -> None:
        self.clock, self.exchange, self.execution, self.repair, self.book, self.config = (
            clock, exchange, execution, repair, book, config)

    @property
    def instruments(self) -> Mapping[str, Instrument]:
        return self.execution.instruments

    async def flat(self, symbol: str, orders: Sequence[OrderSnapshot]) -> bool:
        """No position: cancel what could only close one (closePosition ones usually expire on their own)."""
        acted = False
        for order in orphans(orders):
            acted = await self.repair.cancel(order, None, "cancelled_orphan", "no position on the symbol") or acted
        return acted

    async def guard(self, levels: Levels, position: PositionSnapshot, orders: Sequence[OrderSnapshot]) -> bool:
        """The rules in order; the position's phase follows what they found and did."""
        sl = plan_side(orders, position, SL)
        now = self.clock.now_ms()
        if sl.keep is not None and sl.keep.trigger_price is not None and sl.keep.type is not (
                OrderType.TRAILING_STOP_MARKET) and stop_crossed(sl.keep.trigger_price, position.mark,
                                                                 levels.direction):
            self.book.apply(position.symbol, Cause.STOP_CROSSED, now)
            return await self._software_stop(levels, position, sl.keep)
        acted, protected = await self._fix_stop(levels, position, orders, sl)
        if not protected:
            self.book.apply(position.symbol, Cause.REPAIRED, now)
            return True
        tp = plan_side(orders, position, TP)
        acted = await self._fix_take(levels, position, orders, tp) or acted
        if sl.keep is not None and not acted:
            acted = await self._trail(levels, position, orders, sl.keep)
        if not acted and sl.keep is not None and tp.keep is not None:
            await self._note_verified(levels, position.symbol, sl.keep, tp.keep)
        found = Cause.FOUND_PROTECTED if sl.keep is not None else Cause.FOUND_NAKED
        self.book.apply(position.symbol, Cause.REPAIRED if acted else found, now)
        return acted

    async def _fix_stop(self, levels: Levels, position: PositionSnapshot, orders: Sequence[OrderSnapshot],
                        sl: SidePlan) -> tuple[bool, bool]:
        """(acted, protected): False protected means the position was sent to an emergency exit."""
        if sl.keep is not None:
            acted = await self._drop_extras(levels, sl, "stop-loss")
            return acted, True
        price = wanted_stop(levels, sl)
        trailed = self.book[position.symbol].trailed
        if trailed is not None:
            price = tightest(price, trailed, levels.direction)
        why = "; ".join(reason for _, reason in sl.wrong)
        reason = f"stop-loss replaces a wrong one ({why})" if sl.wrong else "stop-loss missing"
        placement = await self.repair.place(levels, position, SL, price, orders, reason)
        if placement.outcome is Outcome.PLACED:
            assert placement.intent is not None
            for order, wrong in sl.wrong:
                await self.repair.cancel(order, levels.trade_id, "replaced",
                                         f"{wrong}; replaced by {placement.intent.client_id}")
            return True, True
        if placement.outcome is Outcome.NOT_SENT:
            return False, True  # reported as what would be placed; nothing changed on the exchange
        exit_why = ("the stop price is already crossed (-2021 would immediately trigger)"
                    if placement.outcome is Outcome.CROSSED else "the stop-loss could not be placed")
        await self.execution.emergency_exit(levels.trade_id, position.symbol, exit_why)
        return True, False

    async def _fix_take(self, levels: Levels, position: PositionSnapshot, orders: Sequence[OrderSnapshot],
                        tp: SidePlan) -> bool:
        if tp.keep is not None:
            return await self._drop_extras(levels, tp, "take-profit")
        why = "; ".join(reason for _, reason in tp.wrong)
        reason = f"take-profit replaces a wrong one ({why})" if tp.wrong else "take-profit missing"
        placement = await self.repair.place(levels, position, TP, levels.take, orders, reason)
        if placement.outcome is Outcome.PLACED:
            assert placement.intent is not None
            for order, wrong in tp.wrong:
                await self.repair.cancel(order, levels.trade_id, "replaced",
                                         f"{wrong}; replaced by {placement.intent.client_id}")
        elif placement.outcome is Outcome.NOT_SENT:
            return False
        else:  # the stop still protects; the next sweep tries again
            await self.repair.action(position.symbol, "take_profit_failed", placement.outcome.value,
                                     levels.trade_id, price=levels.take)
        return True

    async def _drop_extras(self, levels: Levels, plan: SidePlan, what: str) -> bool:
        """A working order is kept: duplicates and wrong ones can go at once, the position stays covered."""
        assert plan.keep is not None
        acted = False
        for order in plan.duplicates:
            acted = await self.repair.cancel(order, levels.trade_id, "cancelled_duplicate",
                                             f"duplicate {what}; kept {plan.keep.client_id}") or acted
        for order, wrong in plan.wrong:
            acted = await self.repair.cancel(order, levels.trade_id, "cancelled_duplicate",
                                             f"wrong {what} ({wrong}); kept {plan.keep.client_id}") or acted
        return acted

    async def _software_stop(self, levels: Levels, position: PositionSnapshot, stop: OrderSnapshot) -> bool:
        """The exchange stop should have fired; give it the grace period on the clock, then close at market."""
        now, record = self.clock.now_ms(), self.book[position.symbol]
        since = record.since_ms  # when the crossing was first seen (the phase began)
        if now - since < self.config.grace_ms or record.software_stop_declined:
            return False
        why = (f"mark {fmt(position.mark)} beyond stop {price_text(stop.trigger_price)} ({stop.client_id}) for "
               f"{(now - since) / 1000:g}s and the exchange stop did not fire")
        result = await self.execution.emergency_exit(levels.trade_id, position.symbol, why, purpose="soft",
                                                     action="software_stop")
        if result is not None and result.not_sent:
            record.software_stop_declined = True
            return False
        self.book.apply(position.symbol, Cause.REPAIRED, now)
        if not await self.exchange.positions(position.symbol):
            await self.flat(position.symbol, await self.exchange.open_orders(position.symbol))
        return True

    async def _trail(self, levels: Levels, position: PositionSnapshot, orders: Sequence[OrderSnapshot],
                     stop: OrderSnapshot) -> bool:
        pct = self.config.trailing_stop_pct
        if pct is None or stop.type is not OrderType.STOP_MARKET or stop.trigger_price is None:
            return False
        inst = self.instruments[position.symbol]
        target = trail_target(inst, levels.direction, position.mark, stop.trigger_price, pct)
        if target is None:
            return False
        reason = f"trailing stop {fmt(stop.trigger_price)} -> {fmt(target)} (mark {fmt(position.mark)})"
        placement = await self.repair.place(levels, position, SL, target, orders, reason, Fallback.KEEP_STOP)
        if placement.outcome is Outcome.NOT_SENT:
            return False
        if placement.outcome is not Outcome.PLACED:
            return True  # the old stop is still there: nothing was loosened
        self.book[position.symbol].trailed = target
        await self.repair.cancel(stop, levels.trade_id, "trailed", reason)
        return True

    async def _note_verified(self, levels: Levels, symbol: str, stop: OrderSnapshot, take: OrderSnapshot) -> None:
        """`verified` once per (stop, take-profit) pair, not every sweep: the journal stays readable."""
        record = self.book[symbol]
        pair = (stop.client_id, take.client_id)
        if record.noted == pair:
            return
        record.noted = pair
        await self.repair.action(symbol, "verified", f"stop-loss {stop.client_id} and take-profit "
                                 f"{take.client_id} working on the exchange", levels.trade_id, stop)

