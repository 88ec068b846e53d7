"""A kline spec (a file, a folder, a glob) names the same files for every command (domain/kline_source.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantum_trader.domain.kline_source import is_pattern, kline_paths
from quantum_trader.marketdata.bars import iter_binance_klines
from quantum_trader.marketdata.companions import companions_of

ROW = "1767571200000,600,601,599,600,1,1767571259999,0,1,0,0,0\n"


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(ROW)


def test_a_file_a_folder_and_a_glob(tmp_path: Path) -> None:
    _touch(tmp_path, "AUSDT-1m-2026-02.csv.gz", "BUSDT-1m-2026-02.csv", "BUSDT-1m-2026-03.zip", "notes.txt")
    assert [p.name for p in kline_paths(tmp_path)] == [
        "AUSDT-1m-2026-02.csv.gz", "BUSDT-1m-2026-02.csv", "BUSDT-1m-2026-03.zip"]
    assert [p.name for p in kline_paths(str(tmp_path / "B*"))] == ["BUSDT-1m-2026-02.csv", "BUSDT-1m-2026-03.zip"]
    assert [p.name for p in kline_paths(tmp_path / "*-2026-0[2]*")] == [
        "AUSDT-1m-2026-02.csv.gz", "BUSDT-1m-2026-02.csv"]
    assert kline_paths(tmp_path / "BUSDT-1m-2026-02.csv") == [tmp_path / "BUSDT-1m-2026-02.csv"]
    assert kline_paths(tmp_path / "notes.txt") == [tmp_path / "notes.txt"]  # a file named is read as given


def test_an_existing_path_with_glob_characters_is_that_path(tmp_path: Path) -> None:
    _touch(tmp_path, "odd[1]/XUSDT-1m-2026-02.csv", "odd1/YUSDT-1m-2026-02.csv")
    assert not is_pattern(tmp_path / "odd[1]") and is_pattern(tmp_path / "odd*")
    assert [p.name for p in kline_paths(tmp_path / "odd[1]")] == ["XUSDT-1m-2026-02.csv"]


def test_a_glob_never_takes_the_companion_folders_files(tmp_path: Path) -> None:
    """A day of mark-price klines is named exactly as that day of klines: read as klines it would be merged."""
    _touch(tmp_path, "BNBUSDT-1m-2026-01-05.csv", "markPriceKlines/BNBUSDT-1m-2026-01-05.csv",
           "fundingRate/BNBUSDT-fundingRate-2026-01.csv", "more/ETHUSDT-1m-2026-01-05.csv")
    found = kline_paths(str(tmp_path / "**" / "*.csv"))
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "BNBUSDT-1m-2026-01-05.csv", "more/ETHUSDT-1m-2026-01-05.csv"]
    assert [p.name for p in kline_paths(tmp_path / "*" / "*.csv")] == ["ETHUSDT-1m-2026-01-05.csv"]


def test_a_glob_never_takes_files_below_a_companion_folder_in_binances_published_layout(tmp_path: Path) -> None:
    """data.binance.vision nests them: .../um/monthly/markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2026-02.zip."""
    _touch(tmp_path, "um/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2026-02.zip",
           "um/monthly/markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2026-02.zip",
           "um/monthly/premiumIndexKlines/BTCUSDT/1m/BTCUSDT-1m-2026-02.zip",
           "um/monthly/indexPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2026-02.zip")
    found = kline_paths(tmp_path / "um" / "**" / "*.zip")
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "um/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2026-02.zip"]
    named = kline_paths(tmp_path / "um" / "monthly" / "markPriceKlines" / "**" / "*.zip")  # asked for by name
    assert [p.parts[-4] for p in named] == ["markPriceKlines"]


def test_an_unknown_users_home_is_a_path_that_does_not_exist() -> None:
    """`Path.expanduser` raises RuntimeError there: a traceback instead of exit 2 naming the setting."""
    with pytest.raises(ValueError, match="does not exist"):
        kline_paths("~no-such-user-here/klines")
    with pytest.raises(ValueError, match="matches this pattern"):
        kline_paths("~no-such-user-here/klines/*.csv")
    assert not companions_of("~no-such-user-here/klines")


@pytest.mark.parametrize(("spec", "says"), [
    ("missing/AUSDT-1m-2026-02.csv", "does not exist (give a kline file, a folder of them, or a quoted glob)"),
    ("empty", "no kline files (.csv, .csv.gz, .zip) in this folder"),
    ("C*", "no kline file (.csv, .csv.gz, .zip) matches this pattern"),
])
def test_a_spec_naming_no_kline_file_says_so_and_names_it(tmp_path: Path, spec: str, says: str) -> None:
    (tmp_path / "empty").mkdir()
    _touch(tmp_path, "AUSDT-1m-2026-02.csv")
    with pytest.raises(ValueError, match=r"\.zip\) |does not exist") as caught:
        kline_paths(tmp_path / spec)
    message = str(caught.value)
    assert message.startswith(str(tmp_path / spec)) and message.endswith(says)


def test_the_reader_and_the_companions_follow_a_glob(tmp_path: Path) -> None:
    _touch(tmp_path, "a/BNBUSDT-1m-2026-01-05.csv", "a/markPriceKlines/BNBUSDT-1m-2026-01-05.csv",
           "b/ETHUSDT-1m-2026-01-05.csv", "b/fundingRate/ETHUSDT-fundingRate-2026-01.csv",
           "c/BTCUSDT-1m-2026-01-05.csv")
    spec = str(tmp_path / "[ab]" / "*USDT-1m-*.csv")
    assert next(iter_binance_klines(spec)).symbols == ("BNBUSDT", "ETHUSDT")
    companions = companions_of(spec)
    assert [p.relative_to(tmp_path).as_posix() for p in companions.mark_paths] == [
        "a/markPriceKlines/BNBUSDT-1m-2026-01-05.csv"]
    assert [p.relative_to(tmp_path).as_posix() for p in companions.funding_paths] == [
        "b/fundingRate/ETHUSDT-fundingRate-2026-01.csv"]
    assert not companions_of(tmp_path / "c") and not companions_of(tmp_path / "nothing*")
