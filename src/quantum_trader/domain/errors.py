"""The error hierarchy, in one place.

`ExchangeError` carries Binance's numeric code and exact message so the simulator can answer with the
same body Binance sends, and the bot can branch on the code rather than on text. `Retryable` errors
may be retried with backoff; `Rejected` ones are business decisions by the exchange and never are.
"""

from __future__ import annotations


class QuantumTraderError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(QuantumTraderError):
    """Bad configuration or input file: the message names the field, the value and the fix."""


class OrderNotSent(QuantumTraderError):
    """A gateway that sends nothing (staging) declined to send: the order was only journaled."""


class JournalWriteError(QuantumTraderError):
    """The journal could not record an intent: write-ahead forbids sending the order."""


class ExchangeError(QuantumTraderError):
    """An answer from an exchange (real or simulated) in Binance's `{"code", "msg"}` form."""

    retryable = False

    def __init__(self, code: int, msg: str, http_status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status

    def to_body(self) -> dict[str, int | str]:
        return {"code": self.code, "msg": self.msg}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExchangeError) and (self.code, self.msg) == (other.code, other.msg)

    def __hash__(self) -> int:
        return hash((self.code, self.msg))


class OrderRejected(ExchangeError):
    """The exchange refused the request; state is unchanged and sending it again will not help."""


class RetryableExchangeError(ExchangeError):
    """Timeouts, 5xx and 429: the request may or may not have taken effect; ask before resending."""

    retryable = True
