"""Small `Instrument` builders for unit tests: real-looking filters, chosen brackets, no catalogue needed."""

from __future__ import annotations

from decimal import Decimal

from quantum_trader.domain.instrument import (
    Instrument,
    LeverageBracket,
    Liquidity,
    LotSize,
    PercentPrice,
    PriceFilter,
)


def bracket(n: int, leverage: int, floor: str, cap: str, mmr: str, cum: str) -> LeverageBracket:
    return LeverageBracket(n, leverage, Decimal(cap), Decimal(floor), Decimal(mmr), Decimal(cum))


#: The BTCUSDT table quoted in shared/binance_futures.md §8.5 (cum_n = cum_(n-1) + floor_n × ΔMMR).
BTC_BRACKETS = (
    bracket(1, 125, "0", "50000", "0.004", "0"),
    bracket(2, 100, "50000", "250000", "0.005", "50"),
    bracket(3, 50, "250000", "1000000", "0.01", "1300"),
)

#: BNBUSDT's first four brackets from the 2024-10-24 leverageBracket snapshot.
BNB_BRACKETS = (
    bracket(1, 75, "0", "10000", "0.005", "0"),
    bracket(2, 50, "10000", "50000", "0.006", "10"),
    bracket(3, 40, "50000", "200000", "0.01", "210"),
    bracket(4, 25, "200000", "1500000", "0.02", "2210"),
)


def make_instrument(
    symbol: str = "BTCUSDT",
    *,
    tick: str = "0.10",
    step: str = "0.001",
    price_precision: int = 2,
    quantity_precision: int = 3,
    min_price: str = "0",
    brackets: tuple[LeverageBracket, ...] = BTC_BRACKETS,
    liquidity: Liquidity | None = None,
    typical_price: str = "0",
) -> Instrument:
    base = symbol.removesuffix("USDT")
    lot = LotSize(Decimal(step), Decimal("100000"), Decimal(step))
    return Instrument(
        symbol=symbol,
        base_asset=base,
        quote_asset="USDT",
        margin_asset="USDT",
        price_precision=price_precision,
        quantity_precision=quantity_precision,
        price_filter=PriceFilter(Decimal(min_price), Decimal("1000000"), Decimal(tick)),
        lot_size=lot,
        market_lot_size=lot,
        min_notional=Decimal("5"),
        percent_price=PercentPrice(Decimal("1.05"), Decimal("0.95"), 4),
        max_num_orders=200,
        max_num_algo_orders=10,
        trigger_protect=Decimal("0.05"),
        liquidation_fee=Decimal("0.0125"),
        market_take_bound=Decimal("0.05"),
        brackets=brackets,
        typical_price=Decimal(typical_price),
        liquidity=liquidity or Liquidity(),
    )


def btc_like(tick: str = "0.10", **overrides: object) -> Instrument:
    """BTCUSDT-like: tick 0.10 (0.01 when a test needs cents), step 0.001, the §8.5 bracket table."""
    return make_instrument("BTCUSDT", tick=tick, **overrides)  # type: ignore[arg-type]


def bnb_like(**overrides: object) -> Instrument:
    """BNBUSDT-like: tick 0.010, step 0.01, real brackets, a tight book (0.5 bp spread, 1 M USDT depth)."""
    params: dict[str, object] = {
        "tick": "0.010",
        "step": "0.01",
        "price_precision": 3,
        "quantity_precision": 2,
        "brackets": BNB_BRACKETS,
        "liquidity": Liquidity(spread_bps=Decimal("0.5"), depth_usdt=Decimal("1000000")),
        "typical_price": "920",
    }
    params.update(overrides)
    return make_instrument("BNBUSDT", **params)  # type: ignore[arg-type]
