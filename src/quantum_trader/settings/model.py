"""Typed, frozen settings: every `QT_*` variable of CONTRACT section 2 plus the extras a user expects.

Why a model rather than a dict: a bad value must stop start-up *before* anything touches an exchange,
with one line per problem naming the variable, the value as given and what is allowed (exit code 2 in
the CLI). Secrets are `SecretStr`, so neither `repr`, `public_dict` nor an error can leak them.

`load_settings` is the entry point. It reads the environment itself (so a test's dict fully replaces
`os.environ`), rejects unknown `QT_*` names with a "did you mean" (a typo such as `QT_STOP_LOS_PCT`
would otherwise silently leave the default stop in place), and lets CLI flags override the environment.
Empty variables count as unset, so `QT_API_KEY=` in an env file means "no key".
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from decimal import Decimal
from typing import Any, Literal

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ..domain.errors import ConfigError
from .rules import (
    HINTS,
    INTERVALS,
    MASK,
    MAX_COOLDOWN_S,
    MAX_MONITOR_INTERVAL_S,
    MAX_RISK_PER_TRADE_PCT,
    MAX_SIM_BALANCE,
    TAKE_PROFIT_PCT_BELOW,
    check_api_exposure,
    check_db_url,
    check_exchange,
    check_feed,
    check_notify_urls,
    check_speed,
    check_symbols,
    check_ws_url,
    hide_db_password,
    parse_bool,
    split_notify_urls,
)

SECRET_FIELDS = frozenset({"api_key", "api_secret", "api_token", "notify_urls"})
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: An unknown name with one of these in it (or close to a secret setting) may hold a secret: hide its value.
_SECRET_WORDS = ("KEY", "SECRET", "TOK", "PASS", "PWD", "AUTH", "CRED")
#: `QT_*` names the test suite reads for itself; they are not settings, and not typos either, so a bot started
#: from the same environment (CI, a developer's shell) must not refuse them. QT_SIM_EXAMPLES and QT_SIM_RANDOM:
#: the simulator's property tests (tests/sim/test_properties.py); QT_TEST_ARTIFACTS: where the browser tests
#: write their screenshots (tests/e2e/browser.py). A new one belongs here (tests/unit/test_settings.py checks).
IGNORED_ENV = frozenset({"QT_SIM_EXAMPLES", "QT_SIM_RANDOM", "QT_TEST_ARTIFACTS"})
#: True while `load_settings` validates: the model then sees only the data it was given, never os.environ.
_EXPLICIT_ONLY: ContextVar[bool] = ContextVar("qt_settings_explicit_only", default=False)
#: While `load_settings` validates, how each override was given (`exchange` → `--exchange`): a check across
#: fields (`_live_needs_keys`) runs before the model has its `_given_as`, and must name what the user typed.
_TYPED_AS: ContextVar[Mapping[str, str] | None] = ContextVar("qt_settings_typed_as", default=None)

def env_name(field: str) -> str:
    """The variable a field is read from; STAGING_MODE keeps the seed's name without prefix."""
    return "STAGING_MODE" if field == "staging_mode" else "QT_" + field.upper()


