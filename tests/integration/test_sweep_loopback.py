"""A local `sweep` (no `--address`) opens nothing to the network: every socket of the Ray it starts (GCS,
raylet, workers, agents, autoscaler monitor, and the sweep's own driver) listens on loopback and talks to
loopback only, and Ray's usage statistics are not reported.

The Ray processes are the sweep's descendants, sampled from /proc while it runs. Ray's usage report is
pointed at a loopback server here (`RAY_USAGE_STATS_REPORT_URL`, every second), so that a report, were one
sent, would be seen and would still not leave the machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from proc_sockets import Socket, process_tree, sockets_of
from test_run_session import BIN
from test_sweep import LINK

pytestmark = pytest.mark.skipif(not LINK.exists(), reason=f"real data not found at {LINK}")
PORTS = range(21100, 21200)  # this suite's own ports (Ray picks its own)


@contextmanager
def usage_report_sink() -> Iterator[tuple[int, list[str]]]:
    """An HTTP server on 127.0.0.1 that records the path of every POST it gets (Ray posts its usage report)."""
    received: list[str] = []

    class Record(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = None
    for port in PORTS:
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), Record)
            break
        except OSError:
            continue
    assert server is not None, f"no free port in {PORTS}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()


def watch(process: subprocess.Popen[bytes], timeout: float = 240) -> set[Socket]:
    """Every socket the process and its descendants held, sampled every 0.2 s until it exits."""
    seen: set[Socket] = set()
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the sweep did not finish in time")
        seen.update(sockets_of(process_tree(process.pid)))
        time.sleep(0.2)
    return seen


def test_a_local_sweeps_ray_listens_and_connects_on_loopback_only(tmp_path: Path) -> None:
    out, err = tmp_path / "out.json", tmp_path / "err.txt"
    with usage_report_sink() as (port, reports):
        env = {**os.environ, "RAY_USAGE_STATS_REPORT_URL": f"http://127.0.0.1:{port}/",
               "RAY_USAGE_STATS_REPORT_INTERVAL_S": "1"}
        with out.open("wb") as stdout, err.open("wb") as stderr:
            args = ["sweep", "--data", str(LINK), "--grid", "fast=5,10", "--grid", "slow=30", "--end", "2026-02-04"]
            sweep = subprocess.Popen([str(BIN), *args, "--json"], stdout=stdout, stderr=stderr, env=env)
            seen = watch(sweep)
    assert sweep.returncode == 0, err.read_text()[-3000:]
    doc = json.loads(out.read_text())
    assert doc["engine"]["address"] == "local" and len(doc["runs"]) == 2 and doc["failed"] == 0
    listening = {s.process.split(" ")[0] for s in seen if s.listening}
    assert {"gcs_server", "raylet", "ray::IDLE"} <= listening, sorted(map(str, seen))  # the sample saw Ray running
    exposed = sorted(str(s) for s in seen if s.off_loopback())
    assert exposed == [], "\n".join(exposed)
    assert reports == []


def test_the_check_reads_this_processes_loopback_sockets_and_counts_any_other_address_as_exposed() -> None:
    """The check above, on sockets this test opens in its own port range (a loopback listener and a connection
    to it pass), and on the addresses the old local Ray used (a wildcard, the machine's own address)."""
    with usage_report_sink() as (port, _), socket.create_connection(("127.0.0.1", port)) as client:
        mine = sockets_of([os.getpid()])
        assert [s.local for s in mine if s.listening and s.local[1] == port] == [("127.0.0.1", port)]
        ours = [s for s in mine if s.local == client.getsockname() and s.remote == ("127.0.0.1", port)]
        assert len(ours) == 1 and not any(s.off_loopback() for s in mine)
    exposed = [Socket("raylet", "tcp6", ("::", 4), ("::", 0), True),
               Socket("monitor.py", "tcp", ("0.0.0.0", 44217), ("0.0.0.0", 0), True),
               Socket("ray::RuntimeEnvAgent", "tcp", ("192.0.2.2", 5), ("0.0.0.0", 0), True),
               Socket("gcs_server", "tcp6", ("::ffff:192.0.2.2", 6), ("::ffff:192.0.2.2", 7), False)]
    assert all(s.off_loopback() for s in exposed)
    assert not Socket("raylet", "tcp6", ("::ffff:127.0.0.1", 4), ("::", 0), True).off_loopback()
    assert not Socket("driver", "udp", ("0.0.0.0", 0), ("0.0.0.0", 0), False).off_loopback()  # unbound
