"""A scenario's result and its report: what was sent, what the simulator answered, and what it cost.

Split out of scenario.py (a module past ~400 lines is split along its seams): scenario.py loads,
validates, routes and runs a scenario file; this module holds what a run produces (`SentOrder`,
`ScenarioResult`) and turns it into the CONTRACT §6 report that `ScenarioResult.to_dict`/`to_json`
return and the CLI renders: one entry per order (accepted or Binance's exact error, trigger, fill,
slippage past the stop), the loss in USDT and as % of notional, margin and equity, and a one-line
verdict. The result types live here rather than in scenario.py because `to_dict` needs the report,
and scenario.py needs the result types: so imports point one way (scenario -> scenario_report; the
`Scenario` model is imported for type checking only). `quantum_trader.sim.scenario` re-exports every
public name here, so callers import from there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from ..domain.enums import AlgoStatus, ExitReason, OrderType, Side
from ..domain.errors import ExchangeError
from ..domain.fills import Fill
from ..domain.money import ZERO, fmt, pct, to_decimal
from ..domain.orders import AlgoOrder, Order
from ..domain.position import Position
from .engine import ExchangeSimulator
from .shapes import algo_order_json, order_json, position_risk_v2_row, spawned_order

if TYPE_CHECKING:
    from .scenario import Scenario

#: The two APIs a request goes to (scenario.route_order picks one) and the path each report entry names.
ENDPOINTS = {"order": "/fapi/v1/order", "algo": "/fapi/v1/algoOrder"}

Api = Literal["order", "algo"]


# --- what a run produces --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SentOrder:
    """One request and the simulator's answer (exactly one of error / order / algo is set)."""

    api: Api
    request: dict[str, str]
    error: ExchangeError | None = None
    order: Order | None = None
    algo: AlgoOrder | None = None


@dataclass(slots=True)
class ScenarioResult:
    """The simulator after the run plus what was sent; `to_dict`/`to_json` give CONTRACT §6 output."""

    scenario: Scenario
    sim: ExchangeSimulator
    sent: list[SentOrder]
    #: One row per path step: the prices applied and how many events the step caused.
    steps: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return build_report(self)

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)


# --- the report -----------------------------------------------------------------------------------
#: Request types that mean "this is the stop-loss" (spot STOP_LOSS too: that was the intent).
STOP_TYPES = frozenset({"STOP", "STOP_MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TRAILING_STOP_MARKET"})
_STOP_FAMILY = (OrderType.STOP, OrderType.STOP_MARKET, OrderType.TRAILING_STOP_MARKET)
_TP_FAMILY = (OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_MARKET)


def _pct4(value: Decimal) -> str:
    return fmt(value.quantize(Decimal("0.0001")))


def build_report(result: ScenarioResult) -> dict[str, Any]:
    """CONTRACT §6 output (orders, position, wallet_balance, realized_pnl, fees, events) plus additions."""
    sim, spec = result.sim, result.scenario
    account = sim.account
    amount = sim.position(spec.symbol).amount
    loss = _loss_block(result)
    return {
        "orders": [_order_entry(sim, sent) for sent in result.sent],
        "position": position_risk_v2_row(sim, spec.symbol),
        "wallet_balance": fmt(account.wallet_balance),
        "realized_pnl": fmt(account.total_realized),
        "fees": fmt(account.total_fees),
        "events": list(sim.events),
        "scenario": {"file": result.source, "symbol": spec.symbol, "description": spec.description,
                     "balance": fmt(spec.balance), "leverage": spec.leverage, "margin_type": spec.margin_type,
                     "start_price": fmt(spec.start_price)},
        "equity": fmt(sim.equity),
        "funding": fmt(account.total_funding),
        "steps": list(result.steps),
        "loss": loss,
        "position_open": amount != 0,
        "protected": None if amount == 0 else _working_stop(sim, spec.symbol, amount) is not None,
        "verdict": _verdict(result, loss),
    }


