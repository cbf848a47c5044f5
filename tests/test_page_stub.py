"""The live status page in a real headless Chromium against a stub of the service contract.

The stub (tests/page_stub.py) serves the page as the service does and lets each test push events
through the WebSocket; screenshots go to ``build/screenshots/``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from browser import chromium_context, require_chromium, screenshot_path

pytest.importorskip("fastapi", reason="the service extras (fastapi) are not installed")
pytest.importorskip("uvicorn", reason="the service extras (uvicorn) are not installed")
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

# Waits go through locators (Playwright's own isolated world), never wait_for_function: its
# string predicates are eval'd in the page, which the page's Content-Security-Policy (no
# unsafe-eval, as it should be) refuses whenever the first check fails and polling starts.
from playwright.sync_api import expect

from exitguard.service.page import PAGE_DIR
from page_stub import BTC, BTC_REF, TOKEN, WAIT_S, Stub, btc_position, health, ms, serve_stub

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Stub, str]]:
    require_chromium()
    with serve_stub() as running:
        yield running


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium_context(tmp_path_factory.mktemp("chromium") / "profile") as ctx:
        yield ctx


@pytest.fixture
def stub(served: tuple[Stub, str]) -> Stub:
    served[0].reset()
    return served[0]


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        page.close()
    assert not errors, f"the page threw: {errors}"


def open_live(page: Page, base: str, width: int = 1400, height: int = 900) -> None:
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{base}/#token={TOKEN}")
    page.wait_for_selector('#conn[data-conn="live"]')
    page.wait_for_selector(f'.position[data-id="{BTC}"] .exit[data-role="trailing"]')
    page.wait_for_selector('#events li[data-kind="manager_started"]')


def push_price_walk(stub: Stub, start: float, end: float, n: int) -> None:
    """Backdated price events, oldest first, so the chart has a few minutes of line."""
    t0 = ms() - n * 2000
    for i in range(n):
        price = start + (end - start) * i / (n - 1) + (35 if i % 3 == 1 else -20 if i % 3 else 0)
        stub.push(
            "price",
            {
                "product": "usdm",
                "symbol": "BTCUSDT",
                "mark": f"{price:.1f}",
                "last": f"{price:.1f}",
            },
            time_ms=t0 + i * 2000,
        )


def no_horizontal_overflow(page: Page) -> float:
    """How far the widest element sticks out past the viewport's right edge (px)."""
    return float(
        page.evaluate(
            """() => Math.max(document.documentElement.scrollWidth - window.innerWidth,
                 ...[...document.querySelectorAll('body *')].map(
                   (e) => e.getBoundingClientRect().right - window.innerWidth))"""
        )
    )


def test_card_shows_position_exits_and_header(
    served: tuple[Stub, str], stub: Stub, page: Page
) -> None:
    base = served[1]
    open_live(page, base)
    push_price_walk(stub, 99800.0, 100400.0, 40)
    card = page.locator(f'.position[data-id="{BTC}"]')
    assert card.locator(".state").inner_text() == "PROTECTED"
    assert card.locator(".side").inner_text() == "LONG"
    stop = card.locator('.exit[data-role="stop_loss"]')
    assert "98000.0" in stop.inner_text() and "OPEN" in stop.inner_text()
    assert "cb 1.0%" in card.locator('.exit[data-role="trailing"]').inner_text()
    assert card.locator('[data-line="stop"]').get_attribute("data-level") == "98000.0"
    assert card.locator('[data-line="tp"]').get_attribute("data-level") == "103000.0"
    eth = page.locator('.position[data-id="usdm/ETHUSDT/BOTH"]')
    assert eth.locator(".override").inner_text() == "bot plan"
    assert page.locator("#status").inner_text() == "OK"
    assert page.locator("#mode").inner_text() == "PAPER"
    lines = page.locator("#events li .msg").all_inner_texts()
    assert "BTCUSDT stop_loss placed at 98000.0" in lines, lines
    assert lines[-1].startswith("manager started: PAPER"), "newest first"
    assert page.locator("#banner").is_hidden()
    # The token left the address bar for localStorage, and is nowhere on the page.
    assert "token" not in page.url
    assert page.evaluate("localStorage.getItem('exitguard.token')") == TOKEN
    assert TOKEN not in page.content()
    page.screenshot(path=screenshot_path("page-1400"), full_page=True)

    page.set_viewport_size({"width": 375, "height": 812})
    page.wait_for_timeout(300)  # the charts redraw for the new width
    assert no_horizontal_overflow(page) <= 1
    page.screenshot(path=screenshot_path("page-375"), full_page=True)


