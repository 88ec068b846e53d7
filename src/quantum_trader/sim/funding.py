"""Perpetual funding: when it is paid, at what rate, and how much (shared/binance_futures.md §8.2).

Funding is the one cost a position pays just for being open at a timestamp; over a multi-day hold
at 0.01 % every 8 h it is several taker fees. The schedule, the rate source and the payment are
separate so that a backtest can replay Binance's recorded rates on the exchange's own clock.
"""

from __future__ import annotations

import bisect
import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from ..domain.errors import ConfigError

HOUR_MS = 3_600_000
#: Funding payments are reported (ACCOUNT_UPDATE, /fapi/v1/income) with 8 decimal places.
FUNDING_QUANTUM = Decimal("1E-8")
#: Binance stamps a funding event a few milliseconds after the scheduled instant (e.g. 08:00:00.016 in
#: /fapi/v1/fundingRate) and allows about a minute of slack (§8.2); a row within this window after t
#: is the row "at" t.
DEFAULT_MATCH_TOLERANCE_MS = 60_000


@dataclass(frozen=True, slots=True)
class FundingSchedule:
    """Funding instants: every `interval_hours` from 00:00 UTC (00/08/16 for 8 h), per-symbol overrides.

    Intervals must divide 24 so that the grid is the same every day, as Binance's 1/2/4/8 h are; the
    epoch (1970-01-01T00:00Z) is on every such grid, so instants are multiples of the interval.
    """

    interval_hours: int = 8
    overrides: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, hours in (("interval_hours", self.interval_hours), *self.overrides.items()):
            if hours < 1 or 24 % hours != 0:
                raise ConfigError(
                    f"funding interval for {name}: {hours} h does not divide a day; use 1, 2, 4 or 8"
                )

    def interval_ms(self, symbol: str) -> int:
        return self.overrides.get(symbol, self.interval_hours) * HOUR_MS

    def next_funding_time(self, symbol: str, now_ms: int) -> int:
        """The first funding instant strictly after `now_ms` (premiumIndex's `nextFundingTime`).

        At exactly 08:00:00.000 the 08:00 funding is happening now, so the next one is 16:00.
        """
        interval = self.interval_ms(symbol)
        return (now_ms // interval + 1) * interval

    def funding_times_between(self, symbol: str, start_ms_exclusive: int, end_ms_inclusive: int) -> list[int]:
        """Funding instants t with start < t ≤ end: what a step from `start` to `end` must settle."""
        interval = self.interval_ms(symbol)
        first = self.next_funding_time(symbol, start_ms_exclusive)
        return list(range(first, end_ms_inclusive + 1, interval)) if first <= end_ms_inclusive else []


class FundingRates:
    """Funding rate per symbol: a recorded series, else a per-symbol constant, else the default.

    With a series, the rate for a funding at time t is the row at t or, failing that, the latest row
    before t ("at t" allowing `match_tolerance_ms` for Binance's late stamps). Before a series' first
    row the symbol's constant (or the default) applies: there is nothing recorded to replay yet.
    The default 0.01 % per 8 h is the interest-rate component alone, i.e. a market with no premium.
    """

    __slots__ = ("_constants", "_rates", "_times", "default", "match_tolerance_ms")

    def __init__(
        self,
        default: Decimal = Decimal("0.0001"),
        constants: Mapping[str, Decimal] | None = None,
        series: Mapping[str, Iterable[tuple[int, Decimal]]] | None = None,
        match_tolerance_ms: int = DEFAULT_MATCH_TOLERANCE_MS,
    ) -> None:
        self.default = default
        self.match_tolerance_ms = match_tolerance_ms
        self._constants: dict[str, Decimal] = dict(constants or {})
        self._times: dict[str, list[int]] = {}
        self._rates: dict[str, list[Decimal]] = {}
        for symbol, rows in (series or {}).items():
            self.set_series(symbol, rows)

    def set_constant(self, symbol: str, rate: Decimal) -> None:
        self._constants[symbol] = rate

    def set_series(self, symbol: str, rows: Iterable[tuple[int, Decimal]]) -> None:
        """Replace the symbol's recorded series (any order; sorted here, last duplicate wins)."""
        ordered = sorted(dict(rows).items())
        self._times[symbol] = [t for t, _ in ordered]
        self._rates[symbol] = [r for _, r in ordered]

    def rate(self, symbol: str, time_ms: int) -> Decimal:
        """The funding rate in force for `symbol` at `time_ms`."""
        times = self._times.get(symbol)
        if times:
            index = bisect.bisect_right(times, time_ms + self.match_tolerance_ms) - 1
            if index >= 0:
                return self._rates[symbol][index]
        return self._constants.get(symbol, self.default)


def funding_payment(position_amount_signed: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
    """The amount ADDED to the holder's wallet at a funding instant: −amount × mark × rate.

    Positive rate: longs pay (a negative result for amount > 0) and shorts receive; a negative rate
    reverses that. Kept to 8 decimal places (half-up), as Binance reports FUNDING_FEE income.
    """
    payment = -position_amount_signed * mark * rate
    return payment.quantize(FUNDING_QUANTUM, rounding=ROUND_HALF_UP)


def load_funding_csv(path: str | Path) -> list[tuple[int, Decimal]]:
    """Read a `/fapi/v1/fundingRate` dump with columns fundingTime, fundingRate (others ignored).

    `fundingTime` may be epoch milliseconds (the API's form) or a UTC date-time string such as
    "2024-07-20 00:00:00.001000" (what pandas writes); either becomes epoch ms, keeping Binance's
    millisecond offsets. Rows come back sorted by time.
    """
    source = Path(path)
    rows: list[tuple[int, Decimal]] = []
    with source.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"fundingTime", "fundingRate"} - set(reader.fieldnames or ())
        if missing:
            raise ConfigError(
                f"{source}: missing column(s) {', '.join(sorted(missing))}; "
                "expected a /fapi/v1/fundingRate CSV with fundingTime,fundingRate"
            )
        for line, row in enumerate(reader, start=2):
            try:
                rows.append((_parse_time_ms(row["fundingTime"]), Decimal(row["fundingRate"].strip())))
            except (ValueError, InvalidOperation, AttributeError) as exc:
                raise ConfigError(
                    f"{source}:{line}: cannot read fundingTime={row.get('fundingTime')!r}, "
                    f"fundingRate={row.get('fundingRate')!r}; "
                    "expected epoch ms or a UTC date-time, and a number"
                ) from exc
    rows.sort(key=lambda item: item[0])
    return rows


def _parse_time_ms(text: str) -> int:
    value = text.strip()
    if value.isdigit():
        return int(value)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
