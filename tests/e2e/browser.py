"""A real headless Chromium for the browser tests: Debian's package, driven by Playwright.

Playwright is told to use the distribution's binary (`executable_path`), so nothing is downloaded. Every
page opened through `browser_page` records console errors, uncaught page errors and any request that would
leave the machine (anything but loopback, `file:`, `data:`, `blob:` and `about:`); such requests are
aborted, and the test asserts the lists are empty. Screenshots go to `build/test-artifacts/` (override with
QT_TEST_ARTIFACTS), which CI keeps as the tests' artifacts.

Where Chromium or Playwright is missing, the tests are skipped with the reason and the fix.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LOCAL_SCHEMES = {"file", "data", "blob", "about", "chrome-error"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
ARTIFACTS = Path(os.environ.get("QT_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "test-artifacts"))
#: The flags a closed network needs: without the background-networking ones Chromium keeps dialling Google.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

try:
    from playwright.sync_api import Page, Route, sync_playwright
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None
    PlaywrightTimeout = TimeoutError

requires_browser = pytest.mark.skipif(
    CHROMIUM is None or sync_playwright is None,
    reason="needs Debian's Chromium (apt-get install chromium; .ci/run does) and Playwright (pip install -e '.[dev]')")


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or (parts.hostname or "") in LOOPBACK_HOSTS


@dataclass
class PageWatch:
    """What a page did that a test must see: errors in its console or script, and requests off the machine."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert not self.console_errors, f"console errors: {self.console_errors}"
        assert not self.page_errors, f"page errors: {self.page_errors}"
        assert not self.external_requests, f"requests leaving loopback: {self.external_requests}"


@contextmanager
def browser_page(*, width: int = 1400, height: int = 1000) -> Iterator[tuple[Page, PageWatch]]:
    """A fresh page in a fresh headless Chromium; closed (with the browser) on exit."""
    assert CHROMIUM is not None and sync_playwright is not None
    watch = PageWatch()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})

            def guard(route: Route) -> None:
                if is_local(route.request.url):
                    route.continue_()
                else:
                    watch.external_requests.append(route.request.url)
                    route.abort()

            page.route("**/*", guard)
            page.on("console", lambda msg: watch.console_errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: watch.page_errors.append(str(exc)))
            yield page, watch
        finally:
            browser.close()


def screenshot(page: Page, name: str, **options: Any) -> Path:
    """Save a full-page screenshot as a test artifact and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, **options)
    return path
