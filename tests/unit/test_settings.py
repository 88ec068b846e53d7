"""Settings: defaults, one rejected value per rule, overrides, aliases, and secrets that never leak."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from quantum_trader.domain.errors import ConfigError
from quantum_trader.settings.model import ENV_TO_FIELD, MASK, Settings, load_settings

CANARY = "canary-7f3b9e-secret"
LIVE = {"QT_PAPER_TRADING": "false", "QT_API_KEY": CANARY, "QT_API_SECRET": CANARY + "-s",
        "QT_EXCHANGE": "https://fapi.binance.com"}


def error_of(env: dict[str, str], overrides: dict[str, object] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(overrides, env=env)
    return str(info.value)


def test_defaults_match_the_contract() -> None:
    s = load_settings(env={})
    assert (s.paper_trading, s.staging_mode, s.exchange, s.feed, s.symbols, s.strategy) == (
        True, False, "sim", "synthetic", "222", "ai-scanner")
    assert (s.api_key, s.api_secret, s.api_token) == (None, None, None)
    assert s.db_url == "sqlite:///./data/quantum_trader.db"
    assert (s.api_host, s.api_port, s.max_positions, s.live_max_positions) == ("127.0.0.1", 8000, 4, 2)
    assert (s.stop_loss_pct, s.take_profit_pct, s.risk_per_trade_pct, s.daily_loss_limit_pct) == (
        Decimal("2.0"), Decimal("4.0"), Decimal("1.0"), Decimal("5.0"))
    assert all(isinstance(v, Decimal) for v in (s.stop_loss_pct, s.sim_balance, s.daily_loss_limit_pct))
    assert (s.leverage, s.min_confidence, s.monitor_interval) == (5, 0.65, 1.0)
    assert (s.speed, s.speed_factor, s.duration, s.log_json, s.log_level) == ("1", 1.0, None, False, "INFO")
    assert (s.sim_balance, s.seed, s.trailing_stop_pct, s.cooldown_s, s.interval, s.readiness_min_trades) == (
        Decimal("10000"), 7, None, 300.0, "1m", 5)
    assert (s.mode, s.symbol_count, s.symbol_list) == ("paper", 222, None)


def test_env_dict_replaces_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_LEVERAGE", "9")
    monkeypatch.setenv("QT_NOT_A_SETTING", "1")
    assert load_settings(env={}).leverage == 5
    assert load_settings(env={"QT_LEVERAGE": "7"}).leverage == 7


def test_default_environment_is_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_LEVERAGE", "9")
    assert load_settings().leverage == 9


def test_values_parse_from_text() -> None:
    s = load_settings(env={"QT_STOP_LOSS_PCT": "1.25", "QT_SYMBOLS": " btcusdt, ETHUSDT ", "QT_SPEED": "max",
                           "qt_leverage": "20", "QT_STRATEGY": "SMA-Cross", "QT_LOG_LEVEL": "debug",
                           "QT_EXCHANGE": "http://127.0.0.1:8090/", "QT_DB_URL": "postgresql://u:p@h:5432/db"})
    assert s.stop_loss_pct == Decimal("1.25") and s.leverage == 20 and s.strategy == "sma-cross"
    assert (s.symbols, s.symbol_list, s.symbol_count) == ("BTCUSDT,ETHUSDT", ("BTCUSDT", "ETHUSDT"), None)
    assert (s.speed_factor, s.log_level, s.exchange) == (None, "DEBUG", "http://127.0.0.1:8090")


@pytest.mark.parametrize(("word", "expected"), [("true", True), ("FALSE", False), ("1", True), ("0", False),
                                                ("Yes", True), ("no", False)])
def test_bool_words(word: str, expected: bool) -> None:
    assert load_settings(env={"QT_LOG_JSON": word}).log_json is expected


def test_empty_variable_counts_as_unset() -> None:
    assert load_settings(env={"QT_API_KEY": "", "QT_LEVERAGE": " "}).api_key is None


BAD = [
    ("QT_PAPER_TRADING", "maybe", "true, false, 1, 0, yes, no"),
    ("STAGING_MODE", "on", "true, false, 1, 0, yes, no"),
    ("QT_LOG_JSON", "y", "true, false, 1, 0, yes, no"),
    ("QT_EXCHANGE", "ftp://host", "'sim'"),
    ("QT_EXCHANGE", "https://fapi.binance.com/fapi/v1", "without path"),
    ("QT_EXCHANGE", "https://fapi.binance.com?x=1", "without path, query"),
    ("QT_EXCHANGE", "simulator", "'sim'"),
    ("QT_FEED", "live", "'synthetic'"),
    ("QT_FEED", "replay:/no/such/dir", "does not exist"),
    ("QT_SYMBOLS", "0", "positive count"),
    ("QT_SYMBOLS", "BTCUSDT,X", "'X' is not a symbol"),
    ("QT_SYMBOLS", "BTC-USDT", "is not a symbol"),
    ("QT_SYMBOLS", "BTCUSDT,,ETHUSDT", "is not a symbol"),
    ("QT_SYMBOLS", "BTCUSDT,btcusdt", "more than once"),
    ("QT_STRATEGY", "rsi", "'ai-scanner', 'sma-cross' or 'manual'"),
    ("QT_DB_URL", "not a url", "SQLAlchemy URL"),
    ("QT_DB_URL", "mysql://h/db", "'mysql' is not supported"),
    ("QT_DB_URL", "postgres://h/db", "postgresql"),
    ("QT_API_HOST", "http://x", "host name"),
    ("QT_API_PORT", "-1", "at least 0"),
    ("QT_API_PORT", "65536", "at most 65535"),
    ("QT_API_PORT", "80a", "whole number"),
    ("QT_MAX_POSITIONS", "0", "at least 1"),
    ("QT_LIVE_MAX_POSITIONS", "0", "at least 1"),
    ("QT_STOP_LOSS_PCT", "-1", "must be greater than 0 (a percentage of price, e.g. 2.0)"),
    ("QT_STOP_LOSS_PCT", "100", "less than 100"),
    ("QT_STOP_LOSS_PCT", "NaN", "finite"),
    ("QT_STOP_LOSS_PCT", "two", "must be a number"),
    ("QT_TAKE_PROFIT_PCT", "0", "greater than 0"),
    ("QT_RISK_PER_TRADE_PCT", "0", "greater than 0"),
    ("QT_RISK_PER_TRADE_PCT", "100", "must be at most 10 (a percentage of equity, e.g. 1.0; capped at 10"),
    ("QT_RISK_PER_TRADE_PCT", "10.01", "at most 10"),
    ("QT_LEVERAGE", "0", "at least 1"),
    ("QT_LEVERAGE", "126", "at most 125"),
    ("QT_LEVERAGE", "2.5", "whole number"),
    ("QT_MIN_CONFIDENCE", "1.5", "at most 1"),
    ("QT_MIN_CONFIDENCE", "-0.1", "at least 0"),
    ("QT_MIN_CONFIDENCE", "nan", "finite"),
    ("QT_MONITOR_INTERVAL", "0", "greater than 0"),
    ("QT_DAILY_LOSS_LIMIT_PCT", "0", "greater than 0"),
    ("QT_DAILY_LOSS_LIMIT_PCT", "101", "at most 100"),
    ("QT_SPEED", "0", "greater than 0"),
    ("QT_SPEED", "fast", "'max' or a number"),
    ("QT_DURATION", "-5", "greater than 0"),
    ("QT_LOG_LEVEL", "TRACE", "DEBUG, INFO, WARNING or ERROR"),
    ("QT_SIM_BALANCE", "0", "greater than 0"),
    ("QT_SEED", "x", "whole number"),
    ("QT_TRAILING_STOP_PCT", "0", "greater than 0"),
    ("QT_COOLDOWN_S", "-1", "at least 0"),
    ("QT_INTERVAL", "7m", "1m"),
    ("QT_READINESS_MIN_TRADES", "0", "at least 1"),
    # Finite, and below what cannot exist: every value here used to start and then fail per signal or crash.
    ("QT_TAKE_PROFIT_PCT", "150", "must be less than 100 (a percentage of price, e.g. 4.0; above 0 and below 100"),
    ("QT_TAKE_PROFIT_PCT", "100", "less than 100"),
    ("QT_TAKE_PROFIT_PCT", "1e400", "less than 100"),
    ("QT_TAKE_PROFIT_PCT", "inf", "finite"),
    ("QT_STOP_LOSS_PCT", "1e400", "less than 100"),
    ("QT_TRAILING_STOP_PCT", "1e400", "less than 100"),
    ("QT_RISK_PER_TRADE_PCT", "1e400", "at most 10"),
    ("QT_DAILY_LOSS_LIMIT_PCT", "1e400", "at most 100"),
    ("QT_EV_FULL_SIZE_PCT", "1e400", "must be at most 100 (a percentage of notional"),
    ("QT_EV_FULL_SIZE_PCT", "nan", "finite"),
    ("QT_SIM_BALANCE", "1e400", "must be at most 1000000000000"),
    ("QT_SIM_BALANCE", "0.000000001", "must have at most 8 decimals ("),
    ("QT_SIM_BALANCE", "-5", "greater than 0"),
    ("QT_SIM_BALANCE", "Infinity", "finite"),
    ("QT_MONITOR_INTERVAL", "1e300", "must be at most 3600"),
    ("QT_MONITOR_INTERVAL", "1e400", "finite"),
    ("QT_COOLDOWN_S", "1e300", "must be at most 604800"),
    ("QT_SEED", "-1", "must be at least 0 (a whole number, 0 or more)"),
    ("QT_SPEED", "inf", "must be a finite number ('max' or a positive factor"),
    ("QT_SPEED", "nan", "must be a finite number"),
    ("QT_SPEED", "-1", "must be greater than 0 ('max'"),
]


@pytest.mark.parametrize(("name", "value", "allowed"), BAD)
def test_bad_value_names_variable_value_and_what_is_allowed(name: str, value: str, allowed: str) -> None:
    text = error_of({name: value})
    assert text.startswith(f"{name}={value}: "), text
    assert allowed in text and "\n" not in text


def test_error_line_format() -> None:
    assert error_of({"QT_STOP_LOSS_PCT": "-1"}) == (
        "QT_STOP_LOSS_PCT=-1: must be greater than 0 (a percentage of price, e.g. 2.0)")


def test_multiple_bad_values_give_one_line_each() -> None:
    lines = error_of({"QT_STOP_LOSS_PCT": "-1", "QT_LEVERAGE": "500", "QT_FEED": "x"}).splitlines()
    assert len(lines) == 3
    assert {line.split("=")[0] for line in lines} == {"QT_STOP_LOSS_PCT", "QT_LEVERAGE", "QT_FEED"}


def test_replay_feed_needs_an_existing_path(tmp_path: Path) -> None:
    (tmp_path / "BNBUSDT-1m-2026-01.csv").write_text("")
    assert load_settings(env={"QT_FEED": f"replay:{tmp_path}"}).feed == f"replay:{tmp_path}"


def test_overrides_win_over_environment_and_none_is_ignored() -> None:
    s = load_settings({"leverage": 10, "api_port": None, "speed": "max"},
                      env={"QT_LEVERAGE": "3", "QT_API_PORT": "9000"})
    assert (s.leverage, s.api_port, s.speed_factor) == (10, 9000, None)


def test_bad_override_is_reported_under_its_env_name() -> None:
    assert error_of({}, {"api_port": 70000}).startswith("QT_API_PORT=70000: must be at most 65535")


def test_an_override_is_named_as_given_and_a_value_from_the_environment_as_its_variable() -> None:
    """A backtest's `--param stop_loss_pct=abc` is named so; `QT_STOP_LOSS_PCT=abc` beside it is the variable."""
    names = {"stop_loss_pct": "--param stop_loss_pct", "take_profit_pct": "--param take_profit_pct"}
    with pytest.raises(ConfigError) as caught:
        load_settings({"stop_loss_pct": "abc"}, env={"QT_TAKE_PROFIT_PCT": "-1"}, names=names)
    first, second = str(caught.value).splitlines()
    assert first == "--param stop_loss_pct=abc: must be a number (a percentage of price, e.g. 2.0)"
    assert second.startswith("QT_TAKE_PROFIT_PCT=-1: must be greater than 0 (")