class Settings(BaseSettings):
    """One session's configuration. Frozen: nothing may change it after start-up.

    `live_max_positions` may exceed `max_positions` (the smaller cap simply wins); that is allowed on
    purpose so a user can lower `max_positions` without also touching the first-day cap.
    """

    model_config = SettingsConfigDict(env_prefix="QT_", frozen=True, extra="forbid", case_sensitive=False,
                                      populate_by_name=True)
    #: How a value set on the command line was given (`exchange` → `--exchange`), from `load_settings(names=)`.
    _given_as: dict[str, str] = PrivateAttr(default_factory=dict)

    def name_of(self, field: str) -> str:
        """The option or variable `field` was set with, for a line about its value found after start-up (a URL
        where nothing answers): `--exchange` for `run --exchange URL`, else its variable (`QT_EXCHANGE`)."""
        return self._given_as.get(field, env_name(field))

    paper_trading: bool = Field(True, description="true: orders go only to a simulator; false: live.")
    staging_mode: bool = Field(False, validation_alias=AliasChoices("staging_mode", "STAGING_MODE",
                                                                     "QT_STAGING_MODE"),
                               description="Dry run: journal what would be sent, send nothing.")
    exchange: str = Field("sim", description="'sim' (in process) or a Binance USDⓈ-M compatible base URL.")
    feed: str = Field("synthetic", description="Market data: synthetic, replay:PATH or exchange.")
    ws_url: str | None = Field(None, description="Websocket base of the market and user-data streams; unset: "
                               "derived from QT_EXCHANGE (fapi.binance.com → wss://fstream.binance.com, a "
                               "sim-server → its own host).")
    feed_max_streams: int = Field(200, ge=2, le=1024, description="Streams per market websocket connection "
                                  "(QT_FEED=exchange): one heartbeat plus klines; more symbols open more.")
    feed_grace_s: float = Field(2.0, ge=0, le=30, allow_inf_nan=False,
                                description="Seconds a closed minute waits for a late symbol's kline before a REST "
                                            "read fills it (NaN in the row if REST has none either).")
    feed_stall_s: float = Field(10.0, ge=2, le=300, allow_inf_nan=False,
                                description="Seconds of silence on a market stream (its heartbeat comes every "
                                            "second) before it is reopened and backfilled.")
    symbols: str = Field("222", description="The top N of the universe, or a comma list of symbols.")
    strategy: Literal["ai-scanner", "sma-cross", "manual"] = "ai-scanner"
    api_key: SecretStr | None = Field(None, description="Exchange API key; never logged or returned.")
    api_secret: SecretStr | None = Field(None, description="Exchange API secret; never logged or returned.")
    api_token: SecretStr | None = Field(None, description="Bearer token for every API endpoint but /health; "
                                                          "without it, mutating endpoints answer only loopback.")
    api_public_reads: bool = Field(False, description="Serve reads (positions, P&L, /docs, /metrics) without a "
                                                      "token; needed to bind a non-loopback host without one.")
    db_url: str = Field("sqlite:///./data/quantum_trader.db", description="Journal; SQLite or PostgreSQL.")
    api_host: str = Field("127.0.0.1", description="Bind address of the HTTP API; loopback unless exposed.")
    api_port: int = Field(8000, ge=0, le=65535)
    max_positions: int = Field(4, ge=1, description="Open positions at most.")
    live_max_positions: int = Field(2, ge=1, description="Cap on open positions during the first live day.")
    stop_loss_pct: Decimal = Field(Decimal("2.0"), gt=0, lt=100, description="SL distance, % of entry.")
    take_profit_pct: Decimal = Field(Decimal("4.0"), gt=0, lt=TAKE_PROFIT_PCT_BELOW,
                                     description="TP distance, % of entry.")
    risk_per_trade_pct: Decimal = Field(Decimal("1.0"), gt=0, le=MAX_RISK_PER_TRADE_PCT,
                                        description="Equity lost if the stop fills at its price; sizes the trade.")
    leverage: int = Field(5, ge=1, le=125, description="Set on each symbol before entry (Binance allows 1..125).")
    min_confidence: float = Field(0.65, ge=0, le=1, allow_inf_nan=False,
                                  description="Signals below it are never traded.")
    model: str = Field("default", description="The AI scanner's model file, or `default` (the baseline model "
                                              "shipped with the package).")
    model_max_age_days: float | None = Field(None, gt=0, allow_inf_nan=False,
                                             description="The scanner refuses a model older than this (days); "
                                                         "unset: any age.")
    ev_full_size_pct: Decimal | None = Field(None, gt=0, le=100,
                                             description="Expected value per trade (% of notional, after fees) "
                                                         "that earns a scanner signal the full planned-loss size; "
                                                         "smaller edges risk proportionally less. Unset: no scaling.")
    monitor_interval: float = Field(1.0, gt=0, le=MAX_MONITOR_INTERVAL_S, allow_inf_nan=False,
                                    description="Seconds between monitor sweeps; fills trigger it at once too.")
    reconcile_interval: float = Field(3.0, ge=0, le=300, allow_inf_nan=False,
                                      description="Seconds between the monitor's full REST readings on a URL "
                                                  "exchange while its user-data stream is up (every change "
                                                  "arrives as an event meanwhile); 0 reads every interval.")
    startup_patience_s: float = Field(300.0, ge=1, le=86_400, allow_inf_nan=False,
                                      description="Seconds start-up keeps retrying the exchange through 5xx, "
                                                  "timeouts, 429s and 418 bans before the process gives up "
                                                  "(a bad key still fails at once).")
    weight_budget_pct: float = Field(50.0, gt=0, le=90, allow_inf_nan=False,
                                     description="Share of the exchange's request-weight limit routine reads may "
                                                 "use; orders and protection read-back may go beyond it.")
    order_entry_pct: float = Field(80.0, gt=0, le=100, allow_inf_nan=False,
                                   description="Share of the exchange's order-rate limits (new orders per 10 s and "
                                               "per minute) past which new entries are not sent; stops, "
                                               "take-profits and closes always go.")
    daily_loss_limit_pct: Decimal = Field(Decimal("5.0"), gt=0, le=100,
                                          description="Kill switch: equity drop in a UTC day that flattens.")
    speed: str = Field("1", description="Simulated-time factor for synthetic/replay feeds, or 'max'.")
    duration: float | None = Field(None, gt=0, allow_inf_nan=False,
                                   description="Stop cleanly after this many wall seconds; unset runs forever.")
    log_json: bool = Field(False, description="JSON log lines for log shippers; human lines otherwise.")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    sim_balance: Decimal = Field(Decimal("10000"), gt=0, le=MAX_SIM_BALANCE, decimal_places=8,
                                 description="USDT wallet of the in-process simulator.")
    paper_state: str | None = Field(None, description="Folder of the in-process paper account (QT_EXCHANGE=sim); "
                                                      "unset: paper_account beside the SQLite journal.")
    seed: int = Field(7, ge=0, description="Seed of the synthetic market and simulator: same seed, same session.")
    trailing_stop_pct: Decimal | None = Field(None, gt=0, lt=100,
                                              description="Trail the stop this % behind the best price; unset: off.")
    cooldown_s: float = Field(300.0, ge=0, le=MAX_COOLDOWN_S, allow_inf_nan=False,
                              description="Pause before re-entering a symbol after a stop-out; avoids revenge trades.")
    interval: str = Field("1m", description="Bar interval of the synthetic feed.")
    readiness_min_trades: int = Field(5, ge=1, description="Closed paper trades the readiness checklist wants.")
    notify_urls: SecretStr | None = Field(None, description="Alerts: comma-separated apprise URLs (tgram://, "
                                          "discord://, slack://, mailto://, ntfy://, json://...); they hold "
                                          "tokens, so they are masked everywhere. Unset: no alerts.")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Inside `load_settings` only the given data counts, so a test's env dict replaces os.environ."""
        if _EXPLICIT_ONLY.get():
            return (init_settings,)
        return init_settings, env_settings, dotenv_settings, file_secret_settings

    _bools = field_validator("paper_trading", "staging_mode", "log_json", "api_public_reads",
                             mode="before")(parse_bool)
    _exchange = field_validator("exchange")(check_exchange)
    _feed = field_validator("feed")(check_feed)
    _ws_url = field_validator("ws_url")(check_ws_url)
    _symbols = field_validator("symbols")(check_symbols)
    _db_url = field_validator("db_url")(check_db_url)
    _speed = field_validator("speed")(check_speed)

    @field_validator("notify_urls")
    @classmethod
    def _notify_urls(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_notify_urls(value.get_secret_value())
        return value

    @field_validator("strategy", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("api_host")
    @classmethod
    def _host(cls, value: str) -> str:
        text = value.strip()
        if not text or any(c.isspace() or c in "/?#@" for c in text):
            raise ValueError("is not a host name or IP address")
        return text

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.strip().upper() not in _LOG_LEVELS:
            raise ValueError("is not a log level")
        return value.strip().upper()

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if value.strip() not in INTERVALS:
            raise ValueError("is not a Binance kline interval")
        return value.strip()

    @model_validator(mode="after")
    def _live_needs_keys(self) -> Settings:
        """Live trading without keys or against the simulator is a contradiction; say what is missing."""
        if self.paper_trading:
            return self
        missing = [name for name, value in (("QT_API_KEY", self.api_key), ("QT_API_SECRET", self.api_secret))
                   if value is None or not value.get_secret_value()]
        exchange = (_TYPED_AS.get() or {}).get("exchange", env_name("exchange"))  # `run --exchange`: not QT_EXCHANGE
        if self.exchange == "sim":
            missing.append(f"{exchange} (is 'sim')")
        if missing:
            raise ValueError(f"QT_PAPER_TRADING=false: live trading needs QT_API_KEY, QT_API_SECRET and {exchange} "
                             f"set to the exchange's base URL; missing: {', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _api_not_open_by_accident(self) -> Settings:
        """A non-loopback API without a token would serve the account to the network: refuse it."""
        check_api_exposure(self.api_host, self.api_token_value is not None, self.api_public_reads)
        return self

    @property
    def api_token_value(self) -> str | None:
        """The API token as text, or None when unset or blank."""
        token = self.api_token.get_secret_value().strip() if self.api_token else ""
        return token or None

    @property
    def notify_url_list(self) -> tuple[str, ...]:
        """QT_NOTIFY_URLS's entries (secret: never log them; notify/redact.py shows them redacted)."""
        return split_notify_urls(self.notify_urls.get_secret_value()) if self.notify_urls else ()

    @property
    def mode(self) -> Literal["paper", "staging", "live"]:
        if self.staging_mode:
            return "staging"
        return "paper" if self.paper_trading else "live"

    @property
    def symbol_count(self) -> int | None:
        return int(self.symbols) if self.symbols.isdigit() else None

    @property
    def symbol_list(self) -> tuple[str, ...] | None:
        return None if self.symbols.isdigit() else tuple(self.symbols.split(","))

    @property
    def speed_factor(self) -> float | None:
        """None means as fast as possible."""
        return None if self.speed == "max" else float(self.speed)

    def public_dict(self) -> dict[str, str]:
        """Every setting as text, secrets masked and the DB password hidden: safe for logs and the journal."""
        return {name: _display(name, getattr(self, name)) for name in type(self).model_fields}

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, (hide_db_password(value) if name == "db_url" else value)


def _display(field: str, value: object) -> str:
    """A value as a user would write it in the env file, with secrets hidden."""
    if value is None:
        return ""
    if isinstance(value, SecretStr) or field in SECRET_FIELDS:
        return MASK
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return hide_db_password(text) if field == "db_url" else text


ENV_TO_FIELD: dict[str, str] = {env_name(f): f for f in Settings.model_fields} | {"QT_STAGING_MODE": "staging_mode"}


def load_settings(overrides: Mapping[str, object] | None = None, env: Mapping[str, str] | None = None, *,
                  names: Mapping[str, str] | None = None) -> Settings:
    """Settings from `env` (default os.environ) with `overrides` (CLI flags; None = not given) on top.

    Raises ConfigError with one line per bad value: `QT_STOP_LOSS_PCT=-1: must be greater than 0 (...)`.
    `names`: how an override was given, by field (`--param stop_loss_pct`), so its line names the option the
    user typed; a value from the environment is always named as its variable (the user set that one).
    """
    data, given, problems = _from_env(os.environ if env is None else env)
    for field, value in (overrides or {}).items():
        if value is None:
            continue
        if field not in Settings.model_fields:
            problems.append(f"{field}: not a setting (a programming error in the caller)")
            continue
        name = (names or {}).get(field, env_name(field))
        data[field], given[field] = value, (name, _display(field, value))
    typed = {field: name for field, name in (names or {}).items() if (overrides or {}).get(field) is not None}
    token, typed_token = _EXPLICIT_ONLY.set(True), _TYPED_AS.set(typed)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        problems.extend(_describe(error, given) for error in exc.errors(include_url=False, include_input=False))
        raise ConfigError("\n".join(problems)) from None
    finally:
        _EXPLICIT_ONLY.reset(token)
        _TYPED_AS.reset(typed_token)
    if problems:
        raise ConfigError("\n".join(problems))
    settings._given_as.update(typed)
    return settings


def _from_env(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, tuple[str, str]], list[str]]:
    """Field data, (env name, shown value) per field, and lines for unknown or conflicting names."""
    data: dict[str, Any] = {}
    given: dict[str, tuple[str, str]] = {}
    problems: list[str] = []
    for raw_name, raw_value in sorted(env.items()):
        name = raw_name.upper()
        if not (name.startswith("QT_") or name == "STAGING_MODE") or name in IGNORED_ENV:
            continue
        field = ENV_TO_FIELD.get(name)
        if field is None:
            problems.append(_unknown(name, raw_value))
        elif raw_value.strip() == "":
            continue
        elif field in data and str(data[field]).strip().lower() != raw_value.strip().lower():
            problems.append(f"{given[field][0]}={data[field]} and {name}={raw_value}: they disagree; set only one")
        else:
            data[field], given[field] = raw_value, (name, _display(field, raw_value))
    return data, given, problems


def _unknown(name: str, value: str) -> str:
    """Typo protection: name the closest real settings; the value stays hidden if it may be a secret."""
    stems = {known.removeprefix("QT_"): known for known in ENV_TO_FIELD}
    close = [stems[s] for s in difflib.get_close_matches(name.removeprefix("QT_"), list(stems), n=3, cutoff=0.7)]
    secret = any(ENV_TO_FIELD[c] in SECRET_FIELDS for c in close) or any(w in name for w in _SECRET_WORDS)
    shown = MASK if secret else value
    hint = f"did you mean {' or '.join(close)}?" if close else "docs/deployment.md lists the settings"
    return f"{name}={shown}: unknown setting; {hint}"


def _describe(error: ErrorDetails, given: Mapping[str, tuple[str, str]]) -> str:
    """`ENV=value: reason (what is allowed)` for one pydantic error."""
    if not error["loc"]:
        return _reason(error)
    field = str(error["loc"][0])
    name, shown = given.get(field, (env_name(field), "(default)"))
    return f"{name}={shown}: {_reason(error)} ({HINTS.get(field, 'see docs/deployment.md')})"


_BOUNDS = {"greater_than": ("gt", "greater than"), "greater_than_equal": ("ge", "at least"),
           "less_than": ("lt", "less than"), "less_than_equal": ("le", "at most")}
_KINDS = {"int_parsing": "a whole number", "int_from_float": "a whole number", "int_type": "a whole number",
          "float_parsing": "a number", "float_type": "a number", "decimal_parsing": "a number",
          "decimal_type": "a number", "finite_number": "a finite number", "string_type": "text"}


def _reason(error: ErrorDetails) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        bound = ctx[key]
        return f"must be {words} {int(bound) if isinstance(bound, float) and bound.is_integer() else bound}"
    if kind in _KINDS:
        return f"must be {_KINDS[kind]}"
    if kind == "decimal_max_places":
        return f"must have at most {ctx['decimal_places']} decimals"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind == "value_error":
        return str(ctx["error"])
    return str(error["msg"])