def test_bare_position_raises_the_red_banner(
    served: tuple[Stub, str], stub: Stub, page: Page
) -> None:
    open_live(page, served[1])
    push_price_walk(stub, 100300.0, 99700.0, 20)
    reason = "no stop_loss (transient: 429) <img src=x onerror=alert(1)>"
    stub.health = health("bare", {BTC_REF: ("bare", reason)})
    stub.positions[0]["protection"] = {"state": "bare", "since_ms": ms() - 3200, "reason": reason}
    stub.positions[0]["exits"][0]["state"] = "PENDING"
    stub.push(
        "position_bare", {"product": "usdm", "position": BTC_REF, "state": "bare", "reason": reason}
    )
    banner = page.locator("#banner")
    banner.wait_for(state="visible")
    text = banner.inner_text()
    assert "BTCUSDT" in text and "BARE for" in text and reason in text
    assert banner.locator("img").count() == 0  # the reason stayed text
    page.wait_for_selector(f'.position[data-id="{BTC}"] .state[data-state="bare"]')
    assert page.locator("#status").inner_text() == "BARE"
    first = page.locator("#events li").first.inner_text()
    assert "BTCUSDT BARE" in first
    page.screenshot(path=screenshot_path("page-bare-1400"), full_page=True)
    page.set_viewport_size({"width": 375, "height": 812})
    page.wait_for_timeout(300)
    assert no_horizontal_overflow(page) <= 1
    page.screenshot(path=screenshot_path("page-bare-375"), full_page=True)

    stub.health = health()
    stub.positions[0]["protection"] = {"state": "protected", "since_ms": ms(), "reason": ""}
    stub.push("position_protected", {"product": "usdm", "position": BTC_REF, "bare_s": 4.1})
    banner.wait_for(state="hidden")
    assert "protected again after 4.1 s" in page.locator("#events li").first.inner_text()


def trailing_line(page: Page) -> tuple[str | None, float]:
    line = page.locator(f'.position[data-id="{BTC}"] [data-line="trailing"]')
    d = line.get_attribute("d") or ""
    last_y = float(d.split("V")[-1].split()[0]) if "V" in d else float(d.split(",")[1].split()[0])
    return line.get_attribute("data-level"), last_y


def test_price_events_move_the_trailing_stop_line(
    served: tuple[Stub, str], stub: Stub, page: Page
) -> None:
    open_live(page, served[1])
    push_price_walk(stub, 99900.0, 100400.0, 20)
    # A flat SVG path has no height: playwright calls it hidden, so wait for it to be attached.
    page.wait_for_selector(f'.position[data-id="{BTC}"] [data-line="trailing"]', state="attached")
    before = trailing_line(page)
    assert before[0] == "99396.0"
    # The server ratchets the trailing stop up with the price (1% below the high); the page must
    # follow from the price events alone, well before its 5 s safety poll.
    for mark, trail in (("101000.0", "99990.0"), ("101800.0", "100782.0")):
        stub.positions[0] = btc_position(mark=mark, trail=trail)
        stub.push("price", {"product": "usdm", "symbol": "BTCUSDT", "mark": mark, "last": mark})
        page.wait_for_selector(
            f'.position[data-id="{BTC}"] [data-line="trailing"][data-level="{trail}"]',
            state="attached",
            timeout=3000,
        )
    after = trailing_line(page)
    assert after[1] < before[1], "a higher stop is drawn higher (smaller y)"
    label = page.locator(f'.position[data-id="{BTC}"] [data-label="trailing"]').text_content()
    assert label == "trail 100782.0"
    row = page.locator(f'.position[data-id="{BTC}"] .exit[data-role="trailing"]').inner_text()
    assert "100782.0" in row
    page.locator(f'.position[data-id="{BTC}"]').screenshot(path=screenshot_path("card-trailing"))


