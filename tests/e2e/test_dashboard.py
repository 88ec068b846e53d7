"""The dashboard in a real headless Chromium against a running bot: the page's script must fetch the API
and render the protected position with its stop, as a user opening http://127.0.0.1:8000 would see it.

Chromium runs with `--dump-dom` and a virtual-time budget, so the page's timers and fetches complete
before the DOM is printed; no driver package is needed. Skipped when Chromium is not installed
(`.ci/run` installs Debian's package).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from test_run_session import bot_env, running_bot, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")


def rendered_dom(url: str, profile: Path) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_dashboard_shows_the_position_and_its_stop(tmp_path: Path) -> None:
    with running_bot(bot_env(tmp_path, QT_SPEED="1")) as (_proc, url):  # a calm market: the position stays open
        answer = httpx.post(f"{url}/api/v1/force-entry", json={"symbol": "ETHUSDT", "side": "long"}).json()
        assert answer["accepted"] is True, answer
        wait_for(lambda: httpx.get(f"{url}/api/v1/positions").json()["positions"])
        dom = rendered_dom(url + "/", tmp_path / "chromium-profile")
    positions = dom.split('id="positions"', 1)[1].split("</table>", 1)[0]
    assert "ETHUSDT" in positions and "long" in positions
    assert "STOP_MARKET @" in positions and "TAKE_PROFIT_MARKET @" in positions
    assert "PROTECTED" in positions
    assert "· paper" in dom  # the health line was rendered from /health
