"""The stop audit: did each closed position lose what was planned when it was opened?

A stop "working" is not a feeling: the risk layer sized the trade so that a fill at the stop price
loses `planned_loss` USDT, so the audit compares the realised loss (net of fees and funding, because
that is what left the wallet) against that plan. A realised loss larger than the plan plus a small
tolerance (a share of notional, covering ordinary slippage) is a `breach`: the CLI exits 5 on one
and the readiness checklist refuses to go live while one exists. Every exit is judged for a breach.

Slippage is a stop's fill against its trigger, so it is measured only for `stop_loss` exits (the
exchange's stop fired and filled): against the trigger of the stop order that filled where the journal
has it (a trailed stop is not its plan), else the planned stop. An emergency exit (a market close after
the stop did not fire), a liquidation, a manual or kill-switch close and a take-profit have no stop fill
to measure: they show none and stay out of the summary's worst and mean, which would otherwise report a
market exit's distance from a stop that never fired as the stop's slippage.

A breach is `gap_explained` when the stop was jumped through: the market's first price after the stop's
trigger lay beyond it, the stop filled at that price (within the tolerance's share of it), and the loss is
within the plan once the jump's cost (quantity × trigger-to-first-price) is added to it. The first price
comes from whoever saw the prices: the chaos campaign's observer (`gaps`), or the mark the bot journaled
when the stop fired (trading/stop_witness.py, `after_trigger`). Without either, a breach is not explained.

An `unknown` exit (closed while the bot was away, and the exchange kept no record of how: see
trading/away_exits.py) has no exit price and no realised P&L, and the audit says so (`exit_price` and
`realised` are null) instead of showing stand-ins: it is never judged, counted apart
(`unknown_exits`, with its reason) and never a breach, and it stays out of every figure of the summary.

Everything here is a pure function of `TradeClosed` events, so the CLI, the API and readiness all
audit the same rows from the journal without touching the exchange.

Each row's `verdict` is the audit's word for the exit, worded here and nowhere else (`verdict_of`): `ok`,
`BREACH`, `BREACH (gap)` or `unknown`. The CLI's table, the HTML reports and the dashboard show the word the
row carries (the API sends it), and the exit alert takes it from the row its judge returns, so a reader of
one never sees another word than a reader of the other for the same trade.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..domain.events import Direction, ExitReason, TradeClosed
from ..domain.money import ZERO, fmt
from ..domain.position import LossReport

#: The only exits with a slippage: the exchange's stop fired and filled (a fill against its trigger).
SLIPPAGE_EXITS = frozenset({ExitReason.STOP_LOSS})
#: Default tolerance above the planned loss, in % of notional (0.5 % covers a few ticks of slippage and fees).
DEFAULT_TOLERANCE_PCT = Decimal("0.5")
BPS = Decimal(10_000)
UNKNOWN_NOT_JUDGED = "exit unknown (closed while away, no exchange record): not judged"
#: The audit's words for an exit (see the module docstring): every reader shows these, none composes its own.
VERDICT_OK = "ok"
VERDICT_BREACH = "BREACH"
VERDICT_GAP = "BREACH (gap)"
VERDICT_UNKNOWN = "unknown"
#: What a breach no gap explains is said to be, beside its reason (the CLI's list of breaches).
NOT_GAP_EXPLAINED = "not explained by a gap"
_BPS_PLACES = Decimal("0.01")
_PCT_PLACES = Decimal("0.0001")
_USDT_PLACES = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One closed position as the audit sees it; figures are exact Decimals, rounding happens in JSON."""

    trade_id: str
    symbol: str
    direction: Direction
    exit_reason: ExitReason
    planned_stop: Decimal | None
    #: USDT the plan accepted to lose at the stop (positive = a loss), as risk computed it.
    planned_loss: Decimal | None
    entry_price: Decimal
    #: None for an unknown exit (no exchange record: no price is claimed).
    exit_price: Decimal | None
    quantity: Decimal
    notional: Decimal
    leverage: int
    #: The stop-loss fill against its trigger, positive = worse; None for every other exit, or without a stop.
    slippage_bps: Decimal | None
    #: Net of fees and funding; negative numbers are losses. None for an unknown exit.
    realised: LossReport | None
    #: The loss that would have been a breach had it been exceeded (planned loss + tolerance).
    loss_limit: Decimal | None
    breach: bool
    breach_reason: str
    #: Only set on a breach: True when the stop was jumped through and filled at the first price after it.
    gap_explained: bool | None
    #: The trigger of the stop order that filled, where known (else the plan was measured against).
    stop_trigger: Decimal | None = None
    #: The first price the bot saw after its stop fired (journaled by trading/stop_witness.py), where known.
    price_after_trigger: Decimal | None = None
    #: When the trade opened and closed (ms since the epoch, UTC); no closing time for an unknown exit.
    opened_ms: int = 0
    closed_ms: int | None = None

    @property
    def verdict(self) -> str:
        return verdict_of(self.exit_reason, breach=self.breach, gap_explained=self.gap_explained)

    @property
    def realised_loss(self) -> Decimal | None:
        """The realised loss as a positive number (zero for a winning trade; None when the exit is unknown)."""
        return None if self.realised is None else max(-self.realised.usdt, ZERO)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals as Binance-style strings, rounded to a sensible precision."""
        return {
            "trade_id": self.trade_id,
            "symbol": self.symbol,
            "direction": self.direction.value,
            "exit_reason": self.exit_reason.value,
            "planned_stop": _opt(self.planned_stop, None),
            "planned_loss": _opt(self.planned_loss, _USDT_PLACES),
            "entry_price": fmt(self.entry_price),
            "exit_price": _opt(self.exit_price, None),
            "quantity": fmt(self.quantity),
            "notional": _round(self.notional, _USDT_PLACES),
            "leverage": self.leverage,
            "slippage_bps": _opt(self.slippage_bps, _BPS_PLACES),
            "realised": None if self.realised is None else loss_report_dict(self.realised),
            "loss_limit": _opt(self.loss_limit, _USDT_PLACES),
            "breach": self.breach,
            "breach_reason": self.breach_reason,
            "gap_explained": self.gap_explained,
            "verdict": self.verdict,
            "stop_trigger": _opt(self.stop_trigger, None),
            "price_after_trigger": _opt(self.price_after_trigger, None),
            "opened_ms": self.opened_ms,
            "closed_ms": self.closed_ms,
        }

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def audit_row(trade: TradeClosed, *, tolerance_pct_notional: Decimal = DEFAULT_TOLERANCE_PCT,
              gap: bool = False, trigger: Decimal | None = None, after_trigger: Decimal | None = None) -> AuditRow:
    """Audit one closed trade; `gap` is the word of whoever saw the prices that the stop was jumped through,
    `trigger` the trigger price of the stop order that closed it (None: its planned stop), `after_trigger`
    the first price seen after that stop fired (the audit then judges the gap itself: `gap_explains`)."""
    notional = abs(trade.quantity) * trade.entry_price
    margin = notional / Decimal(trade.leverage) if trade.leverage > 0 else notional
    net = net_pnl(trade)
    realised = None if net is None else LossReport.of(net, notional, margin, trade.equity_at_entry)
    limit = None if trade.planned_loss is None else trade.planned_loss + notional * tolerance_pct_notional / 100
    if net is None or trade.exit_reason is ExitReason.UNKNOWN:
        breach, reason = False, UNKNOWN_NOT_JUDGED
    else:
        breach, reason = _judge(net, trade.planned_loss, limit)
    if breach and not gap and after_trigger is not None:
        gap = gap_explains(trade, after_trigger, trigger=trigger, tolerance_pct_notional=tolerance_pct_notional)
        if gap:
            stop = trigger if trigger is not None else trade.planned_stop
            reason += (f"; explained by a gap: the price jumped through the stop {_opt(stop, None)} to "
                       f"{fmt(after_trigger)}, where it filled")
    return AuditRow(
        trade_id=trade.trade_id, symbol=trade.symbol, direction=trade.direction, exit_reason=trade.exit_reason,
        planned_stop=trade.planned_stop, planned_loss=trade.planned_loss, entry_price=trade.entry_price,
        exit_price=trade.exit_price, quantity=trade.quantity, notional=notional, leverage=trade.leverage,
        slippage_bps=stop_slippage_bps(trade, trigger), realised=realised, loss_limit=limit,
        breach=breach, breach_reason=reason, gap_explained=gap if breach else None, stop_trigger=trigger,
        price_after_trigger=after_trigger, opened_ms=trade.opened_ms,
        closed_ms=None if trade.exit_reason is ExitReason.UNKNOWN else trade.time_ms,
    )


def verdict_of(exit_reason: ExitReason, *, breach: bool, gap_explained: bool | None) -> str:
    """The audit's word for an exit: `unknown` when it is not judged (no exchange record), `BREACH (gap)` for
    a breach the stop's being jumped through explains, `BREACH` for any other, `ok` within the plan."""
    if exit_reason is ExitReason.UNKNOWN:
        return VERDICT_UNKNOWN
    if not breach:
        return VERDICT_OK
    return VERDICT_GAP if gap_explained else VERDICT_BREACH


