"""`backtest --report FILE.html`: one page with the run's figures, its equity, its trades on price and its stops.

Everything shown comes from the `BacktestResult` the CLI prints (`to_json()`: performance, stop audit,
trades), plus the closes and trade openings the run kept for the report (`keep_prices=True`). Money in
tables is the result's own Decimal strings; the charts draw floats, which only place pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..domain.events import TradeClosed
from ..domain.money import fmt
from ..research.backtest import BacktestResult
from ..trading.performance import sharpe_text
from .audit_report import audit_charts, summary_table
from .page import Wrap, document, esc, kv_table, section, table
from .prices import symbol_chart, take_profits
from .scripts import BACKTEST_JS

PERFORMANCE_KEYS = ("trades", "wins", "losses", "win_rate_pct", "net_pnl", "gross_pnl", "fees", "funding",
                    "start_equity", "return_pct", "max_drawdown_usdt", "max_drawdown_pct", "sharpe", "exposure_pct",
                    "average_trade", "best_trade", "worst_trade", "profit_factor")
TRADE_COLUMNS = ("trade", "symbol", "side", "opened (UTC)", "closed (UTC)", "entry", "exit", "exit reason",
                 "stop", "take-profit", "quantity", "net P&L USDT", "% equity", "slip bps", "breach")


def utc(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def equity_series(curve: Sequence[tuple[int, Decimal]], start: Decimal) -> tuple[list[list[Any]], list[list[Any]]]:
    """Equity and drawdown (% below the running peak, the start balance the first peak), times in seconds."""
    equity, drawdown, peak = [], [], start
    for time_ms, value in curve:
        peak = max(peak, value)
        equity.append([time_ms // 1000, float(value)])
        drawdown.append([time_ms // 1000, float((value - peak) / peak * 100) if peak else 0.0])
    return equity, drawdown


def chart_data(result: BacktestResult) -> dict[str, Any]:
    """The JSON the page's script draws: equity, drawdown, and per traded symbol its closes and trades."""
    start = Decimal(str(result.report["performance"].get("start_equity") or "0"))
    equity, drawdown = equity_series(result.equity_curve, start)
    targets = take_profits(result.opened)
    symbols: dict[str, Any] = {}
    for symbol in sorted({t.symbol for t in result.trades}):
        trades = [t for t in result.trades if t.symbol == symbol]
        if result.prices is not None:
            times, closes = result.prices.series(symbol)
            tick = result.ticks.get(symbol)
            symbols[symbol] = {**symbol_chart(times, closes, trades, targets),
                               "tick": None if tick is None else fmt(tick)}
    return {"equity": equity, "drawdown": drawdown, "symbols": symbols,
            "trades": [_trade(t, targets.get(t.trade_id)) for t in result.trades]}


def _trade(trade: TradeClosed, take_profit: str | None) -> dict[str, Any]:
    return {"trade_id": trade.trade_id, "symbol": trade.symbol, "entry_time": trade.opened_ms // 1000,
            "exit_time": trade.time_ms // 1000, "entry_price": fmt(trade.entry_price),
            "stop": None if trade.planned_stop is None else fmt(trade.planned_stop), "take_profit": take_profit}


def _trade_cells(trade: TradeClosed, row: Mapping[str, Any], take_profit: str | None) -> tuple[object, ...]:
    realised = row.get("realised") or {}
    return (trade.trade_id, trade.symbol, trade.direction.value, Wrap(utc(trade.opened_ms)), Wrap(utc(trade.time_ms)),
            row.get("entry_price"), row.get("exit_price"), row.get("exit_reason"), row.get("planned_stop"),
            take_profit, row.get("quantity"), realised.get("usdt"), realised.get("pct_equity"),
            row.get("slippage_bps"), row["verdict"])


def trades_table(result: BacktestResult, rows: Sequence[Mapping[str, Any]]) -> str:
    """Every trade (click a row to see it on price), breaches highlighted."""
    targets = take_profits(result.opened)
    cells = [_trade_cells(t, r, targets.get(t.trade_id)) for t, r in zip(result.trades, rows, strict=True)]
    classes = ["breach" if r.get("breach") else "" for r in rows]
    body = table(TRADE_COLUMNS, cells, classes=classes, left=3, table_id="trades-table")
    return f'<div class="panel scroll">{body}</div>'


