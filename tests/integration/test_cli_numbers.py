"""Every number a command takes is checked before anything starts: a bad one is exit 2 and one line naming the
option (or its variable), what it got and what to give; no usage box, no traceback, nothing bound or written.

Typed `int`/`float`, `train`, `chaos`, `sim-server`, `run` and `kill-switch` left these to typer, whose
refusal of `--stride abc` was a boxed usage error without the fix, and which let `sim-server --port 70000`
serve on port 4464 (70000 - 65536), `--weight-limit 0` serve an exchange answering every request with
-1003 and `--seed -1 --feed synthetic` fail with a numpy traceback after the banner; `download --symbols 0`
asked the exchange before refusing the count. The table runs the app in this process (as the other CLI tests
do); the last test runs the console script itself.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from test_cli_refusal_support import BIN, refused
from typer.testing import CliRunner

from quantum_trader.cli.main import app

#: The ports this file may hold busy: a sim-server let through binds one and fails at once, never serves.
PORTS = range(21650, 21700)
#: 65536 above the busy port: the old sim-server bound it as the busy port itself (the port number wrapped).
WRAPS = "{wraps}"
#: For `download`: nothing listens at its exchange, and no folder is made.
DOWNLOAD = ("download", "--start", "2026-01-01", "--exchange", "http://127.0.0.1:{closed}", "--out", "{tmp}/klines")
#: What `run`'s settings say to give for a port and for a duration.
PORT, WALL = "(a TCP port, 1 to 65535, or 0 for any free port)", "(seconds of wall time before a clean stop, e.g. 3600)"
#: For `train`: no data is read and no model written when a number is refused.
TRAIN = ("train", "--data", "{tmp}/no-data", "--out", "{tmp}/model.json")

CASES: list[tuple[tuple[str, ...], dict[str, str], str]] = [
    ((*TRAIN, "--stride", "abc"), {}, "--stride abc: give 1 or more, a whole number such as 5"),
    ((*TRAIN, "--stride", "0"), {}, "--stride 0: give 1 or more, a whole number such as 5"),
    ((*TRAIN, "--folds", "0"), {}, "--folds 0: give 1 or more folds, a whole number such as 4"),
    ((*TRAIN, "--folds", "two"), {}, "--folds two: give 1 or more folds, a whole number such as 4"),
    ((*TRAIN, "--threads", "-1"), {}, "--threads -1: give 1 or more threads, a whole number such as 1"),
    ((*TRAIN, "--threads", "1.5"), {}, "--threads 1.5: give 1 or more threads, a whole number such as 1"),
    (("chaos", "--scenarios", "0"), {}, "--scenarios 0: give 1 or more scenarios, a whole number such as 20"),
    (("chaos", "--scenarios", "abc"), {}, "--scenarios abc: give 1 or more scenarios, a whole number such as 20"),
    (("chaos", "--seed", "x"), {}, "--seed x: give a whole number such as 1"),
    (("chaos", "--seed", "1.5"), {}, "--seed 1.5: give a whole number such as 1"),
    (("chaos", "--steps", "9"), {}, "--steps 9: give 10 or more intervals, a whole number such as 200"),
    (("chaos", "--live", "--duration", "29"), {}, "--duration 29: give 30 or more seconds, a number such as 120"),
    (("chaos", "--live", "--duration", "nan"), {}, "--duration nan: give 30 or more seconds, a number such as 120"),
    (("chaos", "--live", "--duration", "abc"), {}, "--duration abc: give 30 or more seconds, a number such as 120"),
    (("sim-server", "--port", "abc"), {}, "--port abc: give a whole number from 0 to 65535, such as 8090"),
    (("sim-server", "--port", "-1"), {}, "--port -1: give a whole number from 0 to 65535, such as 8090"),
    (("sim-server", "--port", WRAPS), {}, "--port {wraps}: give a whole number from 0 to 65535, such as 8090"),
    (("sim-server", "--seed", "-1", "--feed", "synthetic"), {}, "--seed -1: give 0 or more, a whole number such as 7"),
    (("sim-server", "--seed", "x"), {}, "--seed x: give 0 or more, a whole number such as 7"),
    (("sim-server", "--weight-limit", "0"), {}, "--weight-limit 0: give 1 or more, a whole number such as 2400"),
    (("sim-server", "--order-limit-10s", "-1"), {},
     "--order-limit-10s -1: give 1 or more orders, a whole number such as 300"),
    (("sim-server", "--order-limit-1m", "x"), {},
     "--order-limit-1m x: give 1 or more orders, a whole number such as 1200"),
    (("sim-server", "--ban-seconds", "0"), {}, "--ban-seconds 0: give 1 or more seconds, a whole number such as 120"),
    (("sim-server", "--ban-after", "-1"), {}, "--ban-after -1: give 0 or more, a whole number such as 3"),
    (("sim-server", "--history-bars", "1.5"), {},
     "--history-bars 1.5: give 0 or more bars, a whole number such as 300"),
    (("sim-server", "--symbols", "0"), {}, "--symbols 0: give 1 or more symbols, a whole number such as 20"),
    # a count of symbols: `download` asked the exchange before refusing it
    ((*DOWNLOAD, "--symbols", "0"), {}, "--symbols 0: give 1 or more symbols, a whole number such as 20"),
    ((*DOWNLOAD, "--symbols", "-5"), {}, "--symbols -5: give 1 or more symbols, a whole number such as 20"),
    # `run` hands them to its settings as text, as their variables: the settings' line, named as the option
    (("run", "--port", "abc"), {}, f"--port=abc: must be a whole number {PORT}"),
    (("run", "--port", "70000"), {}, f"--port=70000: must be at most 65535 {PORT}"),
    (("run", "--port", "-1"), {}, f"--port=-1: must be at least 0 {PORT}"),
    (("run", "--duration", "abc"), {}, f"--duration=abc: must be a number {WALL}"),
    (("run", "--duration", "inf"), {}, f"--duration=inf: must be a finite number {WALL}"),
    (("run", "--duration", "0"), {}, f"--duration=0: must be greater than 0 {WALL}"),
    (("kill-switch", "--timeout", "abc"), {}, "--timeout abc: give 0.1 or more seconds, a number such as 90"),
    (("kill-switch", "--timeout", "0"), {}, "--timeout 0: give 0.1 or more seconds, a number such as 90"),
    (("kill-switch", "--timeout", "nan"), {}, "--timeout nan: give 0.1 or more seconds, a number such as 90"),
    (("kill-switch", "--timeout", "1e400"), {},
     "--timeout 1e400: give 0.1 or more seconds, a finite number such as 90"),  # was "a number": 1e400 is more
    (("kill-switch",), {"QT_KILL_SWITCH_TIMEOUT_S": "abc"},
     "QT_KILL_SWITCH_TIMEOUT_S=abc: give 0.1 or more seconds, a number such as 90"),
]


@pytest.fixture(scope="module")
def ports() -> Iterator[dict[str, int]]:
    """Ports of this file's range: `busy` held listening (a sim-server that got past its checks fails on it at
    once instead of serving), `wraps` 65536 above it, `closed` one nothing listens on (a download let through
    is refused there at once)."""
    with _bound(PORTS) as held:
        held.listen()
        busy = held.getsockname()[1]
        with _bound(reversed(PORTS)) as free:
            closed = free.getsockname()[1]
        yield {"busy": busy, "wraps": busy + 65536, "closed": closed}


def _bound(candidates: Iterable[int]) -> socket.socket:
    """A socket bound to the first free port of `candidates` (the other xdist worker may hold one)."""
    for port in candidates:
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        return sock
    raise AssertionError(f"no free port in {PORTS}")


def clean_env(extra: dict[str, str]) -> dict[str, str | None]:
    """No QT_ variable of this shell (None unsets it for the run), plus the case's own."""
    return {**{name: None for name in os.environ if name.startswith("QT_")}, **extra}


