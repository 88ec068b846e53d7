"""The performance report of a backtest (or any session): what the trades earned and what it took.

Money figures (P&L, fees, funding, drawdown in USDT) stay Decimal, summed from `TradeClosed` events
so they reconcile to the wallet to the last unit. Ratios that only make sense as statistics (Sharpe,
win rate, exposure) are floats; Sharpe is computed with numpy over the per-period returns of the
equity curve, because it is a property of the curve, not of the trades. Rounding happens only in
`to_dict` so tests and callers compare exact values.

Conventions, so the figures can be checked by hand:
- a trade's net P&L is price P&L - fees + funding (funding signed as received); a win is net > 0,
  a loss net < 0, and an exact zero is neither; a trade whose exit is unknown (closed while the bot
  was away, no exchange record: no P&L) counts in `trades` and `by_exit_reason` but in no sum or ratio;
- return % is net P&L over `start_equity` (closed trades only, so it does not move with marks);
- drawdown is measured from the running peak of the equity curve, which starts at `start_equity`
  (money was there before the first point), in USDT and in % of the peak it fell from;
- Sharpe uses simple returns between consecutive curve points, sample standard deviation, and
  sqrt(periods_per_year); it is None (n/a, never 0, which would read as "no edge") with fewer than
  `MIN_RETURNS` returns or when the equity never moved, and `sharpe_na` says which.

Why at least 14 returns (two weeks of daily closes): the ratio's standard error is about
sqrt(periods_per_year / n) (Lo, "The Statistics of Sharpe Ratios", 2002), so with daily returns it is 7.2
after a week and 5.1 after two, on figures whose useful range is -3 to 3; below that the sample deviation
of a handful of days is mostly luck, and two days of a fast cross reported 737.9 (a one-day run 0.0, the
same figure as a flat month). Two weeks keep a month of data (28 to 31 returns) and a sweep over it usable,
and still refuse the figure for a day or a week, where it says nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

from ..domain.events import ExitReason, TradeClosed
from ..domain.money import ZERO, fmt, pct

_USDT_PLACES = Decimal("0.00000001")
_PCT_PLACES = Decimal("0.0001")
_RATIO_DIGITS = 4
#: Below this standard deviation of per-period returns the curve is flat: float noise, not risk.
_MIN_STD = 1e-12
#: Fewer returns than this and the Sharpe ratio is n/a (see the module doc for why 14).
MIN_RETURNS = 14


@dataclass(frozen=True, slots=True)
class Sharpe:
    """The annualised Sharpe ratio of a curve's returns, or None with the reason (`why_na`)."""

    value: float | None
    returns: int
    why_na: str | None = None


@dataclass(frozen=True, slots=True)
class Drawdown:
    usdt: Decimal
    pct: Decimal


@dataclass(frozen=True, slots=True)
class PerformanceReport:
    """Headline figures of a run; `to_dict`/`to_json` give the CLI's `backtest --json` shape."""

    trades: int
    wins: int
    losses: int
    win_rate_pct: float
    net_pnl: Decimal
    gross_pnl: Decimal
    fees: Decimal
    funding: Decimal
    start_equity: Decimal
    return_pct: Decimal
    max_drawdown: Drawdown
    sharpe: Sharpe
    exposure_pct: float
    average_trade: Decimal | None
    worst_trade: Decimal | None
    best_trade: Decimal | None
    #: Gross profit of winners over gross loss of losers; None when nothing lost (it would be infinite).
    profit_factor: Decimal | None
    by_exit_reason: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "trades": self.trades,
            "wins": self.wins,
            "losses": self.losses,
            "win_rate_pct": round(self.win_rate_pct, 2),
            "net_pnl": usdt_text(self.net_pnl),
            "gross_pnl": usdt_text(self.gross_pnl),
            "fees": usdt_text(self.fees),
            "funding": usdt_text(self.funding),
            "start_equity": usdt_text(self.start_equity),
            "return_pct": pct_text(self.return_pct),
            "max_drawdown_usdt": usdt_text(self.max_drawdown.usdt),
            "max_drawdown_pct": pct_text(self.max_drawdown.pct),
            "sharpe": None if self.sharpe.value is None else round(self.sharpe.value, _RATIO_DIGITS),
            "sharpe_returns": self.sharpe.returns,
            "sharpe_na": self.sharpe.why_na,
            "exposure_pct": round(self.exposure_pct, 2),
            "average_trade": None if self.average_trade is None else usdt_text(self.average_trade),
            "worst_trade": None if self.worst_trade is None else usdt_text(self.worst_trade),
            "best_trade": None if self.best_trade is None else usdt_text(self.best_trade),
            "profit_factor": None if self.profit_factor is None else pct_text(self.profit_factor),
            "by_exit_reason": dict(self.by_exit_reason),
        }

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def performance_report(trades: Sequence[TradeClosed], equity_curve: Sequence[tuple[int, Decimal]], *,
                       start_equity: Decimal, bars: int, bars_in_position: int,
                       periods_per_year: float, drawdown: Drawdown | None = None) -> PerformanceReport:
    """Summarise a run from its closed trades and its (time_ms, equity) curve, oldest point first. `drawdown`:
    the deepest fall measured on more points than the curve holds (a backtest reads every bar close:
    sim/replay_drawdown.py); None takes it from the curve."""
    counted = [(t, t.realized_pnl) for t in trades if t.realized_pnl is not None]
    nets = [pnl - t.fees + t.funding for t, pnl in counted]
    net = sum(nets, ZERO)
    wins = sum(1 for n in nets if n > 0)
    losses = sum(1 for n in nets if n < 0)
    by_reason = {reason.value: 0 for reason in ExitReason}
    for trade in trades:
        by_reason[trade.exit_reason.value] += 1
    equities = [equity for _, equity in equity_curve]
    return PerformanceReport(
        trades=len(trades), wins=wins, losses=losses,
        win_rate_pct=wins / len(nets) * 100 if nets else 0.0,
        net_pnl=net, gross_pnl=sum((pnl for _, pnl in counted), ZERO),
        fees=sum((t.fees for t, _ in counted), ZERO), funding=sum((t.funding for t, _ in counted), ZERO),
        start_equity=start_equity, return_pct=pct(net, start_equity),
        max_drawdown=max_drawdown(equities, start_equity=start_equity) if drawdown is None else drawdown,
        sharpe=sharpe(equities, periods_per_year=periods_per_year),
        exposure_pct=bars_in_position / bars * 100 if bars > 0 else 0.0,
        average_trade=net / len(nets) if nets else None,
        worst_trade=min(nets, default=None), best_trade=max(nets, default=None),
        profit_factor=profit_factor(nets), by_exit_reason=by_reason,
    )