def test_stop_fill_then_position_gone_shows_closed(
    served: tuple[Stub, str], stub: Stub, page: Page
) -> None:
    page.clock.install()  # real time flows; the test jumps it to when the card moves on
    open_live(page, served[1])
    slot = f"{BTC_REF}/stop_loss"
    stub.push(
        "exit_status",
        {
            "product": "usdm",
            "client_id": "exg-sl-1",
            "slot": slot,
            "status": "TRIGGERED",
            "venue_status": "TRIGGERED",
        },
    )
    stub.push(
        "exit_fill",
        {
            "product": "usdm",
            "client_id": "exg-sl-1",
            "slot": slot,
            "qty": "0.010",
            "price": "97990.1",
        },
    )
    stub.push(
        "exit_status",
        {
            "product": "usdm",
            "client_id": "exg-sl-1",
            "slot": slot,
            "status": "FILLED",
            "venue_status": "FILLED",
        },
    )
    stub.positions = [p for p in stub.positions if p["id"] != BTC]
    stub.health = health()
    stub.health["positions"] = [r for r in stub.health["positions"] if r["position"] != BTC_REF]
    stub.push("positions", {"product": "usdm", "positions": {"ETHUSDT/BOTH": "-0.500"}})
    card = page.locator(f'.position[data-id="{BTC}"]')
    page.wait_for_selector(f'.position[data-id="{BTC}"] .state[data-state="closed"]')
    assert card.locator(".state").inner_text() == "CLOSED"
    assert "stop_loss filled 0.010 @ 97990.1" in card.locator(".closed-note").inner_text()
    assert card.locator('.exit[data-role="stop_loss"] .xstate').inner_text() == "FILLED"
    lines = [li.lower() for li in page.locator("#events li").all_inner_texts()]
    assert any("btcusdt stop_loss filled 0.010 @ 97990.1" in li for li in lines), lines
    assert page.locator('.position[data-id="usdm/ETHUSDT/BOTH"] .state').inner_text() == "PROTECTED"
    page.screenshot(path=screenshot_path("page-closed-1400"), full_page=True)
    # Half a minute later the card is gone, and the position is listed as recently closed.
    page.clock.fast_forward(31_000)
    card.wait_for(state="detached")
    assert "BTCUSDT LONG 0.010 @ 100000.0" in page.locator("#closed").inner_text()


def test_wrong_token_is_refused_then_the_form_connects(
    served: tuple[Stub, str], stub: Stub, page: Page
) -> None:
    page.goto(f"{served[1]}/#token=not-the-token")
    msg = page.locator("#login-msg")
    msg.wait_for(state="visible")
    expect(page.locator("#login-msg")).to_contain_text("token")
    assert "token refused" in msg.inner_text()
    assert page.locator("#token-form").is_visible()
    assert page.evaluate("localStorage.getItem('exitguard.token')") is None
    page.screenshot(path=screenshot_path("page-token-refused"), full_page=True)
    page.fill("#token-input", TOKEN)
    page.click("#token-form button")
    page.wait_for_selector('#conn[data-conn="live"]')
    page.wait_for_selector(f'.position[data-id="{BTC}"]')
    assert page.locator("#login").is_hidden()


