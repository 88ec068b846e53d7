"""Settings that keep the API from being open to the network by accident, and the risk cap."""

from __future__ import annotations

import pytest

from quantum_trader.domain.errors import ConfigError
from quantum_trader.settings.model import load_settings
from quantum_trader.settings.rules import MAX_RISK_PER_TRADE_PCT, is_loopback_host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts_need_no_token(host: str) -> None:
    assert is_loopback_host(host)
    settings = load_settings(env={"QT_API_HOST": host})
    assert settings.api_token_value is None and settings.api_public_reads is False


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.20", "bot.example.org", "localhost.evil"])
def test_other_hosts_without_a_token_are_refused_in_one_line(host: str) -> None:
    assert not is_loopback_host(host)
    with pytest.raises(ConfigError) as refused:
        load_settings(env={"QT_API_HOST": host})
    line = str(refused.value)
    assert "\n" not in line and line.startswith(f"QT_API_HOST={host} ")
    assert "set QT_API_TOKEN" in line and "QT_API_PUBLIC_READS=true" in line


@pytest.mark.parametrize("extra", [{"QT_API_TOKEN": "t0k3n-long-enough"}, {"QT_API_PUBLIC_READS": "true"},
                                   {"QT_API_PUBLIC_READS": "yes", "QT_API_TOKEN": "t"}])
def test_a_token_or_explicit_public_reads_allows_any_host(extra: dict[str, str]) -> None:
    settings = load_settings(env={"QT_API_HOST": "0.0.0.0", **extra})
    assert settings.api_host == "0.0.0.0"
    assert settings.public_dict()["api_token"] in ("", "**********")


def test_a_blank_token_counts_as_no_token() -> None:
    with pytest.raises(ConfigError, match="QT_API_TOKEN is not set"):
        load_settings(env={"QT_API_HOST": "0.0.0.0"}, overrides={"api_token": "   "})


def test_public_reads_takes_only_the_usual_booleans() -> None:
    with pytest.raises(ConfigError, match=r"QT_API_PUBLIC_READS=maybe: must be one of true, false"):
        load_settings(env={"QT_API_PUBLIC_READS": "maybe"})


def test_risk_per_trade_cap_is_ten_percent_and_says_so() -> None:
    assert MAX_RISK_PER_TRADE_PCT == 10
    assert load_settings(env={"QT_RISK_PER_TRADE_PCT": "10"}).risk_per_trade_pct == 10
    with pytest.raises(ConfigError) as refused:
        load_settings(env={"QT_RISK_PER_TRADE_PCT": "100"})
    assert str(refused.value) == ("QT_RISK_PER_TRADE_PCT=100: must be at most 10 (a percentage of equity, e.g. 1.0; "
                                  "capped at 10 so one stop-out cannot cost more than a tenth of the account)")
