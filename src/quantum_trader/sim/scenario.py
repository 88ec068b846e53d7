"""Scenario files (CONTRACT §6): a position, its protection orders and a price path, run in the simulator.

A scenario answers "what would Binance have done with exactly these requests on this path?" with the
real instrument filters, error codes and trigger rules, so a stop that only "works" because a
simulator was lenient shows up as the rejection or the loss it really is. Fields, routing and
output are documented in examples/scenarios/README.md; optional extras are `description`, `seed`
(default 7) and `advance_seconds` (clock advance before each path step, default 0; funding applies
only when the clock crosses a funding time). An explicit `api: order|algo` sends parameters verbatim;
otherwise conditional types are routed to the Algo Order API the way ccxt and python-binance do it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from ..domain.enums import AlgoStatus, ExitReason, OrderType, Side
from ..domain.errors import ConfigError, ExchangeError
from ..domain.fills import Fill
from ..domain.money import ZERO, fmt, pct, to_decimal
from ..domain.orders import AlgoOrder, Order
from ..domain.position import Position
from .engine import ExchangeSimulator
from .market import PriceUpdate
from .shapes import algo_order_json, order_json, position_risk_v2_row, spawned_order
from .state import SimConfig
from .universe import load_universe

CONDITIONAL_TYPES = frozenset({"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"})
ENDPOINTS = {"order": "/fapi/v1/order", "algo": "/fapi/v1/algoOrder"}
#: Parameter names python-binance/ccxt rename when they move a conditional order to the Algo API.
ALGO_RENAMES = {"stopPrice": "triggerPrice", "activationPrice": "activatePrice", "newClientOrderId": "clientAlgoId"}

Api = Literal["order", "algo"]


# --- the file model -------------------------------------------------------------------------------
def _decimal(value: object) -> Decimal:
    """Numbers from YAML floats go through their shortest repr, so 914.74 stays 914.74."""
    try:
        return to_decimal(value, "number")
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None


PositiveDecimal = Annotated[Decimal, BeforeValidator(_decimal), Field(gt=0)]


class PricePoint(BaseModel):
    """One market step; `mark` defaults to `last`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    last: PositiveDecimal
    mark: PositiveDecimal | None = None

    @property
    def update(self) -> PriceUpdate:
        return PriceUpdate(self.last, self.mark if self.mark is not None else self.last)


class Scenario(BaseModel):
    """A parsed scenario file; orders are already Binance wire strings (plus an optional `api`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str
    balance: PositiveDecimal
    leverage: Annotated[int, Field(ge=1, le=125)]
    margin_type: Literal["ISOLATED", "CROSSED"]
    start_price: PositiveDecimal
    orders: list[dict[str, str]] = []
    path: list[PricePoint] = []
    description: str = ""
    seed: int = 7
    advance_seconds: Annotated[Decimal, BeforeValidator(_decimal), Field(ge=0)] = Decimal(0)

    @field_validator("symbol", mode="before")
    @classmethod
    def _known_symbol(cls, value: object) -> str:
        symbol = str(value).strip().upper()
        if symbol not in load_universe():
            raise ValueError(f"{symbol!r} is not in the instrument universe (e.g. BTCUSDT, BNBUSDT)")
        return symbol

    @field_validator("margin_type", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("orders", mode="before")
    @classmethod
    def _wire_orders(cls, value: object) -> object:
        if not isinstance(value, list):
            return value
        return [_wire_params(i, params) for i, params in enumerate(value)]

    @field_validator("path", mode="before")
    @classmethod
    def _points(cls, value: object) -> object:
        if not isinstance(value, list):
            return value
        return [item if isinstance(item, Mapping) else {"last": item} for item in value]


def _wire_params(index: int, params: object) -> dict[str, str]:
    """One order's parameters as Binance strings: true/false, numbers without float artefacts."""
    if not isinstance(params, Mapping):
        raise ValueError(f"orders[{index}] must be a mapping of Binance parameters, got {type(params).__name__}")
    wire: dict[str, str] = {}
    for key, value in params.items():
        wire[str(key)] = _wire_value(index, str(key), value)
    api = wire.get("api")
    if api is not None:
        if api.lower() not in ENDPOINTS:
            raise ValueError(f"orders[{index}].api must be 'order' or 'algo', got {api!r}")
        wire["api"] = api.lower()
    return wire


