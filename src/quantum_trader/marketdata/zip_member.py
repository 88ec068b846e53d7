"""A zip member handed to pyarrow as a file it opens itself (a deflated one framed as gzip), read natively.

pyarrow reads .csv and .csv.gz itself (with a read-ahead thread), but not a zip, which is how
data.binance.vision ships klines. Fed Python's `zipfile` stream, its read-ahead thread called back into
Python: a run that stopped half way through a zip could abort or hang at interpreter exit (the thread
waited for the GIL); read in pieces by Python instead, inflating and parsing took turns (0.9 s against
0.45 s for a million rows). A deflated member is exactly a gzip body: the same raw deflate stream, with
the CRC-32 and size gzip's trailer wants already in the zip's directory (RFC 1952, PKWARE APPNOTE 4.3.7).
So the member's compressed bytes are copied, framed as gzip, to a temporary file (the compressed size:
about 1.5 MB for a month of one-minute bars), which pyarrow reads natively and which is removed after.
A member stored or compressed otherwise (rare) is inflated by Python into a plain temporary copy.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # signature ... file name length, extra field length
_LOCAL_SIGNATURE = 0x04034B50
#: ID1 ID2, CM = deflate, no flags, no mtime, no extra flags, OS unknown.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_ENCRYPTED = 0x1


@contextmanager
def zip_member_file(path: Path) -> Iterator[tuple[Path, str | None]]:
    """The zip's single member as a file pyarrow reads natively, with its compression, for the block: a
    deflated member framed as gzip (a copy of its compressed bytes); any other (stored, bzip2, ...) inflated
    by Python into a plain copy, which is bigger but rare (data.binance.vision deflates)."""
    with zipfile.ZipFile(path) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) != 1:
            raise ValueError(f"{path}: expected exactly one CSV inside the zip, found "
                             f"{[info.filename for info in members]}")
        info = members[0]
        deflated = info.compress_type == zipfile.ZIP_DEFLATED and not info.flag_bits & _ENCRYPTED
        handle, name = tempfile.mkstemp(prefix="qt-zip-", suffix=".csv.gz" if deflated else ".csv")
        try:
            with os.fdopen(handle, "wb") as target:
                if deflated:
                    _frame_as_gzip(path, info, target)
                else:
                    with archive.open(info) as member:
                        shutil.copyfileobj(member, target, 1 << 20)
        except BaseException:
            os.unlink(name)
            raise
    try:
        yield Path(name), "gzip" if deflated else None
    finally:
        os.unlink(name)


def _frame_as_gzip(path: Path, info: zipfile.ZipInfo, target: IO[bytes]) -> None:
    """The member's deflate stream between a gzip header and a trailer of its CRC-32 and size."""
    with path.open("rb") as source:
        source.seek(info.header_offset)
        header = _LOCAL_HEADER.unpack(source.read(_LOCAL_HEADER.size))
        if header[0] != _LOCAL_SIGNATURE:
            raise ValueError(f"{path}: not a zip file (no local header for {info.filename})")
        source.seek(header[9] + header[10], os.SEEK_CUR)  # past the member's name and extra field
        target.write(_GZIP_HEADER)
        _copy_exactly(source, target, info.compress_size, path)
        target.write(struct.pack("<II", info.CRC, info.file_size & 0xFFFFFFFF))


def _copy_exactly(source: IO[bytes], target: IO[bytes], size: int, path: Path) -> None:
    """`size` bytes from source to target; a truncated archive is a ValueError naming it."""
    remaining = size
    while remaining:
        data = source.read(min(remaining, 1 << 20))
        if not data:
            raise ValueError(f"{path}: the zip is truncated")
        target.write(data)
        remaining -= len(data)
