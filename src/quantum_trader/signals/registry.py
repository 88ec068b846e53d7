"""Strategy names (QT_STRATEGY) to plug-ins."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .ai_scanner import AiScanner, ScannerConfig
from .manual import ManualOnly
from .params import PARAM, RISK_PARAMS, ParamError, ParamSpec, ParamValue
from .scanner_model import bot_labels, load_scanner_model
from .sma_cross import SmaCross
from .strategy import Strategy

if TYPE_CHECKING:  # only read here: importing the settings model (pydantic-settings) costs every command 0.1 s
    from ..settings.model import Settings

STRATEGIES: dict[str, Callable[..., Strategy]] = {
    "ai-scanner": AiScanner,
    "sma-cross": SmaCross,
    "manual": ManualOnly,
}


class StrategyUnusable(ValueError):
    """A strategy that cannot emit a single signal with these settings: the AI scanner without a model it may
    run. For a backtest or a sweep that is bad input (a run of 0 trades proves nothing); `run` keeps it as a
    health state instead (the scanner stays silent and /health says why)."""


def build_strategy(name: str, settings: Settings | None = None,
                   params: Mapping[str, ParamValue] | None = None, *, strict: bool = False,
                   origins: Mapping[str, str] | None = None) -> Strategy:
    """The strategy QT_STRATEGY names; with `settings`, the AI scanner runs QT_MODEL against the bot's own
    QT_MIN_CONFIDENCE and SL/TP (without, the embedded defaults). `params`: the strategy's own parameters
    (`strategy_params`), already parsed; a combination the strategy refuses is a ParamError naming each value
    with the option it came from (`origins`: name → `--grid` in a sweep; `--param` otherwise). `strict`: a
    scanner without a model it may run is StrategyUnusable (the reason and the fix) instead of silent."""
    if name not in STRATEGIES:
        raise ValueError(f"strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
    if name == "ai-scanner" and settings is not None:
        return _checked_scanner(scanner_config(settings)) if strict else AiScanner(scanner_config(settings))
    try:
        return STRATEGIES[name](**(params or {}))
    except (TypeError, ValueError) as exc:
        given = " ".join(f"{(origins or {}).get(k, PARAM)} {k}={v}" for k, v in (params or {}).items())
        raise ParamError(f"{given}: {exc}") from None


def strategy_params(name: str) -> tuple[ParamSpec, ...]:
    """The parameters a strategy declares (`PARAMS`); none for a strategy that declares none."""
    if name not in STRATEGIES:
        raise ValueError(f"strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
    specs: tuple[ParamSpec, ...] = getattr(STRATEGIES[name], "PARAMS", ())
    return specs


def params_help() -> str:
    """The names `--param` and `--grid` take, for their help: each strategy's own and the risk settings, and
    which strategies `min_confidence` applies to (`refuse_no_effect`)."""
    own = "; ".join(f"{name}: {', '.join(s.name for s in strategy_params(name))}" for name in STRATEGIES
                    if strategy_params(name))
    risk = ", ".join(s.name for s in RISK_PARAMS)
    return f"a strategy parameter ({own}) or a risk setting ({risk}; min_confidence with {_scored()} only)"


def risk_params(name: str) -> tuple[ParamSpec, ...]:
    """The risk settings that act on a run of strategy `name`: every one but `min_confidence` for a strategy
    whose signals carry no confidence of their own (`NO_CONFIDENCE`), which no threshold refuses."""
    if not hasattr(STRATEGIES[name], "NO_CONFIDENCE"):
        return RISK_PARAMS
    return tuple(spec for spec in RISK_PARAMS if spec.name != "min_confidence")


def refuse_no_effect(name: str, params: Mapping[str, object], origins: Mapping[str, str] | None = None) -> None:
    """ParamError for `min_confidence` given (in `params`, as typed) to a strategy it would change nothing for
    (its `NO_CONFIDENCE` says why): a sweep over it ran identical runs, read as "the threshold does not
    matter", and a backtest with it reported a threshold that never applied."""
    why: str | None = getattr(STRATEGIES[name], "NO_CONFIDENCE", None)
    if why is not None and "min_confidence" in params:
        given = f"{(origins or {}).get('min_confidence', PARAM)} min_confidence={params['min_confidence']}"
        raise ParamError(f"{given}: has no effect with --strategy {name} ({why}); it is the threshold of the "
                         f"signals of --strategy {_scored()}: leave it out")


def _scored() -> str:
    """The strategies whose signals carry a confidence of their own: those `min_confidence` applies to."""
    return ", ".join(name for name, plugin in STRATEGIES.items() if not hasattr(plugin, "NO_CONFIDENCE"))


def _checked_scanner(config: ScannerConfig) -> AiScanner:
    """The scanner with its model loaded and checked as AiScanner would (same function, same wall clock), or
    StrategyUnusable naming the reason and what to do about it."""
    loaded = load_scanner_model(config.model, config.labels or bot_labels(), max_age_days=config.max_age_days,
                                now_ms=time.time_ns() // 1_000_000)
    if loaded.model is None:
        fix = ("set QT_MODEL to a model file (quantum-trader train --data ... --out MODEL) or to default"
               if loaded.refused.startswith("no model") else
               "train a model for these settings (quantum-trader train --data ... --out MODEL, then QT_MODEL=MODEL) "
               "or run with the settings the model was trained for")
        raise StrategyUnusable(f"--strategy ai-scanner cannot trade: {loaded.refused}; {fix}")
    return AiScanner(config, model=loaded.model)


def scanner_config(settings: Settings) -> ScannerConfig:
    return ScannerConfig(model=settings.model, min_confidence=settings.min_confidence,
                         labels=bot_labels(settings.stop_loss_pct, settings.take_profit_pct),
                         max_age_days=settings.model_max_age_days)