def test_stream_drop_shows_reconnecting_then_catches_up(
    served: tuple[Stub, str], stub: Stub, page: Page
) -> None:
    stub.health["mode"] = "LIVE"
    open_live(page, served[1])
    mode = page.locator("#mode")
    assert mode.inner_text() == "LIVE"
    # LIVE stands apart from the other modes: white on the alarm colour.
    assert mode.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 61, 127)"

    async def drop() -> None:
        for ws in list(stub.sockets):
            await ws.close(code=1012)

    assert stub.loop is not None
    asyncio.run_coroutine_threadsafe(drop(), stub.loop).result(timeout=WAIT_S)
    page.wait_for_selector('#conn[data-conn="reconnecting"]')
    # Missed while the stream was down: the page re-reads /events when it is back.
    stub.push(
        "cancelled",
        {
            "product": "usdm",
            "client_id": "exg-tp-1",
            "slot": f"{BTC_REF}/take_profit",
            "reason": "replaced",
        },
        send=False,
    )
    page.wait_for_selector('#conn[data-conn="live"]')
    expect(
        page.locator("#events li").filter(has_text="BTCUSDT take_profit cancelled: replaced")
    ).not_to_have_count(0)


def test_sparse_answers_and_unknown_kinds_render_without_errors(
    served: tuple[Stub, str], stub: Stub, page: Page
) -> None:
    """Missing and null fields (a spot OCO, an id-only position, a bare health) break nothing."""
    stub.positions = [
        {
            "id": "spot/SOLUSDT/BOTH",
            "product": "spot",
            "symbol": "SOLUSDT",
            "side": "LONG",
            "size": "3.00",
            "entry_price": "150.00",
            "mark_price": None,
            "last_price": "151.20",
            "exits": [{"role": "oco", "trigger_price": "140.00", "price": "165.00"}, None],
        },
        {"id": "usdm/XRPUSDT/LONG", "exits": None, "protection": None},
    ]
    stub.health = {"status": "degraded", "reasons": ["usdm: user data stream down for 12 s"]}
    page.goto(f"{served[1]}/#token={TOKEN}")
    page.wait_for_selector('#conn[data-conn="live"]')
    page.wait_for_selector('.position[data-id="spot/SOLUSDT/BOTH"] .exit[data-role="oco"]')
    page.wait_for_selector('.position[data-id="usdm/XRPUSDT/LONG"]')
    stub.push("transport", {"state": "reconnecting"})  # unknown to the page: ignored
    stub.push("scope_degraded", {})
    stub.positions[0]["last_price"] = "151.90"
    stub.push("price", {"product": "spot", "symbol": "SOLUSDT", "mark": None, "last": "151.90"})
    expect(page.locator("#events li .msg").first).to_have_text("— DEGRADED: —")
    assert "user data stream down" in page.locator("#banner").inner_text()
    assert page.locator("#status").inner_text() == "DEGRADED"
    assert page.locator('#events li[data-kind="transport"]').count() == 0
    sol = page.locator('.position[data-id="spot/SOLUSDT/BOTH"]')
    assert sol.locator('[data-line="oco stop"]').get_attribute("data-level") == "140.00"
    expect(page.locator('.position[data-id="spot/SOLUSDT/BOTH"] .stats')).to_contain_text("151.90")
    page.set_viewport_size({"width": 375, "height": 812})
    page.wait_for_timeout(300)
    assert no_horizontal_overflow(page) <= 1
    page.screenshot(path=screenshot_path("page-sparse-375"), full_page=True)


