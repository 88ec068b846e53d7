"""What a backtest ran: the strategy, every parameter and setting in effect, the data, period and symbols.

`backtest` defaults to sma-cross 10/30 and `run` to the AI scanner, and neither the table nor `--json` said
which strategy with which values a result came from: a result pasted into a note, or one run of a sweep,
could not be told from another. The `run` object of the result says it, defaults filled in: `params` holds
every `--param` name that acts on the run (the strategy's own and the risk settings, `min_confidence` only
where the strategy's signals carry a confidence), typed as a sweep's `params` are; `params_text` what was
given, as given (a sweep run's `params_text`); `settings` the other settings the run trades by (the daily
loss limit, the cooldown, edge sizing; the AI scanner's model).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..signals.registry import risk_params, strategy_params

if TYPE_CHECKING:
    from .backtest_job import BacktestJob, Prepared


def describe_run(job: BacktestJob, ready: Prepared, symbols: Sequence[str],
                 span: tuple[int, int] | None) -> dict[str, Any]:
    """The `run` object of a result: `symbols` the run replayed, `span` its first bar's open and last bar's
    close (ms; None without bars)."""
    settings, own = ready.settings, ready.params.strategy
    params: dict[str, Any] = {spec.name: own.get(spec.name, spec.default) for spec in strategy_params(job.strategy)}
    params.update({spec.name: spec.typed(str(getattr(settings, spec.name))) for spec in risk_params(job.strategy)})
    other: dict[str, Any] = {"daily_loss_limit_pct": _number(settings.daily_loss_limit_pct),
                             "cooldown_s": settings.cooldown_s, "ev_full_size_pct": _number(settings.ev_full_size_pct)}
    if job.strategy == "ai-scanner":
        other.update(model=settings.model, model_max_age_days=settings.model_max_age_days)
    asked = job.selection
    period = {"start": None if span is None else _iso(span[0]), "end": None if span is None else _iso(span[1]),
              "asked_start": None if asked.start_ms is None else _iso(asked.start_ms),
              "asked_end": None if asked.end_ms is None else _iso(asked.end_ms)}
    return {"strategy": job.strategy, "params": params, "params_text": {k: str(v) for k, v in job.params.items()},
            "settings": other, "data": str(job.data), "symbols": list(symbols), "balance": str(job.balance),
            "period": period}


def run_line(run: dict[str, Any]) -> str:
    """The `run` object as one line of the text output."""
    params = " ".join(f"{k}={v}" for k, v in run["params"].items())
    settings = " ".join(f"{k}={v}" for k, v in run["settings"].items() if v is not None)
    period = run["period"]
    return (f"{run['strategy']} {params} {settings}; {run['data']} ({', '.join(run['symbols'])}) from "
            f"{period['start']} to {period['end']}; balance {run['balance']}")


def _number(value: object) -> float | None:
    return None if value is None else float(str(value))


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")