def _wire_value(index: int, key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return format(to_decimal(value, key), "f")
    if isinstance(value, str):
        return value
    raise ValueError(f"orders[{index}].{key}: {value!r} is not a Binance parameter value (use a string or number)")


# --- loading --------------------------------------------------------------------------------------
def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; any problem is a one-line ConfigError naming the field."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the scenario file ({exc.strerror or exc})") from exc
    try:
        data = json.loads(text, parse_float=Decimal) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{file}: not valid {'JSON' if file.suffix.lower() == '.json' else 'YAML'}: "
                          f"{' '.join(str(exc).split())}") from exc
    return parse_scenario(data, str(file))


def parse_scenario(data: object, source: str = "scenario") -> Scenario:
    """Validate already-parsed data (e.g. from a test or an API body) exactly as a file would be."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: the top level must be a mapping with symbol, balance, leverage, ...")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: " + "; ".join(_describe(e) for e in exc.errors())) from None


def _describe(error: Mapping[str, Any]) -> str:
    """One pydantic error as `field: problem (fix)`."""
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".") or "file"
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(Scenario.model_fields) if "." not in loc else "last, mark"
        return f"{loc}: unknown field (allowed: {allowed})"
    if kind == "missing":
        return f"{loc}: required field is missing"
    if kind == "literal_error":
        return f"{loc}: {error['msg']} (got {error.get('input')!r})"
    message = str(error["msg"]).removeprefix("Value error, ")
    return message if message.startswith(loc) else f"{loc}: {message}"


# --- routing --------------------------------------------------------------------------------------
def route_order(params: Mapping[str, str], symbol: str) -> tuple[Api, dict[str, str]]:
    """(endpoint, parameters as sent): an explicit `api` sends them verbatim, otherwise ccxt's routing."""
    request = {k: v for k, v in params.items() if k != "api"}
    request.setdefault("symbol", symbol)
    explicit = params.get("api")
    if explicit is not None or request.get("type", "").strip().upper() not in CONDITIONAL_TYPES:
        return ("algo" if explicit == "algo" else "order"), request
    routed = {"algoType": "CONDITIONAL"}
    for key, value in request.items():
        name = ALGO_RENAMES.get(key, key)
        if name in request and name != key:
            continue  # the client already sent the algo name; it wins over the classic one
        routed[name] = value
    return "algo", routed


# --- running --------------------------------------------------------------------------------------
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


def build_simulator(scenario: Scenario) -> ExchangeSimulator:
    """A simulator holding only the scenario's instrument (real filters), funded and configured."""
    instrument = load_universe().instrument(scenario.symbol)
    sim = ExchangeSimulator({scenario.symbol: instrument}, SimConfig(seed=scenario.seed, balance=scenario.balance))
    try:
        sim.set_leverage(scenario.symbol, scenario.leverage)
    except ExchangeError as exc:
        raise ConfigError(f"leverage: {scenario.leverage} is refused for {scenario.symbol} "
                          f"(Binance {exc.code}: {exc.msg}; its maximum is {instrument.max_leverage})") from exc
    if sim.account.margin_type_of(scenario.symbol).value != scenario.margin_type:
        sim.set_margin_type(scenario.symbol, scenario.margin_type)
    sim.set_prices({scenario.symbol: PriceUpdate(scenario.start_price, scenario.start_price)})
    return sim


def send_order(sim: ExchangeSimulator, api: Api, request: dict[str, str]) -> SentOrder:
    try:
        if api == "algo":
            return SentOrder(api, request, algo=sim.new_algo_order(request))
        return SentOrder(api, request, order=sim.new_order(request))
    except ExchangeError as exc:
        return SentOrder(api, request, error=exc)


def run_scenario(scenario: Scenario | str | Path) -> ScenarioResult:
    """Send the orders in file order, then apply each path step; nothing here depends on the wall clock."""
    source = "" if isinstance(scenario, Scenario) else str(scenario)
    spec = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    sim = build_simulator(spec)
    sent = [send_order(sim, *route_order(params, spec.symbol)) for params in spec.orders]
    result = ScenarioResult(spec, sim, sent, source=source)
    for point in spec.path:
        if spec.advance_seconds:
            sim.advance(spec.advance_seconds)
        events = sim.set_prices({spec.symbol: point.update})
        result.steps.append({"last": fmt(point.update.last), "mark": fmt(point.update.mark or ZERO),
                             "events": len(events)})
    return result


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
