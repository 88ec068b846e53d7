"""The bot under test: `quantum-trader run` as a subprocess, started, killed with SIGKILL and restarted.

It runs as a user runs it, in paper mode through the ccxt adapter against the campaign's simulator
server (`QT_EXCHANGE=<url>`, user-data stream and websocket klines with `QT_FEED=exchange`), with the
`manual` strategy so every entry is the campaign's (`POST /api/v1/force-entry`), and otherwise default
settings (monitor interval, request budget share). A restart after `kill -9` reuses the same journal
file: what the dead process wrote ahead is all the new one has besides the exchange. Each start gets a
fresh API port (a killed process's port may linger) and appends to one log file in the work folder.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from .server import API_KEY, API_SECRET

#: A start that takes longer than this is reported as a failed restart (the campaign goes on without a bot).
READY_TIMEOUT_S = 90.0


def bot_command() -> list[str]:
    """The console script next to this interpreter (the venv's), else the module through this interpreter."""
    script = Path(sys.executable).with_name("quantum-trader")
    if script.exists():
        return [str(script), "run"]
    return [sys.executable, "-c", "from quantum_trader.cli.main import app; app()", "run"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BotProcess:
    """One bot identity (one journal) across its processes."""

    exchange_url: str
    symbols: tuple[str, ...]
    workdir: Path
    client: httpx.AsyncClient
    #: QT_ settings the campaign changes on purpose (tests: a huge monitor interval to prove the grader).
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    api: str = ""
    starts: int = 0
    spawned_at: float = 0.0
    _log: IO[bytes] | None = None

    @property
    def journal(self) -> Path:
        return self.workdir / "journal.db"

    @property
    def log_path(self) -> Path:
        return self.workdir / "bot.log"

    def env(self, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QT_") and k != "STAGING_MODE"}
        env.update({"QT_EXCHANGE": self.exchange_url, "QT_API_KEY": API_KEY, "QT_API_SECRET": API_SECRET,
                    "QT_FEED": "exchange", "QT_SYMBOLS": ",".join(self.symbols), "QT_STRATEGY": "manual",
                    "QT_SPEED": "1", "QT_DB_URL": f"sqlite:///{self.journal}", "QT_API_PORT": str(port),
                    **self.extra_env})
        # Its log goes to a file: unbuffered, or a kill -9 loses the lines that explain what it was doing.
        env["PYTHONUNBUFFERED"] = "1"
        return env

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self) -> None:
        """Start a process (the first start or a restart); `wait_ready` says when it serves."""
        port = free_port()
        if self._log is None:
            self._log = self.log_path.open("ab")
        self._log.write(f"\n--- chaos: start {self.starts + 1} ---\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(bot_command(), env=self.env(port), stdout=self._log, stderr=subprocess.STDOUT)
        self.api = f"http://127.0.0.1:{port}"
        self.starts += 1
        self.spawned_at = time.monotonic()

    async def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> float | None:
        """Seconds from spawn until `/health` answers after the start-up sweep; None if it died or took too long."""
        deadline = self.spawned_at + timeout
        while time.monotonic() < deadline and self.alive:
            health = await self.health()
            if health is not None and health.get("monitor", {}).get("sweeps", 0) > 0:
                return time.monotonic() - self.spawned_at
            await asyncio.sleep(0.1)
        return None

    def kill9(self) -> None:
        """SIGKILL: no shutdown code runs, nothing is flushed beyond what the journal already committed."""
        if self.proc is not None and self.alive:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> int | None:
        """SIGTERM at the end of the campaign (a clean stop); its exit code."""
        code = None
        if self.proc is not None:
            if self.alive:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=30)
            code = self.proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def last_error(self) -> str:
        """The last exception line of its log (`SomethingError: message`): why a process ended by itself."""
        try:
            tail = self.log_path.read_text(errors="replace")[-20_000:]
        except OSError:
            return "no log"
        errors = re.findall(r"^(\w+(?:Error|Exception)\b:.*)$", tail, flags=re.MULTILINE)
        return errors[-1][:200] if errors else "no error line in its log"

    # --- its API -----------------------------------------------------------------------------------------
    async def health(self) -> dict[str, Any] | None:
        """`/health`, or None when the process does not answer (dead, starting, or too busy for 2 s)."""
        if not self.alive:
            return None
        try:
            answer = await self.client.get(f"{self.api}/health", timeout=2.0)
            body = answer.json()
        except (httpx.HTTPError, ValueError):
            return None
        return body if isinstance(body, dict) else None

    async def force_entry(self, symbol: str, side: str) -> dict[str, Any]:
        """Ask the bot to open a position through its normal path; its answer (accepted or why not)."""
        try:
            answer = await self.client.post(f"{self.api}/api/v1/force-entry", json={"symbol": symbol, "side": side},
                                            timeout=30.0)
            body = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            return {"accepted": False, "reason": f"{type(exc).__name__}: {exc}"}
        return body if isinstance(body, dict) else {"accepted": False, "reason": str(body)}

    async def positions(self) -> list[dict[str, Any]] | None:
        """`/api/v1/positions` (the bot's protection view of the exchange); None when it does not answer."""
        try:
            answer = await self.client.get(f"{self.api}/api/v1/positions", timeout=30.0)
            answer.raise_for_status()
            rows = answer.json()["positions"]
        except (httpx.HTTPError, ValueError, KeyError):
            return None
        return rows if isinstance(rows, list) else None