def test_unknown_override_key_is_an_error() -> None:
    assert "levrage: not a setting" in error_of({}, {"levrage": 3})


@pytest.mark.parametrize("name", ["STAGING_MODE", "QT_STAGING_MODE", "staging_mode"])
def test_staging_mode_alias(name: str) -> None:
    s = load_settings(env={name: "true"})
    assert s.staging_mode and s.mode == "staging"


def test_staging_mode_names_that_disagree_are_an_error() -> None:
    assert "disagree" in error_of({"STAGING_MODE": "true", "QT_STAGING_MODE": "false"})
    assert load_settings(env={"STAGING_MODE": "true", "QT_STAGING_MODE": "TRUE"}).staging_mode


def test_live_without_keys_names_what_is_missing() -> None:
    text = error_of({"QT_PAPER_TRADING": "false"})
    assert text.startswith("QT_PAPER_TRADING=false") and "\n" not in text
    assert "missing: QT_API_KEY, QT_API_SECRET, QT_EXCHANGE" in text


def test_live_on_the_simulator_is_refused() -> None:
    text = error_of({**LIVE, "QT_EXCHANGE": "sim"})
    assert "missing: QT_EXCHANGE" in text and CANARY not in text


def test_live_with_keys_and_url() -> None:
    s = load_settings(env=LIVE)
    assert s.mode == "live" and s.api_key is not None and s.api_key.get_secret_value() == CANARY


