"""What `train` and `evaluate` share: option checks that exit 2 naming the option, label parameters from
the settings, loading labelled rows, and a progress display that exists only on a terminal."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..domain.errors import ConfigError
from ..domain.kline_source import kline_paths
from ..ml.data_source import LoadedRows, load_rows, parse_date
from ..ml.labels import DEFAULT_HORIZON
from ..ml.model_file import LabelParams, default_model_path
from ..settings.model import load_settings
from ..sim.fees import FeeModel


def fail(option: str, message: str) -> NoReturn:
    """One line on stderr naming the option, exit code 2 (bad input)."""
    typer.echo(f"error: {option}: {message}", err=True)
    raise typer.Exit(2)


def parse_dates(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    try:
        start_ms = parse_date(start) if start else None
    except ValueError as exc:
        fail("--start", str(exc))
    try:
        end_ms = parse_date(end, end=True) if end else None
    except ValueError as exc:
        fail("--end", str(exc))
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        fail("--end", f"{end} is not after --start {start}")
    return start_ms, end_ms


def label_params_from_settings() -> LabelParams:
    """The trade the bot takes under the current settings: its SL/TP and the simulator's taker fee."""
    try:
        settings = load_settings({})
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return LabelParams(
        float(settings.stop_loss_pct), float(settings.take_profit_pct), float(FeeModel().taker), DEFAULT_HORIZON
    )


def load_checked(
    data: str, labels: LabelParams, start_ms: int | None, end_ms: int | None, stride: int, progress: StageProgress
) -> LoadedRows:
    """Labelled rows from `--data`; any problem with the files is exit 2 naming `--data`."""
    try:
        paths = kline_paths(data)
        progress.stage(f"reading {len(paths)} file(s)")
        return load_rows(paths, labels, start_ms=start_ms, end_ms=end_ms, stride=stride, on_bars=progress.bars)
    except (ValueError, OSError, EOFError) as exc:
        fail("--data", str(exc))


class StageProgress:
    """A spinner with the current stage and bars read, on stderr; does nothing when `show` is false."""

    def __init__(self, *, show: bool, label: str) -> None:
        self._label = label
        self._progress = (
            Progress(
                SpinnerColumn(),
                TextColumn(f"[bold]{label}[/] {{task.description}}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            if show
            else None
        )
        self._task = self._progress.add_task("", total=None) if self._progress is not None else None
        self._bars = 0

    def __enter__(self) -> StageProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()

    def stage(self, message: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=message)

    def bars(self, n: int) -> None:
        self._bars += n
        self.stage(f"{self._bars:,} bars read")


def resolve_model_path(model: str) -> Path:
    """`default` is the baseline shipped in the package; anything else is a path."""
    return default_model_path() if model == "default" else Path(model)
