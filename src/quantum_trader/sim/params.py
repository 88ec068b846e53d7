"""Raw Binance request parameters → typed order requests, with Binance's answers for malformed input.

The simulator receives what a client sends: strings (python-binance even sends booleans as "True").
Parsing follows Binance's order of checks: the spelling of every numeric parameter (-1100, before
anything else: Binance matches decimals against `^([0-9]{1,20})(\\.[0-9]{1,20})?$` and integers against
`^[0-9]{1,20}$`, so `1E-2`, `1_000`, Arabic-Indic digits, signs and spaces never reach a filter), then
mandatory fields, then enum values (an unknown type is -1116 before anything else is looked at), then
per-type mandatory parameters. Python's own `Decimal()` and `int()` accept all of those spellings, which
is why a client sending `str(float)` would pass here and fail live without the patterns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import TypeVar

from ..domain import binance_errors as be
from ..domain.enums import NewOrderRespType, OrderType, PositionSide, Side, TimeInForce, WorkingType
from ..domain.errors import OrderRejected
from ..domain.fast_init import fast_init
from ..domain.money import ZERO

Params = Mapping[str, str]
E = TypeVar("E", bound=Enum)

#: Binance's legal ranges, quoted in its -1100 message ([0-9] is ASCII only, unlike Python's `\d`).
DECIMAL_PATTERN = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
INTEGER_PATTERN = r"^[0-9]{1,20}$"
_DECIMAL_RE = re.compile(r"([0-9]{1,20})(\.[0-9]{1,20})?", re.ASCII)
_INTEGER_RE = re.compile(r"[0-9]{1,20}", re.ASCII)
#: Every decimal parameter of the endpoints served (orders, algo orders).
DECIMAL_PARAMS = frozenset({"quantity", "price", "stopPrice", "triggerPrice", "activationPrice", "activatePrice",
                            "callbackRate"})
#: Every integer parameter. `limit` and `orderId`/`fromId` are observed with the integer pattern; timestamp,
#: recvWindow, times, ids and leverage are assumed to share it (Binance documents one integer pattern).
INTEGER_PARAMS = frozenset({"timestamp", "recvWindow", "orderId", "algoId", "fromId", "limit", "startTime",
                            "endTime", "goodTillDate", "leverage"})
_NUMERIC_PARAMS = DECIMAL_PARAMS | INTEGER_PARAMS


@fast_init
@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order as the client asked for it, before any check against market or account state."""

    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal | None
    price: Decimal | None
    stop_price: Decimal | None
    time_in_force: TimeInForce | None
    position_side: PositionSide | None
    reduce_only: bool
    close_position: bool
    working_type: WorkingType
    price_protect: bool
    client_id: str | None
    resp_type: NewOrderRespType
    activate_price: Decimal | None = None
    callback_rate: Decimal | None = None
    good_till_date: int = 0
    #: True when it came through the Algo Order API (its ids and shapes are algo ones).
    algo: bool = False


