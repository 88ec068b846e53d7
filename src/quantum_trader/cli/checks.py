"""Checks of options several commands share, made before any work starts: a bad value costs one line
and exit 2, not a traceback after a long run.

Each check raises `OptionError` (a ValueError) whose message starts with the option as typed and says
what to give instead; the command prints it after `error: ` and exits 2. Only the standard library
here: every command imports this module to build the command line.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

#: The largest starting wallet a backtest or the simulator takes: beyond it Decimal arithmetic at the
#: simulator's precision overflowed (1e20 raised InvalidOperation half way through a run).
MAX_BALANCE = Decimal(10) ** 12
#: Wallet amounts are kept to 8 decimals, as Binance reports USDT: a finer balance rounded to another one.
BALANCE_STEP = Decimal("0.00000001")


class OptionError(ValueError):
    """An option's value that cannot be used; the message names the option and the fix."""


def parse_balance(text: str, option: str = "--balance") -> Decimal:
    """`text` as a starting wallet in USDT: a finite number above 0, at most MAX_BALANCE, to 8 decimals."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or not 0 < value <= MAX_BALANCE or value != value.quantize(BALANCE_STEP):
        raise OptionError(f"{option} {text}: must be a positive number of USDT, at most {MAX_BALANCE:,} "
                          "with at most 8 decimals, e.g. 10000")
    return value
