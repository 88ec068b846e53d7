"""The dashboard's event stream against the real bot: snapshots flow, and an open page never holds up a
shutdown (uvicorn waits for open answers, and this one never ends by itself)."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from test_run_session import bot_env, running_bot


def test_an_open_stream_serves_snapshots_and_ends_with_the_session(tmp_path: Path) -> None:
    snapshots: list[dict[str, Any]] = []
    with running_bot(bot_env(tmp_path, QT_SPEED="1")) as (proc, url):
        def listen() -> None:
            with httpx.stream("GET", f"{url}/api/v1/stream", timeout=60) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        snapshots.append(json.loads(line[6:]))

        reader = threading.Thread(target=listen, daemon=True)
        reader.start()
        deadline = time.monotonic() + 10
        while len(snapshots) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(snapshots) >= 3 and snapshots[-1]["health"]["mode"] == "paper"
        assert {"positions", "orders", "unprotected_s", "pnl_today", "revision"} <= set(snapshots[-1])
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        stopped_s = time.monotonic() - stopping
        reader.join(timeout=5)
        assert not reader.is_alive()  # the server ended the stream
        _, stderr = proc.communicate()
    assert "Traceback" not in stderr and "timeout graceful shutdown exceeded" not in stderr, stderr[-2000:]
    assert stopped_s < 10, stopped_s
