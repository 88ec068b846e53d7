"""Output paths (`--report`, `--png`, `--out`) checked before a run, and writes that fail leaving no temporary
file behind: a report or model aimed at a folder used to be found out only after the whole run, with a
`.NAME.tmp` (or `NAME.tmp` beside `/tmp`, in `/`) left over."""

from __future__ import annotations

from pathlib import Path

import pytest
from scanner_fixtures import tiny_model

from quantum_trader.cli.checks import OptionError, check_output_file, check_output_folder
from quantum_trader.download.files import write_atomically
from quantum_trader.reports.write import write_html


def test_a_file_target_that_is_a_folder_or_has_no_name_is_refused_naming_the_option(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match=rf"^--report {tmp_path}: names a folder, not a file; give a file path, "
                                          rf"e.g. {tmp_path}/backtest.html$"):
        check_output_file("--report", tmp_path, "backtest.html")
    with pytest.raises(OptionError, match=r"^--report \.: names a folder.*e\.g\. backtest\.html$"):
        check_output_file("--report", Path(""), "backtest.html")  # what typer makes of --report ''


def test_a_file_below_a_file_or_in_an_unwritable_place_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    with pytest.raises(OptionError, match=rf"^--out {plain}/m.json: {plain} is a file, not a folder"):
        check_output_file("--out", plain / "m.json", "model.json")
    with pytest.raises(OptionError, match=r"^--out /proc/qt/m.json: cannot write in /proc"):
        check_output_file("--out", Path("/proc/qt/m.json"), "model.json")  # refused even to root
    with pytest.raises(OptionError, match=rf"^--png {plain}: is a file, not a folder"):
        check_output_folder("--png", plain)


def test_paths_that_can_be_written_pass_and_leave_nothing_behind(tmp_path: Path) -> None:
    check_output_file("--report", tmp_path / "new" / "deeper" / "r.html", "r.html")  # folders are made later
    check_output_file("--report", Path("relative.html"), "r.html")
    check_output_folder("--png", tmp_path / "charts")
    check_output_folder("--png", tmp_path)
    assert list(tmp_path.iterdir()) == []  # the probe is gone, no folder was made


def test_a_report_write_that_fails_removes_its_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "rep").mkdir()
    with pytest.raises(IsADirectoryError):
        write_html(tmp_path / "rep", "<html></html>")  # the rename onto a folder fails
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_a_model_save_that_fails_removes_its_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "model.json").mkdir()
    with pytest.raises(IsADirectoryError):
        tiny_model().save(tmp_path / "model.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]


def test_a_download_write_that_fails_removes_its_part_file(tmp_path: Path) -> None:
    (tmp_path / "LINKUSDT-1m-2026-02-01.csv").mkdir()
    with pytest.raises(IsADirectoryError):
        write_atomically(tmp_path / "LINKUSDT-1m-2026-02-01.csv", ["1,2,3"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LINKUSDT-1m-2026-02-01.csv"]
