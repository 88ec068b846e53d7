"""Scenario files (CONTRACT §6): a position, its protection orders and a price path, run in the simulator.

A scenario answers "what would Binance have done with exactly these requests on this path?" with the
real instrument filters, error codes and trigger rules, so a stop that only "works" because a
simulator was lenient shows up as the rejection or the loss it really is. Fields, routing and
output are documented in examples/scenarios/README.md; optional extras are `description`, `seed`
(default 7) and `advance_seconds` (clock advance before each path step, default 0; funding applies
only when the clock crosses a funding time). An explicit `api: order|algo` sends parameters verbatim;
otherwise conditional types are routed to the Algo Order API the way ccxt and python-binance do it.

This module loads, validates, routes and runs a scenario; what a run produces (`SentOrder`,
`ScenarioResult`) and the report built from it live in scenario_report.py, split off along that
seam to keep both modules readable. Every public name of both is importable from here (`__all__`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from ..domain.errors import ConfigError, ExchangeError
from ..domain.money import ZERO, fmt, to_decimal
from .engine import ExchangeSimulator
from .market import PriceUpdate
from .scenario_report import ENDPOINTS, STOP_TYPES, Api, ScenarioResult, SentOrder, build_report
from .state import SimConfig
from .universe import load_universe

__all__ = [
    "ALGO_RENAMES",
    "CONDITIONAL_TYPES",
    "ENDPOINTS",
    "STOP_TYPES",
    "Api",
    "PositiveDecimal",
    "PricePoint",
    "Scenario",
    "ScenarioResult",
    "SentOrder",
    "build_report",
    "build_simulator",
    "load_scenario",
    "parse_scenario",
    "route_order",
    "run_scenario",
    "send_order",
]

CONDITIONAL_TYPES = frozenset({"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"})
#: Parameter names python-binance/ccxt rename when they move a conditional order to the Algo API.
ALGO_RENAMES = {"stopPrice": "triggerPrice", "activationPrice": "activatePrice", "newClientOrderId": "clientAlgoId"}


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
    shown = "null" if value is None else repr(value)
    raise ValueError(f"orders[{index}].{key}: {shown} is not a Binance parameter value (use a string or number)")


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
    try:
        sim = build_simulator(spec)
    except ConfigError as exc:
        raise ConfigError(f"{source or 'scenario'}: {exc}") from exc
    sent = [send_order(sim, *route_order(params, spec.symbol)) for params in spec.orders]
    result = ScenarioResult(spec, sim, sent, source=source)
    for point in spec.path:
        if spec.advance_seconds:
            sim.advance(spec.advance_seconds)
        events = sim.set_prices({spec.symbol: point.update})
        result.steps.append({"last": fmt(point.update.last), "mark": fmt(point.update.mark or ZERO),
                             "events": len(events)})
    return result
