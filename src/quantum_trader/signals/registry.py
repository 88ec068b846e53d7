"""Strategy names (QT_STRATEGY) to plug-ins."""

from __future__ import annotations

from collections.abc import Callable

from .ai_scanner import AiScanner
from .manual import ManualOnly
from .sma_cross import SmaCross
from .strategy import Strategy

STRATEGIES: dict[str, Callable[[], Strategy]] = {
    "ai-scanner": AiScanner,
    "sma-cross": SmaCross,
    "manual": ManualOnly,
}


def build_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise ValueError(f"strategy {name!r}: choose one of {', '.join(STRATEGIES)}") from None
