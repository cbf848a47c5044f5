"""``exitguard run`` as a user runs it, with ``[notifications]`` pointing at a local HTTP stub that
records what it receives, and Prometheus scraping ``/metrics``: the alerts and the metrics come
from the running manager, for a position it protects and one it cannot protect."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exitguard.domain.enums import Side
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue
from service_support import account, start_run, stop_run, until

pytestmark = pytest.mark.usefixtures("async_watchdog")
D = Decimal
SECRET_HEADER = "hook-secret-0123456789"


class Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    headers_seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        type(self).received.append(json.loads(body))
        type(self).headers_seen.append(self.headers.get("X-Token", ""))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    Recorder.received = []
    Recorder.headers_seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None) as v:
        v.set_price("BTCUSDT", last=D(50000), mark=D(50000))
        v.set_price("ETHUSDT", last=D(2000), mark=D(2000))
        yield v


def events_of() -> list[str]:
    return [body.get("event", "") for body in Recorder.received]


async def test_alerts_and_metrics_from_a_running_guard(
    venue: Venue, hook: str, tmp_path: Path
) -> None:
    proc, ready = await start_run(
        venue,
        tmp_path,
        extra=f"""
[notifications]
bare_alert_s = 1
min_interval_s = 0
[[notifications.webhook]]
url = "{hook}"
headers = {{ "X-Token" = "{SECRET_HEADER}" }}
[policy.usdm.default]
stop_loss = {{ distance = {{ percent = 2 }} }}
""",
    )
    try:
        api = ready["api"]
        token = Path(api["token_file"]).read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        await until(lambda: "manager_started" in events_of(), 15)

        venue.exchange.open_position(account(venue), "BTCUSDT", Side.BUY, D("0.05"))
        await until(lambda: "exit_placed" in events_of(), 15)
        # Every placement of ETHUSDT is refused for a while: the position stays bare past
        # bare_alert_s, and the alert says so.
        venue.context.faults.status_429 = 1_000
        venue.exchange.open_position(account(venue), "ETHUSDT", Side.BUY, D("1"))
        await until(lambda: "position_bare" in events_of(), 20)
        bare = next(b for b in Recorder.received if b.get("event") == "position_bare")
        assert "ETHUSDT" in json.dumps(bare)
        venue.context.faults.status_429 = 0
        # BTCUSDT falls through its stop: the algo stop triggers, its child fills, and the
        # alert says the exit filled (the algo order itself ends FINISHED).
        venue.set_price("BTCUSDT", last=D(48900), mark=D(48900))
        await until(lambda: "exit_filled" in events_of(), 20)
        filled = next(b for b in Recorder.received if b.get("event") == "exit_filled")
        assert "BTCUSDT" in json.dumps(filled) and "stop_loss" in json.dumps(filled)

        async with httpx.AsyncClient(base_url=api["url"], headers=headers, timeout=10) as c:
            for _ in range(100):  # metrics are sampled once a second
                text = (await c.get("/metrics")).text
                # ETHUSDT protected once the 429s stopped (BTCUSDT is closed by its stop)
                done = 'exitguard_positions{product="usdm",state="protected"} 1.0' in text
                if done and 'exitguard_positions{product="usdm",state="bare"} 0.0' in text:
                    break
                await asyncio.sleep(0.2)
            families = {f.name: f for f in text_string_to_metric_families(text)}
            placed = families["exitguard_exits_placed"].samples
            assert sum(s.value for s in placed if s.name.endswith("_total")) >= 2
            filled_n = families["exitguard_exits_filled"].samples
            assert sum(s.value for s in filled_n if s.name.endswith("_total")) == 1
            assert "exitguard_http_request_duration_seconds" in families
            sent = [
                s for s in families["exitguard_alerts"].samples
                if s.name.endswith("_total") and s.labels.get("outcome") == "sent"
            ]  # fmt: skip
            assert sum(s.value for s in sent) >= 3, sent
    finally:
        logs = await stop_run(proc)
    await until(lambda: "manager_stopped" in events_of(), 10)
    # The webhook's header value is a secret: sent to the hook, never logged or alerted.
    assert set(Recorder.headers_seen) == {SECRET_HEADER}
    assert SECRET_HEADER not in logs and SECRET_HEADER not in json.dumps(Recorder.received)
    assert token not in logs and venue.api_secret not in logs
