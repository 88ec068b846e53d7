"""sim.funding: the 00/08/16 UTC schedule, rate sources (constant, recorded series) and payment signs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from quantum_trader.domain.errors import ConfigError
from quantum_trader.sim.funding import (
    HOUR_MS,
    FundingRates,
    FundingSchedule,
    funding_payment,
    load_funding_csv,
)

D = Decimal
DAY = 1_721_433_600_000  # 2024-07-20T00:00:00Z
FUNDING_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "premium_index_funding"
needs_data = pytest.mark.skipif(not FUNDING_DIR.exists(), reason="shared data set not available")


# --- schedule ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (DAY, DAY + 8 * HOUR_MS),  # at 00:00 exactly, 00:00 is now: the next one is 08:00
        (DAY - 1, DAY),
        (DAY + 5 * HOUR_MS, DAY + 8 * HOUR_MS),
        (DAY + 8 * HOUR_MS + 1, DAY + 16 * HOUR_MS),
        (DAY + 23 * HOUR_MS + 59 * 60_000, DAY + 24 * HOUR_MS),
    ],
)
def test_next_funding_time_on_the_8h_grid(now: int, expected: int) -> None:
    assert FundingSchedule().next_funding_time("BTCUSDT", now) == expected


def test_per_symbol_interval_override() -> None:
    schedule = FundingSchedule(overrides={"BELUSDT": 4})
    assert schedule.next_funding_time("BELUSDT", DAY + 9 * HOUR_MS) == DAY + 12 * HOUR_MS
    assert schedule.next_funding_time("BTCUSDT", DAY + 9 * HOUR_MS) == DAY + 16 * HOUR_MS
    assert schedule.funding_times_between("BELUSDT", DAY, DAY + 12 * HOUR_MS) == [
        DAY + 4 * HOUR_MS, DAY + 8 * HOUR_MS, DAY + 12 * HOUR_MS,
    ]


def test_funding_times_between_is_start_exclusive_end_inclusive() -> None:
    schedule = FundingSchedule()
    assert schedule.funding_times_between("X", DAY, DAY + 24 * HOUR_MS) == [
        DAY + 8 * HOUR_MS, DAY + 16 * HOUR_MS, DAY + 24 * HOUR_MS,
    ]
    assert schedule.funding_times_between("X", DAY - 1, DAY) == [DAY]
    assert schedule.funding_times_between("X", DAY, DAY + 8 * HOUR_MS - 1) == []
    assert schedule.funding_times_between("X", DAY + 1, DAY) == []


@pytest.mark.parametrize("hours", [0, 5, 7, 48])
def test_intervals_that_do_not_divide_a_day_are_refused(hours: int) -> None:
    with pytest.raises(ConfigError, match="divide a day"):
        FundingSchedule(interval_hours=hours)


# --- rates ---------------------------------------------------------------------------------------------
def test_constant_rates() -> None:
    rates = FundingRates(constants={"GMTUSDT": D("-0.0003")})
    assert rates.rate("BTCUSDT", DAY) == D("0.0001")
    assert rates.rate("GMTUSDT", DAY) == D("-0.0003")
    rates.set_constant("BTCUSDT", D("0.0002"))
    assert rates.rate("BTCUSDT", DAY) == D("0.0002")


def test_series_rate_is_the_row_at_t_or_the_latest_before() -> None:
    series = [(DAY + 8 * HOUR_MS, D("0.0003")), (DAY, D("0.0001")), (DAY + 16 * HOUR_MS, D("-0.0002"))]
    rates = FundingRates(default=D("0.00005"), series={"BTCUSDT": series}, match_tolerance_ms=0)
    assert rates.rate("BTCUSDT", DAY) == D("0.0001")
    assert rates.rate("BTCUSDT", DAY + 8 * HOUR_MS) == D("0.0003")
    assert rates.rate("BTCUSDT", DAY + 8 * HOUR_MS - 1) == D("0.0001")
    assert rates.rate("BTCUSDT", DAY + 100 * HOUR_MS) == D("-0.0002")
    assert rates.rate("BTCUSDT", DAY - 1) == D("0.00005")  # before the series: the default
    assert rates.rate("ETHUSDT", DAY) == D("0.00005")


def test_series_rows_stamped_a_few_ms_late_count_as_at_the_funding_instant() -> None:
    rates = FundingRates(series={"X": [(DAY + 1, D("0.0001")), (DAY + 8 * HOUR_MS + 16, D("0.0007"))]})
    assert rates.rate("X", DAY + 8 * HOUR_MS) == D("0.0007")
    assert rates.rate("X", DAY + 8 * HOUR_MS - 2 * 60_000) == D("0.0001")


# --- payment -------------------------------------------------------------------------------------------
def test_positive_rate_longs_pay_shorts_receive() -> None:
    assert funding_payment(D("1"), D("50000"), D("0.0001")) == D("-5")
    assert funding_payment(D("-1"), D("50000"), D("0.0001")) == D("5")


def test_negative_rate_shorts_pay_longs_receive() -> None:
    assert funding_payment(D("2"), D("100"), D("-0.0005")) == D("0.1")
    assert funding_payment(D("-2"), D("100"), D("-0.0005")) == D("-0.1")


def test_payment_is_zero_when_flat_and_kept_to_8_decimals() -> None:
    assert funding_payment(D("0"), D("50000"), D("0.0001")) == 0
    payment = funding_payment(D("3.7"), D("0.123456"), D("0.00012345"))  # −5.6392…e-5
    assert payment == D("-0.00005639")
    assert payment.as_tuple().exponent == -8


# --- loading Binance CSVs ---------------------------------------------------------------------------------
def test_load_funding_csv_accepts_epoch_ms_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "api.csv"
    path.write_text(
        "symbol,fundingTime,fundingRate,markPrice\n"
        f"BTCUSDT,{DAY + 8 * HOUR_MS},-0.00002000,64000.1\n"
        f"BTCUSDT,{DAY},0.00010000,64100.0\n"
    )
    assert load_funding_csv(path) == [(DAY, D("0.0001")), (DAY + 8 * HOUR_MS, D("-0.00002"))]


def test_load_funding_csv_names_a_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("time,rate\n1,0.1\n")
    with pytest.raises(ConfigError, match="fundingRate"):
        load_funding_csv(path)


def test_load_funding_csv_names_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("fundingTime,fundingRate\n2024-07-20 00:00:00,abc\n")
    with pytest.raises(ConfigError, match=r"bad\.csv:2"):
        load_funding_csv(path)


@needs_data
def test_load_real_belusdt_funding_history() -> None:
    rows = load_funding_csv(FUNDING_DIR / "BELUSDT_funding.csv")
    assert len(rows) == 1000
    assert rows[0] == (DAY + 1, D("0.0001"))  # "2024-07-20 00:00:00.001000"
    assert rows[1] == (DAY + 8 * HOUR_MS, D("0.0001"))  # "2024-07-20 08:00:00"
    assert [t for t, _ in rows] == sorted(t for t, _ in rows)
    # Every stamp is within a second after an instant of the 8-hour schedule.
    assert all(t % (8 * HOUR_MS) < 1000 for t, _ in rows)
    assert min(r for _, r in rows) == D("-0.00438785")


@needs_data
def test_replaying_a_real_negative_rate_makes_shorts_pay() -> None:
    rows = load_funding_csv(FUNDING_DIR / "GMTUSDT_funding.csv")
    rates = FundingRates(series={"GMTUSDT": rows})
    schedule = FundingSchedule()
    start = 1_750_161_600_000  # 2025-06-17T12:00:00Z
    instant = schedule.next_funding_time("GMTUSDT", start)
    assert instant == 1_750_176_000_000  # 16:00Z; recorded at 16:00:00.001 with -0.00019113
    rate = rates.rate("GMTUSDT", instant)
    assert rate == D("-0.00019113")
    assert funding_payment(D("-1000"), D("0.05"), rate) == D("-0.00955650")
    assert funding_payment(D("1000"), D("0.05"), rate) == D("0.00955650")
