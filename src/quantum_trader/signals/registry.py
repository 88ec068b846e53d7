"""Strategy names (QT_STRATEGY) to plug-ins."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .ai_scanner import AiScanner, ScannerConfig
from .manual import ManualOnly
from .params import ParamError, ParamSpec, ParamValue
from .scanner_model import bot_labels
from .sma_cross import SmaCross
from .strategy import Strategy

if TYPE_CHECKING:  # only read here: importing the settings model (pydantic-settings) costs every command 0.1 s
    from ..settings.model import Settings

STRATEGIES: dict[str, Callable[..., Strategy]] = {
    "ai-scanner": AiScanner,
    "sma-cross": SmaCross,
    "manual": ManualOnly,
}


def build_strategy(name: str, settings: Settings | None = None,
                   params: Mapping[str, ParamValue] | None = None) -> Strategy:
    """The strategy QT_STRATEGY names; with `settings`, the AI scanner runs QT_MODEL against the bot's own
    QT_MIN_CONFIDENCE and SL/TP (without, the embedded defaults). `params`: the strategy's own parameters
    (`strategy_params`), already parsed; a combination the strategy refuses is a ParamError."""
    if name not in STRATEGIES:
        raise ValueError(f"strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
    if name == "ai-scanner" and settings is not None:
        return AiScanner(scanner_config(settings))
    try:
        return STRATEGIES[name](**(params or {}))
    except (TypeError, ValueError) as exc:
        given = " ".join(f"{k}={v}" for k, v in (params or {}).items())
        raise ParamError(f"--param {given}: {exc}") from None


def strategy_params(name: str) -> tuple[ParamSpec, ...]:
    """The parameters a strategy declares (`PARAMS`); none for a strategy that declares none."""
    if name not in STRATEGIES:
        raise ValueError(f"strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
    specs: tuple[ParamSpec, ...] = getattr(STRATEGIES[name], "PARAMS", ())
    return specs


def scanner_config(settings: Settings) -> ScannerConfig:
    return ScannerConfig(model=settings.model, min_confidence=settings.min_confidence,
                         labels=bot_labels(settings.stop_loss_pct, settings.take_profit_pct),
                         max_age_days=settings.model_max_age_days)
