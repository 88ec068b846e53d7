"""The planned stop and take-profit of every position the monitor looks after, and the trade they belong to.

A repair must restore the levels the trade was opened with, not levels recomputed from wherever the
price is now: the bot's trades bring their own (`TradeOpened`, or the journal after a restart). A
position found without a trade (opened by hand, or before the journal knew it) gets the settings'
distances around its entry price and a new trade id, both kept until that position closes, so every
repair of it places the same levels under the same id. Such a position also becomes a trade under that id
(`record`: the monitor publishes its `TradeOpened`), so the journal has its `positions` row, the tracker
closes it and the audit lists it, and the kill switch closes it under that id. It used to stay the
monitor's alone: the trial's DOTUSDT position opened by hand was protected as DOTUSDT_5_x1, closed by the
kill switch as DOTUSDT_5_k2, and its loss and fees were in no row of the journal or the audit.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from ..domain.events import TradeClosed, TradeOpened
from ..domain.exchange_types import PositionSnapshot
from ..domain.stops import protection_prices
from .execution import Execution
from .monitor_rules import Levels, default_levels, direction_of


class PlannedLevels:
    """Levels per symbol; `new_trade_id(symbol)` names a position found without a trade."""

    def __init__(self, execution: Execution | None, new_trade_id: Callable[[str], str]) -> None:
        self._execution = execution
        self._new_trade_id = new_trade_id
        self._by_symbol: dict[str, Levels] = {}
        #: Symbols whose position was found while the bot's own entry there was still being protected (its
        #: grace ran out): that entry's `TradeOpened` is on its way, so the position is not recorded as adopted.
        self._awaiting_entry: set[str] = set()

    @property
    def symbols(self) -> frozenset[str]:
        """Symbols whose position has levels: the bot's trades and the positions found without one."""
        return frozenset(self._by_symbol)

    def adopt(self, opened: TradeOpened) -> None:
        """Repairs of this symbol's position use the trade's planned levels and its id."""
        stop, take = opened.planned_stop, opened.planned_take_profit
        if (stop is None or take is None) and self._execution is not None:
            cfg = self._execution.config
            stop, take = protection_prices(self._execution.instruments[opened.symbol], opened.direction,
                                           opened.entry_price, cfg.stop_loss_pct, cfg.take_profit_pct)
        assert stop is not None
        assert take is not None
        self._by_symbol[opened.symbol] = Levels(opened.trade_id, opened.direction, stop, take, known=True)
        self._awaiting_entry.discard(opened.symbol)

    def forget(self, closed: TradeClosed) -> None:
        """The trade is over: the symbol's next position is a new one."""
        known = self._by_symbol.get(closed.symbol)
        if known is not None and known.trade_id == closed.trade_id:
            del self._by_symbol[closed.symbol]

    def flat(self, symbol: str) -> None:
        """The symbol holds no position: a position found without a trade that was never recorded is over."""
        self._awaiting_entry.discard(symbol)
        known = self._by_symbol.get(symbol)
        if known is not None and not known.known:
            del self._by_symbol[symbol]

    def record(self, levels: Levels, position: PositionSnapshot, equity: Decimal, now_ms: int, *,
               entry_in_flight: bool) -> TradeOpened | None:
        """The trade a position found without one becomes (its levels are the trade's from now on), or None:
        its levels are a trade's already, or the bot's own entry on the symbol was still being protected when
        the position was found (`entry_in_flight`; that entry's trade follows, and recording this one too would
        journal the position twice). Its entry is the position's; its planned loss the stop's distance from it."""
        if levels.known or position.symbol in self._awaiting_entry or entry_in_flight:
            if not levels.known:
                self._awaiting_entry.add(position.symbol)
            return None
        quantity = abs(position.amount)
        opened = TradeOpened(trade_id=levels.trade_id, symbol=position.symbol, direction=levels.direction,
                             quantity=quantity, entry_price=position.entry, planned_stop=levels.stop,
                             planned_take_profit=levels.take, planned_loss=abs(position.entry - levels.stop) * quantity,
                             leverage=position.leverage, equity=equity, time_ms=now_ms)
        self.adopt(opened)
        return opened

    def for_position(self, position: PositionSnapshot) -> Levels:
        """The levels of the trade this position belongs to; for a position without one (or whose side is
        not the trade's), the defaults around its entry price under a new trade id, remembered."""
        known = self._by_symbol.get(position.symbol)
        if known is not None and known.direction is direction_of(position):
            return known
        assert self._execution is not None  # only a monitor that repairs asks (it has execution)
        cfg = self._execution.config
        levels = default_levels(self._execution.instruments[position.symbol], position, cfg.stop_loss_pct,
                                cfg.take_profit_pct, self._new_trade_id(position.symbol))
        self._by_symbol[position.symbol] = levels
        return levels