OPEN_COLUMNS = {"symbol": "symbol", "side": "side", "quantity": "quantity", "entry_price": "entry",
                "mark_price": "mark at the end", "unrealised_pnl": "unrealised P&L USDT", "fees": "fees so far",
                "funding": "funding so far"}


def open_at_end(doc: Mapping[str, Any]) -> str:
    """The positions still open when the data ended: in the equity curve (at their mark), not in net P&L."""
    positions = doc.get("positions_at_end") or []
    if not positions:
        return '<p class="sub">Nothing was open at the end: the final equity is the start plus the net P&amp;L.</p>'
    note = (f'<p class="sub">Final equity {esc(doc.get("final_equity"))} USDT = start '
            f'{esc(doc["performance"].get("start_equity"))} + net P&amp;L {esc(doc["performance"].get("net_pnl"))} '
            f'(closed trades) + {esc(doc.get("open_pnl_at_end"))} on these positions (unrealised, less their fees '
            "so far, plus their funding).</p>")
    rows = [tuple(p.get(key) for key in OPEN_COLUMNS) for p in positions]
    return note + f'<div class="panel scroll">{table(tuple(OPEN_COLUMNS.values()), rows, left=2)}</div>'


def _summary(doc: Mapping[str, Any], data_name: str) -> str:
    perf = doc["performance"]
    run = [("data", data_name), ("bars", doc["bars"]), ("symbol-bars", doc["symbol_bars"]),
           ("seconds", doc["seconds"]), ("bars per second", doc.get("bars_per_s")),
           ("open positions at end", doc.get("open_positions_at_end")), ("final equity", doc.get("final_equity")),
           ("final return %", doc.get("final_return_pct")), ("unrealised at end", doc.get("unrealised_at_end")),
           ("open P&L at end", doc.get("open_pnl_at_end"))]
    reasons = ", ".join(f"{k} {v}" for k, v in (perf.get("by_exit_reason") or {}).items() if v) or "-"
    performance = [(k, sharpe_text(perf) if k == "sharpe" else perf.get(k)) for k in PERFORMANCE_KEYS]
    performance.append(("by_exit_reason", reasons))
    return '<div class="grid">' + kv_table(performance, title="Performance (USDT, %)") + \
        summary_table(doc["stop_audit"]) + kv_table(run, title="Run") + "</div>"


def backtest_html(result: BacktestResult, *, data_name: str, strategy: str) -> str:
    """The whole report. `result` must come from `run_backtest(..., keep_prices=True)` for the price chart."""
    doc = result.to_json()
    rows = doc["trades"]
    perf = doc["performance"]
    span = f"{utc(result.equity_curve[0][0])[:10]} to {utc(result.equity_curve[-1][0])[:10]}" \
        if result.equity_curve else "no equity snapshot"
    subtitle = (f"strategy {strategy} on {data_name}, {span}: {perf['trades']} trades, net P&L {perf['net_pnl']} USDT, "
                f"final equity {doc.get('final_equity')} USDT ({doc.get('open_positions_at_end')} open at the end), "
                f"max drawdown {perf['max_drawdown_pct']} %")
    body = [
        section("Summary", _summary(doc, data_name)),
        section("Equity (end of each UTC day) and drawdown", '<div class="panel chart" id="equity-chart"></div>'),
        section("Trades on price",
                '<div class="sub">symbol <select id="symbol"></select> entries are arrows, exits circles '
                "(green a win, red a loss); red dashes: stop, green dashes: take-profit. Click a trade below "
                "to zoom on it.</div>", '<div class="panel chart" id="price-chart" style="height:440px"></div>'),
        section("Stops", audit_charts(rows, doc["stop_audit"])),
        section(f"Trades ({len(rows)})", trades_table(result, rows) if rows else '<p class="sub">No trades.</p>'),
        section(f"Open at the end ({len(doc.get('positions_at_end') or [])})", open_at_end(doc)),
    ]
    data = {**chart_data(result), "result": doc}  # the `backtest --json` document too, for whoever reads the file
    return document(f"Backtest: {strategy}", subtitle, body, data=data, script=BACKTEST_JS, with_charts=True)
