"""A process killed with SIGKILL keeps every line it had already written (task K, issue 10).

The bot runs with its output redirected to a file (systemd, the live chaos campaign), where Python
block-buffers stdout: a `kill -9` then loses the lines that explain what the process was doing. The
child here writes one line to stdout and one log record, then kills itself; the file must hold both.
The control child does the same without `configure_logging` and loses its stdout line, which shows
the check can fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHILD = """
import os, signal, sys
import structlog
if sys.argv[1] == "configured":
    from quantum_trader.core.logging import configure_logging
    configure_logging(json=False)
structlog.get_logger("child").warning("logged before the kill")
print("printed before the kill")
os.kill(os.getpid(), signal.SIGKILL)
"""


def run_child(tmp_path: Path, mode: str) -> str:
    out = tmp_path / f"{mode}.log"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with out.open("wb") as sink:
        code = subprocess.run([sys.executable, "-c", CHILD, mode], stdout=sink, stderr=subprocess.STDOUT,
                              env=env, timeout=60).returncode
    assert code == -9
    return out.read_text()


def test_lines_written_before_a_kill_9_are_in_the_file(tmp_path: Path) -> None:
    text = run_child(tmp_path, "configured")
    assert "printed before the kill" in text
    assert "logged before the kill" in text


def test_without_the_logging_setup_a_kill_9_loses_stdout(tmp_path: Path) -> None:
    assert "printed before the kill" not in run_child(tmp_path, "bare")