def gap_explains(trade: TradeClosed, after_trigger: Decimal, *, trigger: Decimal | None = None,
                 tolerance_pct_notional: Decimal = DEFAULT_TOLERANCE_PCT) -> bool:
    """True when a stop-loss was jumped through and filled at the first price after the jump, and that jump
    accounts for the loss beyond the plan: `after_trigger` (the first price after the stop fired) lies beyond
    the stop, the fill is within the tolerance's share of it (farther, and it was not the fill of that price:
    thin book, or a price read too late), and the realised loss is within the limit plus quantity × jump."""
    stop = trigger if trigger is not None else trade.planned_stop
    net = net_pnl(trade)
    if (trade.exit_reason is not ExitReason.STOP_LOSS or stop is None or trade.exit_price is None or net is None
            or trade.planned_loss is None or after_trigger <= 0):
        return False
    jump = (stop - after_trigger) * trade.direction.sign
    if jump <= 0 or abs(trade.exit_price - after_trigger) > after_trigger * tolerance_pct_notional / 100:
        return False
    notional = abs(trade.quantity) * trade.entry_price
    limit = trade.planned_loss + notional * tolerance_pct_notional / 100 + abs(trade.quantity) * jump
    return max(-net, ZERO) <= limit


def net_pnl(trade: TradeClosed) -> Decimal | None:
    """What the trade did to the wallet: price P&L, minus fees paid, plus funding received (None: unknown)."""
    if trade.realized_pnl is None:
        return None
    return trade.realized_pnl - trade.fees + trade.funding