SLOT = "default/usdm/BTCUSDT/LONG/stop_loss"
SPOT_ETH = "default/spot/ETHUSDT/BOTH"
LINES = {
    "placed": (
        {"slot": SLOT, "trigger_price": "98000.0"},
        "BTCUSDT LONG stop_loss placed at 98000.0",
    ),
    "exit_status": ({"slot": SLOT, "status": "OPEN"}, "BTCUSDT LONG stop_loss OPEN"),
    "exit_fill": (
        {"slot": SLOT, "qty": "0.010", "price": "97990.1"},
        "BTCUSDT LONG stop_loss FILLED 0.010 @ 97990.1",
    ),
    "cancelled": (
        {"slot": SLOT, "reason": "replaced"},
        "BTCUSDT LONG stop_loss cancelled: replaced",
    ),
    "rejected": (
        {"slot": SLOT, "code": -2021, "error": "would trigger"},
        "BTCUSDT LONG stop_loss REJECTED (-2021): would trigger",
    ),
    "exit_rejected": (
        {"slot": SLOT, "reason": "filters"},
        "BTCUSDT LONG stop_loss REJECTED: filters",
    ),
    "fallback": (
        {"slot": SLOT, "action": "close_now", "code": -2021},
        "BTCUSDT LONG stop_loss fallback close_now (-2021)",
    ),
    "hold": ({"slot": SLOT, "reason": "flip"}, "BTCUSDT LONG stop_loss held: flip"),
    "positions": ({"product": "usdm", "positions": {}}, "usdm positions: none open"),
    "position_bare": (
        {"position": SPOT_ETH, "state": "bare", "reason": "r"},
        "spot ETHUSDT BARE: r",
    ),
    "position_still_bare": (
        {"position": SPOT_ETH, "state": "bare", "bare_s": 3.21, "reason": "r"},
        "spot ETHUSDT BARE 3.2 s: r",
    ),
    "position_protected": (
        {"position": SPOT_ETH, "bare_s": 1},
        "spot ETHUSDT protected again after 1.0 s",
    ),
    "position_gone": (
        {"position": SPOT_ETH, "was": "bare"},
        "spot ETHUSDT position gone (was bare)",
    ),
    "scope_degraded": ({"scope": "default/usdm", "reason": "r"}, "default/usdm DEGRADED: r"),
    "scope_ok": ({"scope": "default/usdm", "degraded_s": 2}, "default/usdm ok again after 2.0 s"),
    "recovered": ({"reason": "restart", "replayed": 3}, "recovered: restart (3 replayed)"),
    "manager_started": (
        {"mode": "LIVE", "products": ["usdm"], "venue": "binance"},
        "manager started: LIVE, usdm, venue binance",
    ),
    "manager_stopped": ({"reason": "signal"}, "manager stopped: signal"),
    "paused": ({"product": "usdm"}, "usdm paused"),
    "resumed": ({"product": "usdm"}, "usdm resumed"),
    "override_set": (
        {"position": SPOT_ETH, "kind": "protection"},
        "spot ETHUSDT bot plan set (protection)",
    ),
    "close_requested": ({"position": SPOT_ETH}, "spot ETHUSDT close requested"),
}


def test_every_contract_kind_has_a_readable_line(served: tuple[Stub, str], page: Page) -> None:
    """lines.js in the browser: each kind's line, and no throw when its data is empty."""
    page.goto(f"{served[1]}/static/index.html")
    got = page.evaluate(
        """async (kinds) => {
             const { describe } = await import("./lines.js");
             const out = {};
             for (const [kind, data] of Object.entries(kinds)) {
               describe({ kind, data: {} });
               describe({ kind });
               out[kind] = describe({ kind, data })[0];
             }
             return out;
           }""",
        {kind: data for kind, (data, _) in LINES.items()},
    )
    assert got == {kind: line for kind, (_, line) in LINES.items()}


def test_page_files_are_self_contained() -> None:
    """No CDN, no third-party code: everything the page loads is its own static files."""
    html = (PAGE_DIR / "index.html").read_text()
    for needle in ("http://", "https://", "//cdn", "integrity="):
        assert needle not in html.replace('xmlns="http://www.w3.org', "")
    scripts = sorted(PAGE_DIR.glob("*.js"))
    assert {p.name for p in scripts} >= {"app.js", "chart.js", "dom.js", "lines.js"}
    for script in scripts:
        js = script.read_text()
        for needle in (".innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert needle not in js, f"{script.name} builds markup from text: {needle}"
        for line in js.splitlines():
            if line.startswith("import "):
                assert '"./' in line, f"{script.name} imports from outside the page: {line}"