def test_mode_staging_wins_over_live() -> None:
    assert load_settings(env={**LIVE, "STAGING_MODE": "1"}).mode == "staging"


def test_secrets_never_in_public_dict_or_repr() -> None:
    s = load_settings(env={**LIVE, "QT_API_TOKEN": CANARY + "-t", "QT_DB_URL": f"postgresql://qt:{CANARY}@db/qt"})
    public = s.public_dict()
    assert set(public) == set(Settings.model_fields)
    assert all(isinstance(v, str) for v in public.values())
    assert public["api_key"] == public["api_secret"] == public["api_token"] == MASK
    for text in (str(public), repr(s), str(s)):
        assert CANARY not in text
    assert public["paper_trading"] == "false" and public["stop_loss_pct"] == "2.0"


def test_unset_secrets_show_empty_in_public_dict() -> None:
    assert load_settings(env={}).public_dict()["api_key"] == ""


def test_secrets_never_in_errors() -> None:
    env = {"QT_API_KEY": CANARY, "QT_API_SECRET": CANARY, "QT_API_TOKN": CANARY, "QT_PAPER_TRADING": "false",
           "QT_DB_URL": f"mysql://qt:{CANARY}@db/qt"}
    text = error_of(env)
    assert CANARY not in text
    assert f"QT_API_TOKN={MASK}" in text and "mysql://qt:***@db/qt" in text
    assert CANARY not in error_of({"QT_API_KEY": CANARY}, {"paper_trading": False})