def text(params: Params, name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    stripped = str(value).strip()
    return stripped or None


def required(params: Params, name: str, wire_name: str | None = None) -> str:
    value = text(params, name)
    if value is None:
        raise be.mandatory_param(wire_name or name)
    return value


def parse_bool(params: Params, name: str) -> bool:
    """Binance booleans are the strings true/false; accept any case, as python-binance sends "True"."""
    value = text(params, name)
    if value is None:
        return False
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise be.invalid_data(name)
    return lowered == "true"


def _raw(params: Params, name: str) -> str | None:
    """The value as sent (not stripped: a leading space is an illegal character); None if absent or empty."""
    value = params.get(name)
    if value is None:
        return None
    raw = str(value)
    return raw or None


def decimal_text(raw: str, name: str) -> Decimal:
    """A decimal spelled the only way Binance accepts, or -1100 naming the parameter and the pattern."""
    if _DECIMAL_RE.fullmatch(raw) is None:
        raise be.illegal_characters(name, DECIMAL_PATTERN)
    return Decimal(raw)


def integer_text(raw: str, name: str) -> int:
    """An integer spelled the only way Binance accepts (ASCII digits, at most 20), or -1100."""
    if _INTEGER_RE.fullmatch(raw) is None:
        raise be.illegal_characters(name, INTEGER_PATTERN)
    return int(raw)


def check_numeric_params(params: Params) -> None:
    """-1100 for the first numeric parameter (by name) spelled outside Binance's pattern.

    Run once on every request's merged parameters, so each endpoint gets the rule whether or not its
    handler parses that parameter. Empty values are left to the mandatory-parameter check (-1102).
    """
    for name in sorted(_NUMERIC_PARAMS.intersection(params)):  # sorted: the same request names the same one
        raw = _raw(params, name)
        if raw is not None:
            (decimal_text if name in DECIMAL_PARAMS else integer_text)(raw, name)


def parse_decimal(params: Params, name: str) -> Decimal | None:
    raw = _raw(params, name)
    return None if raw is None else decimal_text(raw, name)


def parse_enum(params: Params, name: str, enum: type[E], error: Callable[[], OrderRejected]) -> E | None:
    """`error` is a factory: building an OrderRejected for every parsed field is a measurable cost."""
    value = text(params, name)
    if value is None:
        return None
    try:
        return enum(value.upper())
    except ValueError:
        raise error() from None


def parse_order_type(raw: str) -> OrderType:
    """-1116 for anything outside the seven futures types (STOP_LOSS and other spot types included)."""
    try:
        return OrderType(raw.upper())
    except ValueError:
        raise be.invalid_order_type() from None


def parse_common(params: Params, *, algo: bool) -> OrderRequest:
    """Fields shared by the classic and the algo endpoint, with algo names where they differ."""
    check_numeric_params(params)
    symbol = required(params, "symbol").upper()
    side_raw = required(params, "side")
    type_raw = required(params, "type")
    try:
        side = Side(side_raw.upper())
    except ValueError:
        raise be.invalid_side() from None
    order_type = parse_order_type(type_raw)
    trigger_name, activate_name = ("triggerPrice", "activatePrice") if algo else ("stopPrice", "activationPrice")
    resp = parse_enum(params, "newOrderRespType", NewOrderRespType, be.invalid_resp_type)
    gtd = param_int(params, "goodTillDate")
    return OrderRequest(
        symbol=symbol,
        side=side,
        type=order_type,
        quantity=parse_decimal(params, "quantity"),
        price=parse_decimal(params, "price"),
        stop_price=parse_decimal(params, trigger_name),
        time_in_force=parse_enum(params, "timeInForce", TimeInForce, be.invalid_tif),
        position_side=parse_enum(params, "positionSide", PositionSide, lambda: be.invalid_data("positionSide")),
        reduce_only=parse_bool(params, "reduceOnly"),
        close_position=parse_bool(params, "closePosition"),
        working_type=parse_enum(params, "workingType", WorkingType, be.invalid_working_type)
        or WorkingType.CONTRACT_PRICE,
        price_protect=parse_bool(params, "priceProtect"),
        client_id=text(params, "clientAlgoId" if algo else "newClientOrderId"),
        resp_type=resp or NewOrderRespType.ACK,
        activate_price=parse_decimal(params, activate_name),
        callback_rate=parse_decimal(params, "callbackRate"),
        good_till_date=gtd or 0,
        algo=algo,
    )


def parse_classic_order(params: Params) -> OrderRequest:
    """`POST /fapi/v1/order`: LIMIT and MARKET only since 2025-12-09 (conditional types → -4120)."""
    request = parse_common(params, algo=False)
    if request.type.is_conditional:
        raise be.conditional_on_classic_endpoint()
    if request.type is OrderType.LIMIT:
        for name, value in (("timeInForce", request.time_in_force), ("quantity", request.quantity),
                            ("price", request.price)):
            if value is None:
                raise be.mandatory_param(name)
    elif request.quantity is None:
        raise be.mandatory_param("quantity")
    if request.close_position:
        raise be.param_not_required("closePosition")
    if request.time_in_force is TimeInForce.GTE_GTC:
        raise be.invalid_tif()
    return request


def parse_algo_order(params: Params) -> OrderRequest:
    """`POST /fapi/v1/algoOrder` with algoType=CONDITIONAL: the five conditional types only."""
    algo_type = required(params, "algoType")
    if algo_type.upper() != "CONDITIONAL":
        raise be.invalid_data("algoType")
    request = parse_common(params, algo=True)
    if not request.type.is_conditional:
        raise be.invalid_order_type()
    _check_algo_mandatory(request)
    return request


def _check_algo_mandatory(request: OrderRequest) -> None:
    order_type = request.type
    if order_type is OrderType.TRAILING_STOP_MARKET:
        if request.callback_rate is None:
            raise be.mandatory_param("callbackRate")
    elif request.stop_price is None:
        raise be.mandatory_param("triggerPrice")
    if order_type.becomes_limit and request.price is None:
        raise be.mandatory_param("price")
    if request.close_position:
        if not order_type.allows_close_position:
            raise be.param_not_required("closePosition")
        if request.quantity is not None and request.quantity != ZERO:
            raise be.qty_must_be_zero_with_close_position()
        if request.reduce_only:
            raise be.param_not_required("reduceOnly")
    elif request.quantity is None:
        raise be.mandatory_param("quantity")
    if request.time_in_force is TimeInForce.GTE_GTC:
        raise be.invalid_tif()


def param_int(params: Params, name: str) -> int | None:
    raw = _raw(params, name)
    return None if raw is None else integer_text(raw, name)
