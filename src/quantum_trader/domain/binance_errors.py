"""Binance USDⓈ-M error codes with their exact wire messages (shared/binance_futures.md §4.2).

Each factory returns an `OrderRejected` (or auth/rate error) whose body is byte-for-byte what Binance
sends, because clients such as ccxt map some codes by message text as well as by number.
"""

from __future__ import annotations

from .errors import ExchangeError, OrderRejected, RetryableExchangeError


def _rej(code: int, msg: str, status: int = 400) -> OrderRejected:
    return OrderRejected(code, msg, status)


# --- request / parameter errors -------------------------------------------------------------------
def illegal_characters(name: str, legal_range: str) -> OrderRejected:
    """-1100: a parameter spelled outside its pattern (observed: `1E-2`, `-1` and the like)."""
    return _rej(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal_range}'.")


def too_many_parameters(detail: str) -> OrderRejected:
    """-1101 (TOO_MANY_PARAMETERS): the simulator's answer, with HTTP 413, to an oversized body."""
    return _rej(-1101, f"Too many parameters; {detail}.", 413)


def mandatory_param(name: str) -> OrderRejected:
    return _rej(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def param_not_required(name: str) -> OrderRejected:
    return _rej(-1106, f"Parameter '{name}' sent when not required.")


def precision_over_maximum() -> OrderRejected:
    return _rej(-1111, "Precision is over the maximum defined for this asset.")


def invalid_tif() -> OrderRejected:
    return _rej(-1115, "Invalid timeInForce.")


def invalid_order_type() -> OrderRejected:
    return _rej(-1116, "Invalid orderType.")


def invalid_side() -> OrderRejected:
    return _rej(-1117, "Invalid side.")


def invalid_symbol() -> OrderRejected:
    return _rej(-1121, "Invalid symbol.")


def invalid_data(name: str) -> OrderRejected:
    return _rej(-1130, f"Data sent for parameter '{name}' is not valid.")


def invalid_data_because(name: str, why: str) -> OrderRejected:
    """-1130 with the reason appended: the simulator's control API, which is not Binance, says why."""
    return _rej(-1130, f"Data sent for parameter '{name}' is not valid: {why}.")


def invalid_data_now(name: str, why: str) -> OrderRejected:
    """-1130 with HTTP 409: a well-formed control request the simulator's present state cannot take (the same
    request may pass later, or on a server set up otherwise); says why."""
    return _rej(-1130, f"Data sent for parameter '{name}' is not valid now: {why}.", 409)


def invalid_resp_type() -> OrderRejected:
    return _rej(-1136, "Invalid newOrderRespType.")


# --- order-state errors ---------------------------------------------------------------------------
def unknown_order_sent() -> OrderRejected:
    return _rej(-2011, "Unknown order sent.")


def order_does_not_exist() -> OrderRejected:
    return _rej(-2013, "Order does not exist.")


def margin_insufficient() -> OrderRejected:
    return _rej(-2019, "Margin is insufficient.")


def would_immediately_trigger() -> OrderRejected:
    return _rej(-2021, "Order would immediately trigger.")


def reduce_only_rejected() -> OrderRejected:
    return _rej(-2022, "ReduceOnly Order is rejected.")


def max_open_orders() -> OrderRejected:
    return _rej(-2025, "Reach max open order limit.")


def exceeded_max_position() -> OrderRejected:
    return _rej(-2027, "Exceeded the maximum allowable position at current leverage.")


# --- filter errors --------------------------------------------------------------------------------
def price_below_min() -> OrderRejected:
    return _rej(-4013, "Price less than min price.")


def price_above_max() -> OrderRejected:
    return _rej(-4002, "Price greater than max price.")


def price_not_on_tick() -> OrderRejected:
    return _rej(-4014, "Price not increased by tick size.")


def qty_not_positive() -> OrderRejected:
    return _rej(-4003, "Quantity less than or equal to zero.")


def qty_below_min() -> OrderRejected:
    return _rej(-4004, "Quantity less than min quantity.")


def qty_above_max() -> OrderRejected:
    return _rej(-4005, "Quantity greater than max quantity.")


def stop_price_below_min() -> OrderRejected:
    return _rej(-4006, "Stop price less than min price.")


def stop_price_above_max() -> OrderRejected:
    return _rej(-4007, "Stop price greater than max price.")


def qty_not_on_step() -> OrderRejected:
    return _rej(-4023, "Qty not increased by step size.")


def client_id_invalid() -> OrderRejected:
    return _rej(-4015, "Client order id is not valid.")


def price_above_multiplier_cap() -> OrderRejected:
    return _rej(-4016, "Price is higher than mark price multiplier cap.")


def price_below_multiplier_floor() -> OrderRejected:
    return _rej(-4024, "Price is lower than mark price multiplier floor.")


def invalid_leverage(value: str) -> OrderRejected:
    return _rej(-4028, f"Leverage {value} is not valid")


def invalid_working_type() -> OrderRejected:
    return _rej(-4031, "Invalid parameter working type")


def max_algo_orders() -> OrderRejected:
    return _rej(-4045, "Reach max stop order limit.")


def no_need_to_change_margin_type() -> OrderRejected:
    return _rej(-4046, "No need to change margin type.")


def margin_type_open_orders() -> OrderRejected:
    return _rej(-4047, "Margin type cannot be changed if there exists open orders.")


def margin_type_position() -> OrderRejected:
    return _rej(-4048, "Margin type cannot be changed if there exists position.")


def no_need_to_change_position_side() -> OrderRejected:
    return _rej(-4059, "No need to change position side.")


def position_side_mismatch() -> OrderRejected:
    return _rej(-4061, "Order's position side does not match user's setting.")


def position_mode_open_orders() -> OrderRejected:
    return _rej(-4067, "Position side cannot be changed if there exists open orders.")


def position_mode_position() -> OrderRejected:
    return _rej(-4068, "Position side cannot be changed if there exists position.")


def client_id_duplicated() -> OrderRejected:
    return _rej(-4116, "ClientOrderId is duplicated.")


def conditional_on_classic_endpoint() -> OrderRejected:
    return _rej(
        -4120, "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."
    )


def close_position_stop_exists() -> OrderRejected:
    return _rej(
        -4130, "An open stop or take profit order with GTE and closePosition in the direction is existing."
    )


def market_percent_price() -> OrderRejected:
    return _rej(-4131, "The counterparty's best price does not meet the PERCENT_PRICE filter limit")


def invalid_activation_price() -> OrderRejected:
    return _rej(-4135, "Invalid activation price")


def qty_must_be_zero_with_close_position() -> OrderRejected:
    return _rej(-4137, "Quantity must be zero with closePosition equals true")


def reduce_only_with_close_position() -> OrderRejected:
    return _rej(-4138, "Reduce only must be true with closePosition equals true")


def min_notional(notional: str) -> OrderRejected:
    return _rej(-4164, f"Order's notional must be no smaller than {notional} (unless you choose reduce only).")


def fok_rejected() -> OrderRejected:
    return _rej(-5021, "Due to the order could not be filled immediately, the FOK order has been rejected.")


def gtx_rejected() -> OrderRejected:
    return _rej(-5022, "Due to the order could not be executed as maker, the Post Only order will be rejected.")


# --- authentication, timing and limits ------------------------------------------------------------
def invalid_api_key() -> ExchangeError:
    return ExchangeError(-2015, "Invalid API-key, IP, or permissions for action.", 401)


def api_key_format_invalid() -> ExchangeError:
    return ExchangeError(-2014, "API-key format invalid.", 401)


def bad_signature() -> ExchangeError:
    return ExchangeError(-1022, "Signature for this request is not valid.", 400)


def timestamp_outside_recv_window() -> ExchangeError:
    return ExchangeError(-1021, "Timestamp for this request is outside of the recvWindow.", 400)


def timestamp_ahead() -> ExchangeError:
    return ExchangeError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.", 400)


def too_many_requests(limit: int) -> RetryableExchangeError:
    return RetryableExchangeError(
        -1003,
        f"Too many requests; current limit is {limit} requests per minute. Please use the websocket for "
        "live updates to avoid polling the API.",
        429,
    )


def ip_banned(until_ms: int) -> RetryableExchangeError:
    """HTTP 418: an IP that kept going after 429s (§5.4); `until_ms` is when the ban ends (epoch ms)."""
    return RetryableExchangeError(
        -1003,
        f"Way too many requests; IP banned until {until_ms}. Please use the websocket for live updates to "
        "avoid bans.",
        418,
    )


def listen_key_missing() -> ExchangeError:
    return ExchangeError(
        -1125, "This listenKey does not exist. Please use POST /fapi/v1/listenKey to recreate listenKey", 400
    )
