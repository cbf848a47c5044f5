"""Headless Chromium for the page tests: Debian's system browser driven by the playwright package.

Playwright's own browser downloads are never used: ``scripts/ensure-browser`` (``make test`` runs it)
installs Debian's chromium. Every launch is bounded, gets a new empty profile directory and is
closed whatever the test did.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CHROMIUM = Path(os.environ.get("EXITGUARD_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAUNCH_TIMEOUT_MS = 30_000
STEP_TIMEOUT_MS = 10_000
SCREENSHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"


def require_chromium() -> Path:
    """The browser's path; skips the test only when it cannot be had (missing and not root)."""
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() == 0:
        # As root the browser can be had: a missing one is a setup error, not a reason to skip.
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-browser (make test does)")
    pytest.skip(f"{CHROMIUM} is missing and we are not root to install it (scripts/ensure-browser)")


@contextmanager
def chromium_context(profile_dir: Path) -> Iterator[BrowserContext]:
    """A browser context on a new empty profile directory, closed on the way out."""
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    profile_dir.mkdir(parents=True, exist_ok=False)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=str(executable),
            args=ARGS,
            headless=True,
            timeout=LAUNCH_TIMEOUT_MS,
            viewport={"width": 1400, "height": 900},
            service_workers="block",
        )
        try:
            context.set_default_timeout(STEP_TIMEOUT_MS)
            context.set_default_navigation_timeout(STEP_TIMEOUT_MS)
            yield context
        finally:
            context.close()


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
