"""Checks of options several commands share, made before any work starts: a bad value costs one line
and exit 2, not a traceback after a long run.

Output paths (`--report`, `--png`, `--out`) are checked the same way before the run: a report or
model written only after minutes of work to a folder, an empty name or a read-only place lost that work
(and left a temporary file beside the target).

Each check raises `OptionError` (a ValueError) whose message starts with the option as typed and says
what to give instead; the command prints it after `error: ` and exits 2 (`bad_input_exits_2`). Only the
standard library and typer here: every command imports this module to build the command line.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer

#: The largest starting wallet a backtest or the simulator takes: beyond it Decimal arithmetic at the
#: simulator's precision overflowed (1e20 raised InvalidOperation half way through a run).
MAX_BALANCE = Decimal(10) ** 12
#: Wallet amounts are kept to 8 decimals, as Binance reports USDT: a finer balance rounded to another one.
BALANCE_STEP = Decimal("0.00000001")
#: The help's type of an option taken as text and parsed here, as typer showed it when the option was typed
#: `int` or `float` (the text type would show `<str>`).
WHOLE, NUMBER = "<int>", "<float>"


class OptionError(ValueError):
    """An option's value that cannot be used; the message names the option and the fix."""


@contextmanager
def bad_input_exits_2() -> Iterator[None]:
    """An OptionError raised inside becomes its one line on stderr and exit 2."""
    try:
        yield
    except OptionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


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


def parse_whole(text: str, option: str, *, example: int, low: int | None = 1, high: int | None = None,
                unit: str = "") -> int:
    """`text` as a whole number from `low` (to `high`, when given; `low` None: any). Options typed `int` were
    checked by typer, whose refusal of `--trials abc` was a boxed usage error without the fix: taken as text
    and parsed here, a bad value is one line naming the option and what to give, as `--param` is."""
    try:
        value: int | None = int(text.strip())
    except ValueError:
        value = None
    if value is None or not _within(value, low, high):
        raise OptionError(f"{_given(option, text)}: give {_allowed('a whole number', low, high, unit, example)}")
    return value


def parse_number(text: str, option: str, *, example: float, low: float, unit: str = "") -> float:
    """`text` as a finite number, `low` or more (`nan`, `inf` and `1e400` are none), refused as parse_whole refuses."""
    try:
        value = float(text.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not _within(value, low, None):
        kind = "a finite number" if math.isinf(value) else "a number"  # infinity is "or more": say what it is not
        raise OptionError(f"{_given(option, text)}: give {_allowed(kind, low, None, unit, example)}")
    return value


def check_symbol_count(text: str, option: str = "--symbols") -> None:
    """`--symbols` given as a count (`0`, `-5`) is 1 or more, checked before anything is asked or bound: `download
    --symbols 0` asked the exchange (Binance by default) before refusing it, `sim-server --symbols 0` took its port
    first and its line did not say what it got. A comma list is left to the command, which knows its symbols."""
    if text.strip().lstrip("-").isdigit():
        parse_whole(text, option, unit="symbols", example=20)


def named_as(ctx: typer.Context, param: str, option: str, variable: str) -> str:
    """How the user gave `param`: as `variable` when its value came from the environment, else as `option`."""
    source = ctx.get_parameter_source(param)  # typer vendors click and exports no ParameterSource: its name says
    return variable if source is not None and source.name == "ENVIRONMENT" else option


def _within(value: float, low: float | None, high: float | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _given(option: str, text: str) -> str:
    """How the value was given: `--timeout abc` on the command line, `QT_KILL_SWITCH_TIMEOUT_S=abc` from the
    environment (a line naming the option sends a user who set the variable to the wrong place)."""
    return f"{option}={text}" if option.startswith("QT_") else f"{option} {text}"


def _allowed(kind: str, low: float | None, high: float | None, unit: str, example: float) -> str:
    """What to give, e.g. `1 or more runs, a whole number such as 40` or `a whole number from 0 to 65535, ...`."""
    if high is not None:
        return f"{kind} from {_shown(low)} to {_shown(high)}, such as {_shown(example)}"
    if low is None:
        return f"{kind} such as {_shown(example)}"
    return f"{_shown(low)} or more {unit}".rstrip() + f", {kind} such as {_shown(example)}"


def _shown(number: float | None) -> str:
    """A whole bound in full (4294967295; `:g` would write 4.29497e+09), a fractional one short (30.0 as 30)."""
    return str(number) if isinstance(number, int) or number is None else f"{number:g}"


def check_db_option(url: str, option: str = "--db") -> str:
    """A journal URL given on the command line, checked as QT_DB_URL is but named as the option it came in
    (a refusal that says QT_DB_URL to a user who typed --db sends them to the wrong place); password hidden."""
    from ..settings.rules import HINTS, check_db_url, hide_db_password  # light: no SQLAlchemy for a file URL

    try:
        return check_db_url(url)
    except ValueError as exc:
        path_hint = f" (for a file: sqlite:///{url})" if "://" not in url and url.strip() else ""
        raise OptionError(f"{option} {hide_db_password(url)}: {exc}; give {HINTS['db_url']}{path_hint}") from None


def check_output_file(option: str, path: Path, example: str) -> None:
    """`path` can be written as a file (by a temporary file beside it and a rename): not a folder, not an
    empty name, and its folder exists and takes a new file, or can be created. `example`: a file name."""
    if not path.name or path.is_dir():
        raise OptionError(f"{option} {path}: names a folder, not a file; give a file path, e.g. "
                          f"{path / example if path.name else example}")
    _check_folder_writable(option, path, path.parent)


def check_output_folder(option: str, path: Path) -> None:
    """`path` is a folder that takes new files, or one that can be created."""
    if path.exists() and not path.is_dir():
        raise OptionError(f"{option} {path}: is a file, not a folder; give a folder (it is created if missing)")
    _check_folder_writable(option, path, path)


def _check_folder_writable(option: str, target: Path, folder: Path) -> None:
    """The nearest existing folder of `folder` takes a new file: tried for real, because permission bits
    say nothing for root, and /proc or a read-only mount refuse what os.access allows."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OptionError(f"{option} {target}: {existing} is a file, not a folder; give a path in a folder")
    try:
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".qt-write-check-")
    except OSError as exc:
        raise OptionError(f"{option} {target}: cannot write in {existing} ({exc.strerror or exc}); "
                          "give a path in a folder you can write to") from None
    os.close(handle)
    os.unlink(probe)
