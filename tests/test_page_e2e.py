"""The status page in a real headless browser, against the real stack: the paper venue, the
manager (SDK adapters) and the service, with prices moved through the venue's control API.

The browser must show the positions with their exits, the trailing stop's level following the
price, then the stop firing and the position closing. Screenshots: build/screenshots/.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from browser import chromium_context, require_chromium, screenshot_path
from exitguard.planner.policy import Distance, ProtectionPolicy, StopLossPolicy, TrailingPolicy
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue
from service_support import TOKEN, TRAILING_POLICY, USDM_POLICY, Guard, start_guard

D = Decimal
BTC = "usdm/BTCUSDT/BOTH"
ETH = "usdm/ETHUSDT/BOTH"
POLICIES = {
    "BTCUSDT": USDM_POLICY,  # stop 2 %, take-profit 4 %
    "ETHUSDT": ProtectionPolicy(
        stop_loss=StopLossPolicy(Distance(percent=D(3))),
        trailing=TrailingPolicy(callback_rate=D(1)),
    ),
}
assert TRAILING_POLICY is not None


class StackThread:
    """Venue + manager + service in their own event loop (playwright's sync API owns this one)."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.guard: Guard | None = None
        self.venue: Venue | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the test, never swallowed
            self.error = exc
            self.ready.set()

    async def _main(self) -> None:
        async with Venue(clock=RealtimeClock(), feed=None) as v:
            v.set_price("BTCUSDT", last=D(50000), mark=D(50000))
            v.set_price("ETHUSDT", last=D(2000), mark=D(2000))
            self.venue = v
            self.guard = await start_guard(v, self.db, usdm=POLICIES, price_interval_s=0.25)
            self.ready.set()
            try:
                while not self.stop.is_set():
                    await asyncio.sleep(0.05)
            finally:
                await self.guard.stop()

    def __enter__(self) -> StackThread:
        self.thread.start()
        if not self.ready.wait(60) or self.error is not None:
            raise RuntimeError(f"the stack did not start: {self.error!r}")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(30)

    def control(self, path: str, body: dict[str, Any]) -> None:
        assert self.venue is not None
        r = httpx.post(f"{self.venue.rest_url}/_venue/{path}", json=body, timeout=10)
        r.raise_for_status()

    def price(self, symbol: str, value: str) -> None:
        self.control("price", {"symbol": symbol, "last": value, "mark": value})

    def open(self, symbol: str, qty: str) -> None:
        assert self.venue is not None
        self.control(
            "position", {"api_key": self.venue.api_key, "symbol": symbol, "side": "BUY", "qty": qty}
        )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[StackThread]:
    require_chromium()
    with StackThread(tmp_path / "s.db") as s:
        yield s


def test_the_page_shows_a_stop_firing_and_the_position_closing(
    stack: StackThread, tmp_path: Path
) -> None:
    assert stack.guard is not None
    stack.open("BTCUSDT", "0.05")
    stack.open("ETHUSDT", "1")
    with chromium_context(tmp_path / "profile") as context:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{stack.guard.url}/#token={TOKEN}")
        card = page.locator(f'.position[data-id="{BTC}"]')
        page.wait_for_selector(f'.position[data-id="{BTC}"] .exit[data-role="stop_loss"]')
        page.wait_for_selector(f'.position[data-id="{BTC}"] .exit[data-role="take_profit"]')
        page.wait_for_selector(f'.position[data-id="{ETH}"] .exit[data-role="trailing"]')
        page.wait_for_selector(f'.position[data-id="{BTC}"] .state[data-state="protected"]')
        assert "49000" in card.locator('.exit[data-role="stop_loss"]').inner_text()
        assert "52000" in card.locator('.exit[data-role="take_profit"]').inner_text()
        assert "token" not in page.url  # the fragment is removed from the address bar

        # ETH rises: the trailing stop's current level follows it (1 % under the best price).
        for value in ("2010", "2030", "2050"):
            stack.price("ETHUSDT", value)
            page.wait_for_timeout(400)
        page.wait_for_selector(
            f'.position[data-id="{ETH}"] [data-line="trailing"][data-level="2029.50"]',
            state="attached",
            timeout=15_000,
        )
        stack.price("BTCUSDT", "50400")
        page.wait_for_timeout(800)
        page.screenshot(path=screenshot_path("e2e-protected-1400"), full_page=True)

        # BTC falls through its stop (49000): the stop fires and the position closes.
        stack.price("BTCUSDT", "49500")
        page.wait_for_timeout(300)
        stack.price("BTCUSDT", "48900")
        page.wait_for_selector(
            f'.position[data-id="{BTC}"] .state[data-state="closed"]', timeout=20_000
        )
        lines = " | ".join(page.locator("#events li").all_inner_texts()).lower()
        assert "stop_loss" in lines and "filled" in lines, lines
        assert page.locator(f'.position[data-id="{ETH}"] .state').inner_text() == "PROTECTED"
        page.screenshot(path=screenshot_path("e2e-stop-fired-1400"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(300)
        page.screenshot(path=screenshot_path("e2e-phone-390"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"horizontal scrolling on a phone: {width}px"
        assert errors == []
