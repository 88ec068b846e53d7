"""`--png DIR`: the main charts as images, for a mail, a chat or a pull request where HTML will not do.

Only the charts that say the most at a glance: equity with drawdown, and the stop slippage histogram
(the audit also gets realised vs planned loss). matplotlib is imported here, when asked, with the Agg
backend (no display); the figures use the reports' dark colours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from .audit_report import loss_points, slippages
from .page import COLORS


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.facecolor": COLORS["bg"], "axes.facecolor": COLORS["panel"],
                         "axes.edgecolor": COLORS["line"], "axes.labelcolor": COLORS["text"],
                         "text.color": COLORS["text"], "xtick.color": COLORS["text"], "ytick.color": COLORS["text"],
                         "grid.color": COLORS["line"]})
    return plt


def _save(fig: Any, folder: Path, name: str) -> Path:
    """Lay out, write (no timestamp or version in the file, so the bytes repeat) and close the figure."""
    try:
        fig.tight_layout()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        fig.savefig(path, dpi=100, metadata={"Software": None})
        fig.clf()
        return path
    finally:
        _pyplot().close(fig)


def equity_png(curve: Sequence[tuple[int, Decimal]], start: Decimal, folder: Path) -> Path:
    """equity.png: equity per UTC day over drawdown in % of the running peak."""
    plt = _pyplot()
    days = [datetime.fromtimestamp(t / 1000, UTC) for t, _ in curve]
    values = [float(v) for _, v in curve]
    peaks, peak = [], float(start)
    for v in values:
        peak = max(peak, v)
        peaks.append((v - peak) / peak * 100 if peak else 0.0)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, height_ratios=(3, 1))
    top.plot(days, values, color=COLORS["accent"], linewidth=1.6)
    top.set_ylabel("equity USDT")
    top.grid(True)
    bottom.fill_between(days, peaks, 0, color=COLORS["bad"], alpha=0.5)
    bottom.set_ylabel("drawdown %")
    bottom.grid(True)
    fig.autofmt_xdate()
    return _save(fig, folder, "equity.png")


def slippage_png(rows: Sequence[Mapping[str, Any]], folder: Path) -> Path:
    """slippage.png: the histogram of stop slippage in bps (an empty frame saying so when no stop fired)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    values = slippages(rows)
    if values:
        ax.hist(values, bins=20, color=COLORS["accent"])
    else:
        ax.text(0.5, 0.5, "no stop exits", ha="center", transform=ax.transAxes)
    ax.set_xlabel("stop slippage, bps (+ = worse than the stop)")
    ax.set_ylabel("stop exits")
    return _save(fig, folder, "slippage.png")


def loss_png(rows: Sequence[Mapping[str, Any]], folder: Path) -> Path:
    """realised_vs_planned.png: one point per position, breaches red, y = x dashed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    points = loss_points(rows)
    if points:
        top = max(max(p.x for p in points), max(p.y for p in points)) * 1.1
        ax.plot([0, top], [0, top], linestyle="--", color=COLORS["muted"])
        for bad in (False, True):
            chosen = [p for p in points if p.bad is bad]
            ax.scatter([p.x for p in chosen], [p.y for p in chosen], s=30 if bad else 12,
                       color=COLORS["bad"] if bad else COLORS["ok"], label="breach" if bad else "within plan")
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xlabel("planned loss USDT")
    ax.set_ylabel("realised loss USDT")
    return _save(fig, folder, "realised_vs_planned.png")