def test_error_does_not_chain_the_validation_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={"QT_API_KEY": CANARY, "QT_LEVERAGE": "0"})
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_unknown_variable_suggests_close_names() -> None:
    text = error_of({"QT_STOP_LOS_PCT": "1"})
    assert text == "QT_STOP_LOS_PCT=1: unknown setting; did you mean QT_STOP_LOSS_PCT?"


def test_unknown_variable_without_close_name() -> None:
    assert "unknown setting" in error_of({"QT_ZZZZZZ": "1"})


def test_unknown_variable_is_reported_with_bad_values() -> None:
    lines = error_of({"QT_LEVERAG": "3", "QT_LEVERAGE": "0"}).splitlines()
    assert len(lines) == 2 and "QT_LEVERAGE?" in lines[0] and lines[1].startswith("QT_LEVERAGE=0")


def test_test_suite_variables_and_foreign_names_are_ignored() -> None:
    assert load_settings(env={"QT_SIM_EXAMPLES": "5", "PATH": "/bin", "STAGING": "x"}).leverage == 5


def test_every_qt_variable_the_test_suite_reads_is_accepted_by_the_bot() -> None:
    """QT_TEST_ARTIFACTS (the browser tests' screenshots) set for a test run was refused as an unknown setting by
    a bot started from the same environment; every `QT_*` name the tests read must be a setting or ignored."""
    read = re.compile(r"""(?:environ\.get\(|environ\[|getenv\()["'](QT_[A-Z0-9_]+)["']""")
    names = {name for path in Path(__file__).resolve().parents[1].rglob("*.py")
             for name in read.findall(path.read_text(encoding="utf-8"))}
    assert "QT_TEST_ARTIFACTS" in names
    not_settings = {name: "1" for name in names if name not in ENV_TO_FIELD}
    assert load_settings(env=not_settings).leverage == 5  # was: QT_TEST_ARTIFACTS=1: unknown setting


def test_settings_are_frozen() -> None:
    s = load_settings(env={})
    with pytest.raises(ValidationError):
        s.leverage = 3  # type: ignore[misc]


def test_live_cap_may_exceed_max_positions() -> None:
    s = load_settings(env={"QT_MAX_POSITIONS": "1", "QT_LIVE_MAX_POSITIONS": "2"})
    assert (s.max_positions, s.live_max_positions) == (1, 2)