def filled(text: str, ports: dict[str, int], tmp_path: Path) -> str:
    return text.format(**ports, tmp=tmp_path)


@pytest.mark.parametrize(("args", "env", "line"), CASES, ids=[f"{a[0]} {line.split(':')[0]}" for a, _, line in CASES])
def test_a_bad_number_is_one_line_naming_it_and_what_to_give(args: tuple[str, ...], env: dict[str, str], line: str,
                                                             ports: dict[str, int], tmp_path: Path) -> None:
    argv = [filled(a, ports, tmp_path) for a in args]
    if argv[0] == "sim-server" and "--port" not in argv:
        argv += ["--port", str(ports["busy"])]
    result = CliRunner().invoke(app, argv, env=clean_env(env))
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr == f"error: {filled(line, ports, tmp_path)}\n", result.output
    assert list(tmp_path.iterdir()) == []  # train wrote no model (nor its .tmp)


@pytest.mark.parametrize(("args", "line"), [
    (("force-entry", "bad sym!", "--side", "long"),
     "SYMBOL 'bad sym!': give a symbol of uppercase letters and digits, such as BNBUSDT"),
    (("force-entry", "BNBUSDT", "--side", "up"), "--side up: give long or short"),
])
def test_force_entrys_words_are_checked_the_same_way(args: tuple[str, ...], line: str) -> None:
    """Not numbers, but the same promise: typer's boxed usage error for these was found by the trial of the
    numbers; nothing is asked of the bot (no API is given, and none listens)."""
    result = CliRunner().invoke(app, list(args), env=clean_env({}))
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr == f"error: {line}\n", result.output


