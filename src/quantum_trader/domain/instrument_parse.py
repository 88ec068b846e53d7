"""Binance's exchangeInfo symbol objects and leverage-bracket rows as `Instrument`s.

Every adapter that meets Binance's JSON needs this (the ccxt adapter reading a live answer, the
simulator reading its packaged table), so it lives with the type it builds rather than in either.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from .instrument import Instrument, LeverageBracket, Liquidity, LotSize, PercentPrice, PriceFilter
from .money import ZERO, to_decimal

_DEFAULT_MAX_NUM_ORDERS = 200
_DEFAULT_MAX_NUM_ALGO_ORDERS = 10
#: Instrument's own defaults (a slotted dataclass has no class attributes to read them from).
_INSTRUMENT_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(Instrument)}


def filters_by_type(info: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(f["filterType"]): f for f in info.get("filters", [])}


def instrument_from_symbol_info(
    info: Mapping[str, Any],
    brackets: Iterable[Mapping[str, Any]],
    *,
    typical_price: Decimal = ZERO,
    liquidity: Liquidity | None = None,
) -> Instrument:
    """An `Instrument` from one exchangeInfo symbol object and its leverageBracket rows.

    Works on a live answer as well as on the packaged table: numbers are parsed from their string
    form (or a float's shortest repr), never through binary floating point arithmetic, so a tick of
    0.1 stays exactly 0.1. A missing filter means "no limit", as a zero does on Binance.
    """
    filters = filters_by_type(info)
    percent = filters.get("PERCENT_PRICE", {})
    return Instrument(
        symbol=str(info["symbol"]),
        base_asset=str(info["baseAsset"]),
        quote_asset=str(info["quoteAsset"]),
        margin_asset=str(info.get("marginAsset", info["quoteAsset"])),
        price_precision=int(info["pricePrecision"]),
        quantity_precision=int(info["quantityPrecision"]),
        price_filter=_price_filter(filters.get("PRICE_FILTER", {})),
        lot_size=_lot(filters.get("LOT_SIZE", {})),
        market_lot_size=_lot(filters.get("MARKET_LOT_SIZE") or filters.get("LOT_SIZE", {})),
        min_notional=_dec(filters.get("MIN_NOTIONAL", {}), "notional"),
        percent_price=PercentPrice(
            multiplier_up=_dec(percent, "multiplierUp"),
            multiplier_down=_dec(percent, "multiplierDown"),
            multiplier_decimal=int(percent.get("multiplierDecimal", 0)),
        ),
        max_num_orders=int(filters.get("MAX_NUM_ORDERS", {}).get("limit", _DEFAULT_MAX_NUM_ORDERS)),
        max_num_algo_orders=int(
            filters.get("MAX_NUM_ALGO_ORDERS", {}).get("limit", _DEFAULT_MAX_NUM_ALGO_ORDERS)
        ),
        trigger_protect=_dec(info, "triggerProtect"),
        liquidation_fee=_dec(info, "liquidationFee"),
        market_take_bound=_dec(info, "marketTakeBound"),
        brackets=leverage_brackets_from_rows(brackets),
        order_types=tuple(str(t) for t in info.get("orderTypes", _INSTRUMENT_DEFAULTS["order_types"])),
        time_in_force=tuple(str(t) for t in info.get("timeInForce", _INSTRUMENT_DEFAULTS["time_in_force"])),
        onboard_date=int(info.get("onboardDate", 0)),
        maint_margin_percent=_dec(info, "maintMarginPercent", "2.5000"),
        required_margin_percent=_dec(info, "requiredMarginPercent", "5.0000"),
        underlying_sub_type=tuple(str(t) for t in info.get("underlyingSubType", ())),
        typical_price=typical_price,
        liquidity=liquidity or Liquidity(),
    )


def leverage_brackets_from_rows(rows: Iterable[Mapping[str, Any]]) -> tuple[LeverageBracket, ...]:
    """Raw bracket rows (strings or numbers) as `LeverageBracket`s sorted by bracket number."""
    brackets = (
        LeverageBracket(
            bracket=int(row["bracket"]),
            initial_leverage=int(row["initialLeverage"]),
            notional_cap=to_decimal(row["notionalCap"], "notionalCap"),
            notional_floor=to_decimal(row["notionalFloor"], "notionalFloor"),
            maint_margin_ratio=to_decimal(row["maintMarginRatio"], "maintMarginRatio"),
            cum=to_decimal(row["cum"], "cum"),
        )
        for row in rows
    )
    return tuple(sorted(brackets, key=lambda b: b.bracket))


def _dec(source: Mapping[str, Any], key: str, default: str = "0") -> Decimal:
    return to_decimal(source.get(key, default), key)


def _price_filter(raw: Mapping[str, Any]) -> PriceFilter:
    return PriceFilter(_dec(raw, "minPrice"), _dec(raw, "maxPrice"), _dec(raw, "tickSize"))


def _lot(raw: Mapping[str, Any]) -> LotSize:
    return LotSize(_dec(raw, "minQty"), _dec(raw, "maxQty"), _dec(raw, "stepSize"))
