"""Binance public-data kline CSV files parsed by pyarrow's CSV reader, a block of rows at a time.

`numpy.loadtxt` parsed a million-row file in about 1.3 s, a third of a whole one-symbol backtest; pyarrow's
reader does it in a fraction of that, streaming, so memory stays at about one block per open file.
What is read is exactly what `marketdata/bars.py` read before: the first six columns (open time, OHLCV)
of the 12-column Binance layout, with or without a header line, plain, gzip or a single-CSV zip, open
times in microseconds (spot files from 2025 on) turned into milliseconds. A file that is not such a CSV
is a `ValueError` naming it.
"""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any, TextIO, cast

import numpy as np
import numpy.typing as npt

from .zip_member import zip_member_file

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Open times at or above this are microseconds (data.binance.vision spot files from 2025 on).
MICROSECONDS_FROM = 10**14
_USED = 6  # open time, open, high, low, close, volume
#: A Binance kline row is about 100-110 bytes: blocks of ~`rows` rows keep memory near the old batches'.
_ROW_BYTES = 128
_MIN_BLOCK, _MAX_BLOCK = 1 << 16, 1 << 22


def open_binary(path: Path) -> IO[bytes]:
    """The CSV's bytes, whatever the packaging (.csv, .csv.gz, or a .zip holding exactly one file)."""
    if path.name.endswith(".zip"):
        archive = zipfile.ZipFile(path)
        members = [name for name in archive.namelist() if not name.endswith("/")]
        if len(members) != 1:
            archive.close()
            raise ValueError(f"{path}: expected exactly one CSV inside the zip, found {members}")
        return archive.open(members[0])
    if path.name.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


#: Words of pyarrow's and zlib's errors for compressed data that is cut short or damaged.
_DAMAGED = ("truncated", "inflate", "crc", "corrupt")


def _unreadable(path: Path, exc: BaseException) -> ValueError:
    """A file that cannot be decoded, as one line: the file, what is wrong with it and what to do."""
    if isinstance(exc, gzip.BadGzipFile):
        return ValueError(f"{path}: not gzip data, though its name ends in .gz ({exc}): if it is a plain CSV, "
                          "rename it to end in .csv; otherwise download it again")
    if isinstance(exc, zipfile.BadZipFile):
        return ValueError(f"{path}: not a readable zip ({exc}): download it again")
    if isinstance(exc, UnicodeDecodeError):
        return ValueError(f"{path}: not a text CSV ({exc}): give Binance kline files (.csv, .csv.gz or .zip)")
    if isinstance(exc, EOFError | zlib.error) or any(word in str(exc).lower() for word in _DAMAGED):
        return ValueError(f"{path}: the compressed data is cut short or damaged ({exc}), as an interrupted "
                          "download or copy leaves it: download or copy the file again")
    return ValueError(f"{path}: cannot be read ({exc})")


@contextmanager
def _text_of(path: Path) -> Iterator[TextIO]:
    """The file as text; a damaged or mislabelled archive is a ValueError naming it (zlib's, gzip's and
    zipfile's own errors are not ValueError, and some not even OSError)."""
    try:
        with open_binary(path) as raw:
            yield io.TextIOWrapper(raw, encoding="utf-8")
    except (zlib.error, EOFError, zipfile.BadZipFile, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise _unreadable(path, exc) from None


def _layout(path: Path) -> tuple[int, int] | None:
    """(columns, raw lines before the first data row) from the first non-blank line, which is a header
    when it does not start with a digit; None for a file without any row."""
    with _text_of(path) as text:
        for number, line in enumerate(text):
            if line.strip():
                header = not line.lstrip()[:1].isdigit()
                return line.count(",") + 1, number + header
    return None


def _data_lines(text: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(line number from 1, line) of each row: blank lines and a header (a first line that does not start
    with a digit) left out, as pyarrow leaves them out."""
    first = True
    for number, line in enumerate(text, start=1):
        stripped = line.strip()
        if stripped:
            if first and not stripped[:1].isdigit():
                first = False
                continue
            first = False
            yield number, stripped


def first_open_time(path: Path) -> int | None:
    """The open time (ms) of the file's first row, None for a file without rows: a symbol's files are
    merged in the order of their data, whatever their names say (kline_merge.py)."""
    with _text_of(path) as text:
        for number, line in _data_lines(text):
            field = line.split(",", 1)[0]
            if not field.isdigit():
                raise ValueError(f"{path}: not a Binance kline CSV (line {number} starts with {field!r}, "
                                 "not an open time in ms)")
            return int(field) // 1000 if int(field) >= MICROSECONDS_FROM else int(field)
    return None


def line_of_row(path: Path, row: int) -> int | None:
    """The line number of the file's row `row` (from 0), for an error message: rows are counted as the
    reader counts them, so blank lines and a header do not shift it."""
    with _text_of(path) as text:
        for index, (number, _) in enumerate(_data_lines(text)):
            if index == row:
                return number
    return None


def read_kline_batches(path: Path, rows: int) -> Iterator[tuple[I64, F64]]:
    """The file's (open times in ms, [n, 5] OHLCV) in blocks of roughly `rows` rows (header skipped)."""
    # Imported here, not with the module: a process that never reads a CSV (a paper session, a synthetic
    # benchmark) does not carry pyarrow's ~30 MB.
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.csv as pa_csv  # type: ignore[import-untyped]

    layout = _layout(path)
    if layout is None:
        return
    columns, skip = layout
    if columns < _USED:
        raise ValueError(f"{path}: not a Binance kline CSV ({columns} columns, expected at least {_USED})")
    names = [f"c{i}" for i in range(columns)]
    block = min(max(rows * _ROW_BYTES, _MIN_BLOCK), _MAX_BLOCK)
    read = pa_csv.ReadOptions(column_names=names, skip_rows=skip, block_size=block, use_threads=False)
    convert = pa_csv.ConvertOptions(include_columns=names[:_USED],
                                    column_types={"c0": pa.int64(), **{n: pa.float64() for n in names[1:_USED]}})
    with ExitStack() as stack:
        native, compression = path, "gzip" if path.name.endswith(".gz") else None
        if path.name.endswith(".zip"):  # pyarrow cannot open a zip: a file it can, for the read (zip_member.py)
            native, compression = stack.enter_context(zip_member_file(path))
        try:
            stream = stack.enter_context(pa.input_stream(str(native), compression=compression))
            reader = stack.enter_context(pa_csv.open_csv(stream, read_options=read, convert_options=convert))
            for batch in reader:
                if batch.num_rows:
                    yield _arrays(batch, path)
        except pa.ArrowInvalid as exc:
            raise ValueError(f"{path}: not a Binance kline CSV ({exc})") from None
        except OSError as exc:  # pyarrow's I/O errors (a truncated gzip stream, say) do not name the file
            raise _unreadable(path, exc) from None


def _arrays(batch: Any, path: Path) -> tuple[I64, F64]:
    """One block as numpy; an empty field is refused as loadtxt refused it (never a silent NaN)."""
    if any(column.null_count for column in batch.columns):
        raise ValueError(f"{path}: not a Binance kline CSV (an empty field in the first {_USED} columns)")
    times: I64 = batch.column(0).to_numpy().astype(np.int64, copy=True)
    if times[0] >= MICROSECONDS_FROM:
        times //= 1000
    values: F64 = np.column_stack([batch.column(i).to_numpy() for i in range(1, _USED)])
    return times, values
