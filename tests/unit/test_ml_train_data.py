"""Where training data come from: path/glob resolution, date bounds, and splitting at time gaps so no
feature or label spans two periods years apart."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.marketdata.bars import BarChunk
from quantum_trader.ml.data_source import Segments, clip, parse_date

MINUTE = 60_000


def _chunk(times: list[int] | np.ndarray) -> BarChunk:
    t = np.asarray(times, dtype=np.int64)
    prices = np.ones((len(t), 2))
    return BarChunk(("AUSDT", "BUSDT"), t, prices, prices, prices, prices, prices, MINUTE)


def _times(segments: Segments) -> list[list[int]]:
    return [[int(x) for chunk in segment for x in chunk.open_time] for segment in segments]


def test_a_long_silence_starts_a_new_segment_inside_a_chunk_and_between_chunks() -> None:
    first = _chunk([0, MINUTE, 2 * MINUTE, 500 * MINUTE, 501 * MINUTE])  # a 498-minute gap inside
    second = _chunk([502 * MINUTE, 503 * MINUTE])  # continues the second stretch
    third = _chunk([10_000 * MINUTE, 10_001 * MINUTE])  # a gap between chunks
    got = _times(Segments([first, second, third], max_gap_bars=60))
    assert got == [[0, MINUTE, 2 * MINUTE], [500 * MINUTE, 501 * MINUTE, 502 * MINUTE, 503 * MINUTE],
                   [10_000 * MINUTE, 10_001 * MINUTE]]  # fmt: skip


def test_short_gaps_stay_in_one_segment() -> None:
    got = _times(Segments([_chunk([0, 30 * MINUTE, 31 * MINUTE]), _chunk([90 * MINUTE])], max_gap_bars=60))
    assert got == [[0, 30 * MINUTE, 31 * MINUTE, 90 * MINUTE]]


def test_clip_keeps_start_inclusive_end_exclusive() -> None:
    chunks = [_chunk(np.arange(0, 10) * MINUTE), _chunk(np.arange(10, 20) * MINUTE)]
    kept = [int(t) for c in clip(chunks, 5 * MINUTE, 12 * MINUTE) for t in c.open_time]
    assert kept == [t * MINUTE for t in range(5, 12)]


def test_dates_are_utc_and_a_bare_end_date_includes_its_day() -> None:
    assert parse_date("2026-02-15") == 1771113600000
    assert parse_date("2026-02-14", end=True) == 1771113600000  # the next midnight, exclusive
    assert parse_date("2026-02-15T12:00:00+02:00") == 1771113600000 + 10 * 3_600_000
    with pytest.raises(ValueError, match="not a date"):
        parse_date("yesterday")
