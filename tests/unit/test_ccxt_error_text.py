"""A ccxt error's text carries the request's URL with its query string; the error the bot keeps must not carry
the signature (nor any configured secret) into order rejections, kill-switch summaries or alerts, which show the
error's text and are not log lines the redactor sees."""

from __future__ import annotations

import ccxt  # type: ignore[import-untyped]
import pytest

from quantum_trader.core.logging import configure_logging
from quantum_trader.exchange.ccxt_errors import translate

SIGNATURE = "9f2c1d0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e"
URL = ("http://127.0.0.1:8090/fapi/v1/order?symbol=BNBUSDT&side=SELL&type=STOP_MARKET&stopPrice=880.1"
       f"&closePosition=true&timestamp=1767225600000&recvWindow=5000&signature={SIGNATURE}")


@pytest.mark.parametrize("kind", [ccxt.RequestTimeout, ccxt.NetworkError, ccxt.ExchangeError])
def test_the_signature_in_a_ccxt_message_does_not_reach_the_error(kind: type[Exception]) -> None:
    error = translate(kind(f"binanceusdm POST {URL} "))
    assert SIGNATURE not in str(error) and SIGNATURE[:12] not in str(error)
    assert "/fapi/v1/order?symbol=BNBUSDT" in str(error)  # what was asked stays readable


def test_a_configured_secret_in_a_ccxt_message_does_not_reach_the_error() -> None:
    secret = "k3yV4lu3Th4tM4yL34k0ut"
    configure_logging(json=False, level="WARNING", secrets=[secret])
    try:
        error = translate(ccxt.NetworkError(f"binanceusdm GET http://127.0.0.1:8090/x?echo={secret} "))
    finally:
        configure_logging(json=False, level="WARNING")
    assert secret not in str(error)