def _order_entry(sim: ExchangeSimulator, sent: SentOrder) -> dict[str, Any]:
    """The contract's request/accepted/error/order, plus trigger and fill facts for a reader."""
    entry: dict[str, Any] = {
        "request": dict(sent.request), "accepted": sent.error is None,
        "error": sent.error.to_body() if sent.error is not None else None, "order": None,
        "api": sent.api, "endpoint": ENDPOINTS[sent.api], "triggered": None, "filled_at": None,
        "executed_qty": "0", "slippage_bps_vs_stop": None, "spawned_order": None,
    }
    filled: Order | None = sent.order
    if sent.order is not None:
        entry["order"] = order_json(sent.order)
    if sent.algo is not None:
        algo = sent.algo
        filled = spawned_order(algo, sim)
        entry.update(order=algo_order_json(algo, sim), triggered=algo.trigger_time > 0,
                     spawned_order=order_json(filled) if filled is not None else None)
    if filled is not None and filled.executed_qty:
        entry.update(filled_at=fmt(filled.avg_price), executed_qty=fmt(filled.executed_qty))
        if sent.algo is not None and sent.algo.trigger_price:
            entry["slippage_bps_vs_stop"] = fmt(_adverse_bps(filled.side, filled.avg_price, sent.algo.trigger_price))
    return entry


def _adverse_bps(side: Side, fill: Decimal, stop: Decimal) -> Decimal:
    """How far past its trigger an order filled, in bps; positive = worse for the trader."""
    return ((fill - stop) * side.sign / stop * 10_000).quantize(Decimal("0.01"))


def _trade_shape(sim: ExchangeSimulator, symbol: str) -> tuple[Decimal, Decimal, Fill | None]:
    """Largest position held (qty, its entry price) and the fill that last took it flat, from the fills."""
    scratch = Position(symbol)
    peak_qty, peak_entry, exit_fill = ZERO, ZERO, None
    for fill in (f for f in sim.state.fills if f.symbol == symbol):
        before = scratch.amount
        scratch.apply_fill(fill.qty * fill.side.sign, fill.price)
        if abs(scratch.amount) > peak_qty:
            peak_qty, peak_entry = abs(scratch.amount), scratch.entry_price
        if before and not scratch.amount:
            exit_fill = fill
    return peak_qty, peak_entry, exit_fill


def _planned_stop(sent: list[SentOrder]) -> Decimal | None:
    """The stop price the scenario meant to protect with (first stop-type request, accepted or not)."""
    for item in sent:
        if item.request.get("type", "").strip().upper() in STOP_TYPES:
            raw = item.request.get("triggerPrice") or item.request.get("stopPrice") or ""
            return to_decimal(raw, "stopPrice") if raw.replace(".", "", 1).isdigit() else None
    return None


def _exit_reason(order: Order | None) -> ExitReason:
    if order is not None and order.client_order_id.startswith("autoclose-"):
        return ExitReason.LIQUIDATION
    kind = order.orig_type if order is not None else OrderType.MARKET
    return ExitReason.STOP_LOSS if kind in _STOP_FAMILY else ExitReason.TAKE_PROFIT if kind in _TP_FAMILY \
        else ExitReason.MANUAL


