"""Who opened each trade: the strategy on its own, a person (a forced entry), or nobody the journal knows.

Readiness asks two questions of paper trading: does the protection path hold (stops and take-profits
placed, acknowledged, never rejected and left, stops filling within plan), and does the bot trade well
on its own. A forced entry (`force-entry`, POST /api/v1/force-entry) runs through the same risk,
execution and protection path as a strategy's signal, so it answers the first; it answers nothing of the
second, and its confidence of 1.00 is made up. A position opened outside the bot and adopted has no
signal at all. So the minimum of trades and the confidence item count only the strategy's trades, and
the protection items count them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..domain.events import FORCED

JsonRow = dict[str, Any]


@dataclass(frozen=True)
class TradeOrigins:
    """The source of the signal that opened each trade, by trade id (`JournalReader.trade_sources`)."""

    sources: Mapping[str, str]

    def is_forced(self, trade_id: str) -> bool:
        return self.sources.get(trade_id) == FORCED

    def is_strategy(self, trade_id: str) -> bool:
        """Opened by a strategy's signal: one is journaled for it, and it is not a forced entry's."""
        source = self.sources.get(trade_id)
        return source is not None and source != FORCED

    def strategy(self, trades: Iterable[JsonRow]) -> list[JsonRow]:
        return [t for t in trades if self.is_strategy(str(t["trade_id"]))]

    def forced(self, trades: Iterable[JsonRow]) -> list[JsonRow]:
        return [t for t in trades if self.is_forced(str(t["trade_id"]))]

    def forced_ids(self, trade_ids: Iterable[str]) -> list[str]:
        return [t for t in trade_ids if self.is_forced(t)]
