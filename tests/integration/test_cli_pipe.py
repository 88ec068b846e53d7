"""`quantum-trader audit | head`: when the reader of stdout leaves early, the command stops quietly.

As `git log | head` does: no traceback, no message on stderr, and an exit the shell takes as a normal end
of a pipe (0). The console script runs as a user's shell runs it, its stdout a pipe. Nothing here depends
on timing: the reader either leaves while more output is still to come than the pipe can hold (so the
command's next write must find the pipe closed), or has left before the command writes anything.
PYTHONUNBUFFERED is taken out of the commands' environment: a user's shell does not set it, and with it
stdout would never hold anything back for the final flush.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from test_live_gate import Recipe, build_journal
from test_run_session import BIN

#: A Linux pipe holds 64 KiB; a thousand closed positions make an audit table of about 190 KiB.
LONG_AUDIT_TRADES = 1_000
PIPE_CAPACITY = 64 * 1024
#: Two commands on the program's own command group, for what no shipped command does today.
SYNTHETIC = """
import socket
import sys

import typer

from quantum_trader.cli.pipe import PipeAwareGroup

app = typer.Typer(cls=PipeAwareGroup)


@app.command()
def buffered() -> None:
    sys.stdout.write("less than a buffer, still in it when the command returns")


@app.command()
def socket_peer_gone() -> None:
    mine, theirs = socket.socketpair()
    theirs.close()
    mine.sendall(b"x" * 1_000_000)  # BrokenPipeError, from a socket and not from stdout


app()
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith("QT_") and k not in ("STAGING_MODE", "PYTHONUNBUFFERED")}


def _into_a_closed_pipe(command: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run `command` with its stdout a pipe whose reader has gone before the command writes a byte."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(command, env=_env(), stdout=write_end, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write_end)


def _assert_quiet_end(returncode: int, stderr: bytes) -> None:
    text = stderr.decode(errors="replace")
    assert "Traceback" not in text and "BrokenPipe" not in text and "Broken pipe" not in text, text
    assert text == "", text
    assert returncode == 0, text


@pytest.fixture(scope="module")
def journals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("journals")
    return {"long": build_journal(folder / "long.db", Recipe(trades=LONG_AUDIT_TRADES)),
            "paper": build_journal(folder / "paper.db")}


def test_head_reading_one_line_of_a_long_audit_ends_it_quietly(journals: dict[str, str]) -> None:
    command = [str(BIN), "audit", "--db", journals["long"]]
    whole = subprocess.run(command, env=_env(), capture_output=True, timeout=120)
    assert whole.returncode == 0, whole.stderr
    assert len(whole.stdout) > 2 * PIPE_CAPACITY  # the premise: the command cannot finish before the reader leaves

    proc = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # what `head -1` does: one line, then close
    proc.stdout.close()
    _, stderr = proc.communicate(timeout=120)
    assert first == whole.stdout.splitlines(keepends=True)[0]
    _assert_quiet_end(proc.returncode, stderr)


@pytest.mark.parametrize("args", [
    ("audit", "--json"),  # one large write of its own
    ("readiness", "--json"),
    ("readiness",),  # a table: rich meets the closed pipe
    ("audit", "--help"),  # help of a command
    ("--help",),  # help of the program
], ids=["audit-json", "readiness-json", "readiness-table", "command-help", "program-help"])  # fmt: skip
def test_output_into_a_pipe_nobody_reads_ends_quietly(journals: dict[str, str], args: tuple[str, ...]) -> None:
    db = [] if "--help" in args else ["--db", journals["paper"]]
    done = _into_a_closed_pipe([str(BIN), *args, *db])
    _assert_quiet_end(done.returncode, done.stderr)


def test_output_still_buffered_when_the_command_returns_ends_quietly() -> None:
    """Without the flush inside the program, the interpreter's own at exit prints "Exception ignored ...
    BrokenPipeError" and exits 120."""
    done = _into_a_closed_pipe([sys.executable, "-c", SYNTHETIC, "buffered"])
    _assert_quiet_end(done.returncode, done.stderr)


def test_a_broken_pipe_that_is_not_stdout_is_not_taken_for_the_reader_leaving() -> None:
    """A socket whose peer has gone is a failure (a service must not exit 0 on it), whatever the reader does."""
    done = subprocess.run([sys.executable, "-c", SYNTHETIC, "socket-peer-gone"], env=_env(), capture_output=True,
                          timeout=120)
    assert done.returncode != 0, done.stderr
