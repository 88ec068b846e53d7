"""Writing reports to disk: what the CLI calls (`--report FILE.html`, `--png DIR`).

The HTML is written to a temporary file beside the target and renamed over it, so a reader (a browser
left open on yesterday's report, a CI artifact upload) never sees half a page; a write that fails removes
the temporary file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..research.backtest import BacktestResult


def write_html(path: Path, html: str) -> Path:
    """Write `html` to `path` atomically (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(html, encoding="utf-8")
        os.replace(temporary, path)
    except OSError:  # a full disk, a folder in the way: no half page left beside the target
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_backtest_report(result: BacktestResult, path: Path, *, data_name: str, strategy: str) -> Path:
    from .backtest_report import backtest_html

    return write_html(path, backtest_html(result, data_name=data_name, strategy=strategy))


def write_backtest_png(result: BacktestResult, folder: Path) -> list[Path]:
    from .png import equity_png, slippage_png

    start = Decimal(str(result.report["performance"].get("start_equity") or "0"))
    return [equity_png(result.equity_curve, start, folder), slippage_png(result.report["trades"], folder)]


def write_audit_report(audit: Mapping[str, Any], path: Path, *, source: str) -> Path:
    from .audit_report import audit_html

    return write_html(path, audit_html(audit, source=source))


def write_audit_png(audit: Mapping[str, Any], folder: Path) -> list[Path]:
    from .png import loss_png, slippage_png

    rows = list(audit.get("positions") or [])
    return [slippage_png(rows, folder), loss_png(rows, folder)]


def write_evaluation_report(report: Mapping[str, Any], path: Path) -> Path:
    from .evaluation_report import evaluation_html

    return write_html(path, evaluation_html(report))