def stop_slippage_bps(trade: TradeClosed, trigger: Decimal | None = None) -> Decimal | None:
    """A stop-loss exit's price against its stop's trigger (default: the planned stop) in bps, positive when
    worse for the position's side; None for any other exit (see the module's docstring)."""
    stop = trigger if trigger is not None else trade.planned_stop
    if trade.exit_reason not in SLIPPAGE_EXITS or stop is None or stop <= 0 or trade.exit_price is None:
        return None
    return (stop - trade.exit_price) * trade.direction.sign / stop * BPS


def _judge(net: Decimal, planned_loss: Decimal | None, limit: Decimal | None) -> tuple[bool, str]:
    """Breach only when the loss is strictly beyond the limit: landing exactly on it is what was accepted."""
    if planned_loss is None or limit is None:
        return False, "no planned stop"
    loss = max(-net, ZERO)
    if loss > limit:
        return True, (f"realised loss {fmt(_q(loss, _USDT_PLACES))} USDT exceeds planned loss "
                      f"{fmt(_q(planned_loss, _USDT_PLACES))} + tolerance (limit {fmt(_q(limit, _USDT_PLACES))})")
    return False, "within planned loss and tolerance"


# --- the summary ----------------------------------------------------------------------------------
def audit_summary(rows: Iterable[AuditRow]) -> dict[str, Any]:
    """The headline of an audit: what the CLI prints under the table and readiness reads for breaches."""
    items = list(rows)
    slippages = [r.slippage_bps for r in items if r.slippage_bps is not None]
    by_reason = {reason.value: 0 for reason in ExitReason}
    for row in items:
        by_reason[row.exit_reason.value] += 1
    known = [r for r in items if r.exit_reason is not ExitReason.UNKNOWN]
    worst_equity = min((r.realised.pct_equity for r in known if r.realised is not None), default=None)
    mean_slip = sum(slippages, ZERO) / len(slippages) if slippages else None
    return {
        "trades": len(items),
        "by_exit_reason": by_reason,
        "breaches": sum(1 for r in items if r.breach),
        "breach_trade_ids": [r.trade_id for r in items if r.breach],
        "unknown_exits": len(items) - len(known),
        "unknown_trade_ids": [r.trade_id for r in items if r.exit_reason is ExitReason.UNKNOWN],
        "stop_exits_with_slippage": len(slippages),
        #: Exits no slippage is measured for (not a stop-loss fill), by reason: outside worst and mean.
        "exits_without_slippage": {reason: n for reason, n in by_reason.items()
                                   if n and ExitReason(reason) not in SLIPPAGE_EXITS},
        "worst_slippage_bps": _opt(max(slippages, default=None), _BPS_PLACES),
        "mean_slippage_bps": _opt(mean_slip, _BPS_PLACES),
        "worst_realised_pct_equity": None if worst_equity is None else _pct(worst_equity),
    }


