"""Strategy and risk parameters that `backtest --param NAME=VALUE` and `sweep --grid` set.

Each strategy declares its own (`PARAMS`: name, type, range, default, what it means); the risk settings a
researcher sweeps (stop and take-profit distance, leverage, risk per trade, position cap, the confidence a
signal needs) are the same for every strategy and go through the settings' own validation, so a sweep cannot
run a value `run` refuses. (A strategy whose signals carry no confidence refuses `min_confidence`, which
would change nothing: signals/registry.py `refuse_no_effect`.)
Every refusal is one line naming the parameter and what is allowed (`ParamError`, exit 2 in the CLI).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from ..settings.rules import MAX_RISK_PER_TRADE_PCT, TAKE_PROFIT_PCT_BELOW

ParamValue = int | float
Kind = Literal["int", "float"]
#: The option a parameter is given with, unless the caller says otherwise (a sweep's axes are `--grid`).
PARAM = "--param"
GRID = "--grid"


class ParamError(ValueError):
    """A `--param`/`--grid` entry that cannot be used; the message names it and says what is allowed."""


@dataclass(frozen=True)
class ParamSpec:
    """One tunable number: its name, type, range (inclusive, or `exclusive` of both ends), default and meaning."""

    name: str
    kind: Kind
    low: ParamValue
    high: ParamValue
    default: ParamValue
    help: str
    #: The range excludes `low` and `high`, as a setting declared above one and below the other does.
    exclusive: bool = False

    def parse(self, text: str | ParamValue, option: str = PARAM) -> ParamValue:
        """`text` as this parameter's value, or ParamError naming it as it was given (`option`: `--param`, or
        `--grid` for a sweep's axis), the value and the allowed range. A number is taken as its text, so the
        typed `params` of `sweep --json` can be given back as they are."""
        raw = str(text).strip()
        try:
            value: ParamValue = int(raw) if self.kind == "int" else float(raw)
        except ValueError:
            raise ParamError(f"{option} {self.name}={text}: not {'an integer' if self.kind == 'int' else 'a number'}"
                             f" ({self.describe()})") from None
        inside = self.low < value < self.high if self.exclusive else self.low <= value <= self.high
        if not inside:  # NaN is inside no range
            raise ParamError(f"{option} {self.name}={text}: out of range ({self.describe()})")
        return value

    def typed(self, text: str) -> ParamValue | str:
        """`text` as this parameter's declared type for a JSON document (`fast`: 10, not "10"; a float a
        number too); text that is not one stays as it is (a failed run reports what it was given)."""
        try:
            return int(text) if self.kind == "int" else float(text)
        except ValueError:
            return text

    def describe(self) -> str:
        span = (f"above {self.low} and below {self.high}" if self.exclusive else f"from {self.low} to {self.high}")
        return f"{self.kind} {span}, default {self.default}: {self.help}"


#: Risk settings any strategy may be run with (Settings field names; the settings validate them too). A range
#: declared here never takes a value the settings refuse (a sweep would spend its runs on refusals): where they
#: share a bound, it is the settings' own (settings/rules.py), read here.
RISK_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("stop_loss_pct", "float", 0.05, 50.0, 2.0, "stop-loss distance, % of the entry price"),
    ParamSpec("take_profit_pct", "float", 0, TAKE_PROFIT_PCT_BELOW, 4.0, "take-profit distance, % of the entry "
              f"price (a short's {TAKE_PROFIT_PCT_BELOW} % below its entry would be at a price of 0)",
              exclusive=True),
    ParamSpec("leverage", "int", 1, 125, 5, "leverage of every position"),
    ParamSpec("risk_per_trade_pct", "float", 0.01, float(MAX_RISK_PER_TRADE_PCT), 1.0,
              "planned loss per trade, % of equity"),
    ParamSpec("max_positions", "int", 1, 1000, 4, "open positions at most"),
    ParamSpec("min_confidence", "float", 0.0, 1.0, 0.65, "confidence a signal needs to trade (ai-scanner)"),
)


@dataclass(frozen=True)
class Params:
    """Parsed parameters: the strategy's (constructor keywords) and the risk settings' overrides."""

    strategy: Mapping[str, ParamValue]
    risk: Mapping[str, ParamValue]

    def as_dict(self) -> dict[str, ParamValue]:
        return {**self.strategy, **self.risk}


def specs_by_name(own: Iterable[ParamSpec]) -> dict[str, ParamSpec]:
    """A strategy's own parameters (`own`) and the risk settings, by name: every name `--param` takes."""
    return {spec.name: spec for spec in (*own, *RISK_PARAMS)}


def parse_params(strategy: str, own: Iterable[ParamSpec], entries: Iterable[str] | Mapping[str, str | ParamValue],
                 origins: Mapping[str, str] | None = None) -> Params:
    """`NAME=VALUE` entries (or a name → text mapping) for `strategy`, whose parameters are `own`.

    An unknown name, a missing `=`, a repeated name or a bad value raises ParamError with one line, naming
    the option the value came from (`origins`: name → `--grid` for a sweep's axes; `--param` otherwise).
    """
    specs = specs_by_name(own)
    pairs = list(entries.items()) if isinstance(entries, Mapping) else [split_entry(entry) for entry in entries]
    strategy_values: dict[str, ParamValue] = {}
    risk_values: dict[str, ParamValue] = {}
    own_names = {spec.name for spec in own}
    for name, text in pairs:
        option, spec = (origins or {}).get(name, PARAM), specs.get(name)
        if spec is None:
            raise ParamError(f"{option} {name}={text}: unknown parameter {name!r} for {strategy}; "
                             f"choose from {', '.join(specs)}")
        target = strategy_values if name in own_names else risk_values
        if name in target:
            raise ParamError(f"{option} {name}: given twice; give each parameter once")
        target[name] = spec.parse(text, option)
    return Params(strategy_values, risk_values)


def split_entry(entry: str) -> tuple[str, str]:
    """`NAME=VALUE` → (name, value), both stripped; ParamError for anything else."""
    name, sep, value = entry.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise ParamError(f"--param {entry}: write NAME=VALUE, e.g. --param fast=5")
    return name.strip(), value.strip()
