"""Strategy names (QT_STRATEGY) to plug-ins."""

from __future__ import annotations

from collections.abc import Callable

from ..settings.model import Settings
from .ai_scanner import AiScanner, ScannerConfig
from .manual import ManualOnly
from .scanner_model import bot_labels
from .sma_cross import SmaCross
from .strategy import Strategy

STRATEGIES: dict[str, Callable[[], Strategy]] = {
    "ai-scanner": AiScanner,
    "sma-cross": SmaCross,
    "manual": ManualOnly,
}


def build_strategy(name: str, settings: Settings | None = None) -> Strategy:
    """The strategy QT_STRATEGY names; with `settings`, the AI scanner runs QT_MODEL against the bot's own
    QT_MIN_CONFIDENCE and SL/TP (without, the embedded defaults)."""
    if name == "ai-scanner" and settings is not None:
        return AiScanner(scanner_config(settings))
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise ValueError(f"strategy {name!r}: choose one of {', '.join(STRATEGIES)}") from None


def scanner_config(settings: Settings) -> ScannerConfig:
    return ScannerConfig(model=settings.model, min_confidence=settings.min_confidence,
                         labels=bot_labels(settings.stop_loss_pct, settings.take_profit_pct),
                         max_age_days=settings.model_max_age_days)