def _loss_block(result: ScenarioResult) -> dict[str, Any]:
    """P&L (negative = loss) in USDT, % of entry notional, % of its initial margin, % of starting equity."""
    sim, spec = result.sim, result.scenario
    qty, entry, exit_fill = _trade_shape(sim, spec.symbol)
    notional = qty * entry
    margin = notional / spec.leverage
    pnl = sim.equity - spec.balance
    is_open = sim.position(spec.symbol).amount != 0
    block: dict[str, Any] = {
        "state": "open" if is_open else "closed" if qty else "none",
        "pnl_usdt": fmt(pnl), "pct_notional": _pct4(pct(pnl, notional)), "pct_margin": _pct4(pct(pnl, margin)),
        "pct_equity": _pct4(pct(pnl, spec.balance)), "realized_pnl": fmt(sim.account.total_realized),
        "unrealized_pnl": fmt(sim.position(spec.symbol).unrealized_pnl(sim.mark_price(spec.symbol))),
        "fees": fmt(sim.account.total_fees), "funding": fmt(sim.account.total_funding),
        "entry_price": fmt(entry), "entry_notional": fmt(notional), "entry_margin": fmt(margin),
        "start_equity": fmt(spec.balance), "planned_stop_price": None, "planned_loss_usdt": None,
        "planned_pct_notional": None, "exit_reason": None, "exit_price": None, "exit_slippage_bps_vs_stop": None,
    }
    stop = _planned_stop(result.sent)
    if stop is not None and qty:
        block.update(planned_stop_price=fmt(stop), planned_loss_usdt=fmt(-qty * abs(stop - entry)),
                     planned_pct_notional=_pct4(-abs(stop - entry) / entry * 100))
    if exit_fill is not None and not is_open:
        order = sim.state.orders.get(exit_fill.order_id)
        price = order.avg_price if order is not None else exit_fill.price
        block.update(exit_reason=_exit_reason(order).value, exit_price=fmt(price))
        if order is not None and order.stop_price:
            block["exit_slippage_bps_vs_stop"] = fmt(_adverse_bps(order.side, price, order.stop_price))
    return block


def _working_stop(sim: ExchangeSimulator, symbol: str, amount: Decimal) -> AlgoOrder | None:
    """A NEW stop-family algo order on the closing side: the only thing that still protects."""
    closing = Side.BUY if amount < 0 else Side.SELL
    for algo in sim.open_algo_orders(symbol):
        if algo.status is AlgoStatus.NEW and algo.side is closing and algo.order_type in _STOP_FAMILY:
            return algo
    return None


def _unprotected_reason(result: ScenarioResult) -> str:
    for item in result.sent:
        kind = item.request.get("type", "").strip().upper()
        if kind not in STOP_TYPES:
            continue
        if item.error is not None:
            return f"the {kind} was rejected ({item.error.code} {item.error.msg})"
        child = spawned_order(item.algo, result.sim) if item.algo is not None else None
        if child is not None and child.is_open:
            return f"the {kind} triggered but its LIMIT at {fmt(child.price)} rests unfilled"
        status = item.algo.status.value if item.algo is not None else "sent to /fapi/v1/order"
        return f"the {kind} is {status}"
    return "no stop-loss order was sent"


def _verdict(result: ScenarioResult, loss: dict[str, Any]) -> dict[str, str]:
    """One line a trader reads first; level ok / warn / danger drives its colour."""
    sim, symbol = result.sim, result.scenario.symbol
    amount = sim.position(symbol).amount
    if amount:
        stop = _working_stop(sim, symbol, amount)
        if stop is None:
            why = _unprotected_reason(result)
            return {"level": "danger", "text": f"Position open with NO working stop-loss: {why}"}
        return {"level": "ok", "text": f"Position open, protected by {stop.order_type.value} at "
                                       f"{fmt(stop.trigger_price)}"}
    reason, price, bps = loss["exit_reason"], loss["exit_price"], loss["exit_slippage_bps_vs_stop"]
    if reason is None:
        return {"level": "ok", "text": "No position was opened"}
    if reason == ExitReason.LIQUIDATION.value:
        return {"level": "danger", "text": f"Position LIQUIDATED at {price}: {loss['pnl_usdt']} USDT, "
                                           f"{loss['pct_margin']}% of margin"}
    if reason == ExitReason.STOP_LOSS.value and bps is not None:
        past = (Decimal(bps) / 100).quantize(Decimal("0.01"))
        where = f"{past}% past the stop" if past > 0 else f"{-past}% better than the stop"
        return {"level": "warn" if past > 0 else "ok", "text": f"Stop filled at {price}, {where}"}
    return {"level": "ok", "text": f"Position closed by {reason.replace('_', ' ')} at {price}"}
