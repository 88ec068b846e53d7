"""Binance USDⓈ-M request weights (binance_futures.md §5.4): a fact about the venue, shared by the
simulator server (which charges them) and the bot's request budget (which plans by them), so the two
can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Endpoint weights; anything unlisted weighs 1. Symbol-dependent ones are in `WITHOUT_SYMBOL` and `weight_of`.
WEIGHTS: dict[tuple[str, str], int] = {
    ("POST", "/fapi/v1/order"): 0,
    ("POST", "/fapi/v1/algoOrder"): 0,
    ("GET", "/fapi/v2/positionRisk"): 5,
    ("GET", "/fapi/v3/positionRisk"): 5,
    ("GET", "/fapi/v2/account"): 5,
    ("GET", "/fapi/v3/account"): 5,
    ("GET", "/fapi/v2/balance"): 5,
    ("GET", "/fapi/v3/balance"): 5,
    ("GET", "/fapi/v1/userTrades"): 5,
    ("GET", "/fapi/v1/positionSide/dual"): 30,
    ("GET", "/fapi/v1/commissionRate"): 20,
    ("GET", "/fapi/v1/allOrders"): 5,
    ("GET", "/fapi/v1/income"): 30,
    ("GET", "/fapi/v1/ticker/24hr"): 1,
    # Binance also caps fundingRate (shared with fundingInfo) at 500 requests per 5 minutes per IP; that
    # separate limit is not modelled: a download asks once per 1,000 funding rows, far below it.
    ("GET", "/fapi/v1/fundingRate"): 1,
}
#: Endpoints weighed by their `limit` as klines are (binance_futures.md §5.4).
BY_LIMIT = frozenset({"/fapi/v1/klines", "/fapi/v1/markPriceKlines", "/fapi/v1/indexPriceKlines",
                      "/fapi/v1/continuousKlines", "/fapi/v1/premiumIndexKlines"})
#: Lists that take an optional symbol: their weight without one (with one they weigh as in WEIGHTS, or 1).
WITHOUT_SYMBOL: dict[str, int] = {
    "/fapi/v1/openOrders": 40,
    "/fapi/v1/openAlgoOrders": 40,
    "/fapi/v1/ticker/price": 2,
    "/fapi/v2/ticker/price": 2,
    "/fapi/v1/ticker/24hr": 40,
    "/fapi/v1/premiumIndex": 10,
}


def weight_of(method: str, path: str, params: Mapping[str, str]) -> int:
    """The request's IP weight: by endpoint, by `limit` for klines-like ones, heavier without a symbol for lists."""
    if path in BY_LIMIT:
        try:
            limit = int(params.get("limit", "500"))
        except ValueError:
            limit = 500
        return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
    if method == "GET" and path in WITHOUT_SYMBOL and not params.get("symbol"):
        return WITHOUT_SYMBOL[path]
    return WEIGHTS.get((method, path), 1)