def audit_rows(trades: Sequence[TradeClosed], *, tolerance_pct_notional: Decimal = DEFAULT_TOLERANCE_PCT,
               gaps: frozenset[str] = frozenset(), triggers: Mapping[str, Decimal] | None = None,
               after_trigger: Mapping[str, Decimal] | None = None) -> list[AuditRow]:
    """Audit many trades; `gaps` holds the trade ids whose stop was gapped through, `triggers` the trigger
    price of the stop order that closed a trade and `after_trigger` the first price seen after it fired, by
    trade id (where known)."""
    known, after = triggers or {}, after_trigger or {}
    return [audit_row(t, tolerance_pct_notional=tolerance_pct_notional, gap=t.trade_id in gaps,
                      trigger=known.get(t.trade_id), after_trigger=after.get(t.trade_id)) for t in trades]


def loss_report_dict(report: LossReport) -> dict[str, str]:
    return {
        "usdt": _round(report.usdt, _USDT_PLACES),
        "pct_notional": _pct(report.pct_notional),
        "pct_margin": _pct(report.pct_margin),
        "pct_equity": _pct(report.pct_equity),
    }


def _pct(value: Decimal) -> str:
    """A percentage of the audit: four decimals (half up), trailing zeros kept, so that a column reads alike
    (`-0.1000` beside `-1.9949`; it read `-0.1`, `-0.5`, `-0.399`, `-1.9949`) and a stop's slippage past its plan
    (`-2.0039`) still shows; no `-0.0000` for a loss too small to show."""
    rounded = _q(value, _PCT_PLACES)
    return "0.0000" if rounded == 0 else format(rounded, "f")


def _q(value: Decimal, places: Decimal) -> Decimal:
    return value.quantize(places, rounding=ROUND_HALF_UP)


def _round(value: Decimal, places: Decimal | None) -> str:
    return fmt(value if places is None else _q(value, places))


def _opt(value: Decimal | None, places: Decimal | None) -> str | None:
    return None if value is None else _round(value, places)