@pytest.mark.parametrize(("command", "option", "kind", "default"), [
    ("train", "--stride", "int", "5"), ("train", "--folds", "int", None), ("train", "--threads", "int", "1"),
    ("chaos", "--scenarios", "int", "20"), ("chaos", "--seed", "int", "1"), ("chaos", "--steps", "int", "200"),
    ("chaos", "--duration", "float", None), ("sim-server", "--port", "int", "8090"),
    ("sim-server", "--seed", "int", "0"), ("sim-server", "--weight-limit", "int", "2400"),
    ("sim-server", "--order-limit-10s", "int", "300"), ("sim-server", "--order-limit-1m", "int", "1200"),
    ("sim-server", "--ban-seconds", "int", "120"), ("sim-server", "--ban-after", "int", "3"),
    ("sim-server", "--history-bars", "int", "0"), ("run", "--port", "int", None), ("run", "--duration", "float", None),
    ("kill-switch", "--timeout", "float", "90.0"),
])
def test_the_help_still_shows_each_numbers_type_and_default(command: str, option: str, kind: str,
                                                            default: str | None) -> None:
    """Taken as text to be checked here, they would show `<str>`: the help keeps the type typer showed."""
    text = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "250"}).stdout
    entry = re.search(rf"│ +{option} +<{kind}> +(.*?)(?=│ +-|╰)", text, re.S)
    assert entry, text
    assert default is None or f"[default: {default}]" in entry.group(1), entry.group(1)


@pytest.mark.parametrize(("args", "env", "line"), [
    (("sim-server", "--port", WRAPS), {}, "--port {wraps}: give a whole number from 0 to 65535"),
    (("kill-switch",), {"QT_KILL_SWITCH_TIMEOUT_S": "0"}, "QT_KILL_SWITCH_TIMEOUT_S=0: give 0.1 or more seconds"),
])
def test_the_console_script_prints_the_same_one_line(args: tuple[str, ...], env: dict[str, str], line: str,
                                                     ports: dict[str, int], tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    done = subprocess.run([str(BIN), *(filled(a, ports, tmp_path) for a in args)], capture_output=True, text=True,
                          timeout=60, env={**base, **env})
    refused(done, filled(line, ports, tmp_path))
    assert "Usage:" not in done.stderr and "Traceback" not in done.stderr