def max_drawdown(equities: Sequence[Decimal], *, start_equity: Decimal | None = None) -> Drawdown:
    """Deepest fall from the running peak, in USDT and in % of the peak it fell from (both positive).

    The two maxima are tracked separately: a 100 USDT fall from 10 000 is a larger USDT drawdown
    but a smaller % drawdown than a 60 USDT fall from 500, and a report should show both worsts.
    """
    points = ([start_equity] if start_equity is not None else []) + list(equities)
    worst_usdt = worst_pct = ZERO
    peak: Decimal | None = None
    for equity in points:
        peak = equity if peak is None or equity > peak else peak
        fall = peak - equity
        worst_usdt = max(worst_usdt, fall)
        if peak > 0:
            worst_pct = max(worst_pct, fall / peak * 100)
    return Drawdown(worst_usdt, worst_pct)


def sharpe(equities: Sequence[Decimal], *, periods_per_year: float, min_returns: int = MIN_RETURNS) -> Sharpe:
    """Annualised Sharpe of per-period simple returns (risk-free rate 0), or None and why: fewer than
    `min_returns` returns (the module doc says why), or returns that never varied (a flat curve: no deviation
    to scale the mean by; 0 would read as a measured "no edge")."""
    curve = np.array([float(e) for e in equities], dtype=np.float64)
    prev, nxt = curve[:-1], curve[1:]
    valid = prev > 0
    returns = nxt[valid] / prev[valid] - 1.0
    n = int(returns.size)
    if n < max(min_returns, 2):
        return Sharpe(None, n, f"{n} daily return{'' if n == 1 else 's'}, fewer than the {max(min_returns, 2)} "
                               "a Sharpe ratio needs to mean anything")
    std = float(np.std(returns, ddof=1))
    if not math.isfinite(std) or std < _MIN_STD:
        return Sharpe(None, n, "the daily returns never varied (no deviation to scale the mean by)")
    return Sharpe(float(np.mean(returns)) / std * math.sqrt(periods_per_year), n)


def sharpe_ratio(equities: Sequence[Decimal], *, periods_per_year: float,
                 min_returns: int = MIN_RETURNS) -> float | None:
    """`sharpe`'s figure alone: None where it is n/a."""
    return sharpe(equities, periods_per_year=periods_per_year, min_returns=min_returns).value


def sharpe_text(performance: Mapping[str, Any]) -> str:
    """The Sharpe ratio of a performance document (`to_dict`) as a report shows it: the figure, or n/a and why."""
    value = performance.get("sharpe")
    if value is not None:
        return str(value)
    return f"n/a ({performance.get('sharpe_na') or 'not computed'})"


def profit_factor(nets: Sequence[Decimal]) -> Decimal | None:
    gross_loss = -sum((n for n in nets if n < 0), ZERO)
    if gross_loss == 0:
        return None
    return sum((n for n in nets if n > 0), ZERO) / gross_loss


def usdt_text(value: Decimal) -> str:
    """USDT as the report writes it (8 decimals at most, half up): also what other parts of a result use."""
    return fmt(value.quantize(_USDT_PLACES, rounding=ROUND_HALF_UP))


def pct_text(value: Decimal) -> str:
    """A percentage as the report writes it (4 decimals at most, half up)."""
    return fmt(value.quantize(_PCT_PLACES, rounding=ROUND_HALF_UP))
