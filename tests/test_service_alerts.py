"""Alerts: hub events → webhook/apprise deliveries against a local HTTP stub (no internet).

The stub is an ``http.server`` on 127.0.0.1 port 0 that records every request; it can answer
500 or hold a request until released (a hanging webhook). Time is an injected clock; waits are
bounded polls, never assertions on wall-clock speed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from exitguard.config.errors import IssueList
from exitguard.config.notifications import (
    NotificationSettings,
    WebhookSettings,
    load_notifications,
)
from exitguard.logs import sanitise
from exitguard.service.alerts import Notifier

T0 = 1_764_760_000_000
SLOT = "default/usdm/BTCUSDT/BOTH/stop_loss"
POSITION = "default/usdm/BTCUSDT/BOTH"
TOKEN = "hooktoken" + "Q7" * 12  # a webhook path token: must never be logged or echoed


# --- the stub -------------------------------------------------------------------------------


@dataclass
class Stub:
    port: int = 0
    status: int = 200
    hang: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    entered: int = 0  # handlers started (a hanging one counts before it answers)
    release: threading.Event = field(default_factory=threading.Event)
    cond: threading.Condition = field(default_factory=threading.Condition)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, count: int, timeout_s: float = 10.0, *, entered: bool = False) -> None:
        end = time.monotonic() + timeout_s
        with self.cond:
            while (self.entered if entered else len(self.requests)) < count:
                left = end - time.monotonic()
                assert left > 0, f"stub saw {len(self.requests)} requests, wanted {count}"
                self.cond.wait(left)

    def bodies(self) -> list[Any]:
        return [json.loads(r["body"]) for r in self.requests]


def _handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with stub.cond:
                stub.entered += 1
                stub.cond.notify_all()
            if stub.hang:
                stub.release.wait(10)  # bounded: the fixture releases it at the latest
            with stub.cond:
                stub.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body.decode(),
                    }
                )
                stub.cond.notify_all()
            try:
                self.send_response(stub.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the client timed out and left
                pass

        do_POST = do_PUT = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def stub() -> Iterator[Stub]:
    state = Stub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- helpers --------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


def settings(text: str) -> NotificationSettings:
    issues = IssueList()
    loaded = load_notifications(tomllib.loads(text)["notifications"], issues)
    assert not issues, [str(i) for i in issues]
    assert loaded is not None
    return loaded


def hook_toml(stub: Stub, extra: str = "", top: str = "") -> str:
    return f"""
[notifications]
{top}
[[notifications.webhook]]
url = "{stub.base}/hook/{TOKEN}"
headers = {{ "X-Token" = "header-secret-{TOKEN}" }}
{extra}
"""


_seq = 0


def ev(kind: str, clock: Clock, **data: Any) -> dict[str, Any]:
    global _seq
    _seq += 1
    return {"seq": _seq, "time_ms": clock.now, "kind": kind, "data": {"product": "usdm", **data}}


@pytest.fixture
def clock() -> Clock:
    return Clock()


def notifier(s: NotificationSettings, clock: Clock, **kw: Any) -> Notifier:
    kw.setdefault("backoff_s", (0.0,))
    kw.setdefault("poll_s", 0.05)
    return Notifier(s, now_ms=clock, **kw)


# --- events → bodies --------------------------------------------------------------------------


def test_exit_scope_and_manager_events_become_json_alerts(stub: Stub, clock: Clock) -> None:
    n = notifier(settings(hook_toml(stub)), clock)
    n.start()
    events = [
        ev("manager_started", clock, mode="PAPER", products=["usdm", "spot"], venue="embedded"),
        ev("price", clock, symbol="BTCUSDT", mark="1", last="1"),  # ignored
        ev("plan", clock),  # unknown to alerts: ignored
        ev(
            "placed",
            clock,
            client_id="exg-1",
            slot=SLOT,
            type="STOP_MARKET",
            side="SELL",
            trigger_price="98000.0",
            reason="new position",
        ),
        ev("exit_status", clock, client_id="exg-1", slot=SLOT, status="OPEN", venue_status="NEW"),
        ev("exit_fill", clock, client_id="exg-1", slot=SLOT, qty="0.004", price="97990.0"),
        ev("exit_fill", clock, client_id="exg-1", slot=SLOT, qty="0.006", price="97980.0"),
        ev("exit_status", clock, client_id="exg-1", slot=SLOT, status="FILLED", venue_status="x"),
        ev("rejected", clock, client_id="exg-2", slot=SLOT, code=-2021, error="would trigger"),
        ev("exit_rejected", clock, client_id="exg-3", slot=SLOT[:-9] + "take_profit", reason="r"),
        ev("fallback", clock, slot=SLOT, action="close_now", code=-2021),
        ev("scope_degraded", clock, scope="default/usdm", reason="stream closed"),
        ev("scope_ok", clock, scope="default/usdm", degraded_s=3.2),
        ev("manager_stopped", clock, reason="signal"),
    ]
    for event in events:
        n.on_event(event)
    stub.wait_for(9)
    assert n.stop(5)
    bodies = stub.bodies()
    assert [b["event"] for b in bodies] == [
        "manager_started",
        "exit_placed",
        "exit_filled",
        "exit_refused",
        "exit_refused",
        "fallback",
        "scope_degraded",
        "scope_recovered",
        "manager_stopped",
    ]
    by_event = {b["event"]: b for b in bodies}
    placed = by_event["exit_placed"]
    assert placed["severity"] == "info"
    assert placed["fields"]["symbol"] == "BTCUSDT"
    assert placed["fields"]["role"] == "stop_loss"
    assert placed["fields"]["trigger_price"] == "98000.0"
    assert placed["text"] == (
        "usdm BTCUSDT BOTH: stop_loss STOP_MARKET SELL trigger 98000.0 close position "
        "(new position)"
    )
    assert placed["time_ms"] == T0
    filled = by_event["exit_filled"]
    assert filled["fields"]["qty"] == "0.010"  # both partial fills
    assert filled["fields"]["price"] == "97980.0"
    assert filled["fields"]["type"] == "STOP_MARKET"  # remembered from the placed notice
    assert filled["text"] == "usdm BTCUSDT BOTH: stop_loss filled 0.010 at 97980.0"
    refused = [b for b in bodies if b["event"] == "exit_refused"]
    assert refused[0]["severity"] == "error"
    assert refused[0]["fields"]["code"] == "-2021"
    assert "code -2021: would trigger" in refused[0]["text"]
    assert refused[1]["fields"]["role"] == "take_profit"
    assert by_event["fallback"]["fields"]["action"] == "close_now"
    assert by_event["fallback"]["severity"] == "warning"
    assert by_event["scope_degraded"]["text"] == "default/usdm degraded: stream closed"
    assert by_event["scope_recovered"]["text"] == "default/usdm recovered after 3.2s"
    assert by_event["manager_started"]["fields"]["products"] == "usdm, spot"
    request = stub.requests[0]
    assert request["method"] == "POST"
    assert request["path"] == f"/hook/{TOKEN}"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["X-Token"] == f"header-secret-{TOKEN}"
    assert n.stats["sent"] == 9 and n.stats["channels"]["webhook[0]"]["sent"] == 9


def test_templates_render_per_event_and_form_format(stub: Stub, clock: Clock) -> None:
    extra = """
method = "PUT"
format = "form"
[notifications.webhook.templates]
exit_filled = { text = "{symbol} {role} filled at {price}", sev = "{severity}/{action}" }
"""
    # {action} is a valid placeholder this alert has no value for: it renders empty.
    n = notifier(settings(hook_toml(stub, extra)), clock)
    n.start()
    n.on_event(ev("exit_fill", clock, client_id="exg-9", slot=SLOT, qty="1", price="98000.0"))
    n.on_event(ev("exit_status", clock, client_id="exg-9", slot=SLOT, status="FILLED"))
    n.on_event(ev("scope_degraded", clock, scope="default/usdm", reason="x"))  # no template
    stub.wait_for(2)
    assert n.stop(5)
    first, second = stub.requests
    assert first["method"] == "PUT"
    assert first["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(first["body"]) == {
        "text": ["BTCUSDT stop_loss filled at 98000.0"],
        "sev": ["info/"],
    }
    whole = parse_qs(second["body"])  # the whole alert, its fields flattened
    assert whole["event"] == ["scope_degraded"]
    assert whole["scope"] == ["default/usdm"]
    assert whole["reason"] == ["x"]


def test_event_filter_and_malformed_events(stub: Stub, clock: Clock) -> None:
    n = notifier(settings(hook_toml(stub, top='events = ["exit_filled"]')), clock)
    n.start()
    for bad in (
        {},
        {"kind": "placed"},
        {"kind": "placed", "data": "nope"},
        {"kind": "exit_status", "data": {"status": "FILLED", "slot": 5, "client_id": []}},
        {"kind": "position_still_bare", "data": {"position": POSITION, "bare_s": "x"}},
        None,
    ):
        n.on_event(bad)  # type: ignore[arg-type]
    n.on_event(ev("placed", clock, client_id="exg-1", slot=SLOT, type="STOP_MARKET"))
    n.on_event(ev("exit_status", clock, client_id="exg-1", slot=SLOT, status="FILLED"))
    stub.wait_for(2)
    assert n.stop(5)
    assert [b["event"] for b in stub.bodies()] == ["exit_filled", "exit_filled"]


# --- the bare timer ---------------------------------------------------------------------------


def test_position_bare_alerts_only_after_bare_alert_s(stub: Stub, clock: Clock) -> None:
    n = notifier(settings(hook_toml(stub, top="bare_alert_s = 10")), clock)
    n.start()
    other = "default/usdm/ETHUSDT/BOTH"

    # A transient bare spell (a stop being replaced) ends before the timer: nothing is sent.
    n.on_event(ev("position_bare", clock, position=POSITION, state="bare", reason="replacing"))
    clock.advance(5)
    n.tick()
    n.on_event(ev("position_protected", clock, position=POSITION, bare_s=5.0))
    n.on_event(ev("position_bare", clock, position=other, state="bare", reason="429"))
    clock.advance(3)
    n.on_event(ev("position_gone", clock, position=other, was="bare"))
    clock.advance(30)
    n.tick()
    assert n.wait_idle(5)
    assert stub.requests == []

    # A real one: silent at 9.9 s, alerted at 10 s while still bare, with how long.
    n.on_event(ev("position_bare", clock, position=POSITION, state="bare", reason="no stop_loss"))
    clock.advance(4)
    n.on_event(ev("position_bare", clock, position=POSITION, state="degraded", reason="partial"))
    clock.advance(5.9)
    n.tick()
    assert n.wait_idle(5)
    assert stub.requests == []
    clock.advance(0.1)
    n.tick()
    stub.wait_for(1)
    body = stub.bodies()[0]
    assert body["event"] == "position_bare"
    assert body["fields"]["bare_s"] == 10.0  # since the first notice, not the degraded one
    assert body["fields"]["state"] == "degraded"
    assert body["severity"] == "warning"
    assert "for 10.0s: partial" in body["text"]

    # Reminders re-alert, subject to dedupe (60 s): the one at +30 s is counted, not sent.
    clock.advance(20)
    n.tick()  # already alerted: the timer does not fire twice
    n.on_event(ev("position_still_bare", clock, position=POSITION, state="bare", bare_s=30.0))
    clock.advance(40)
    n.on_event(ev("position_still_bare", clock, position=POSITION, state="bare", bare_s=70.0))
    stub.wait_for(2)
    assert n.stop(5)
    assert len(stub.requests) == 2
    reminder = stub.bodies()[1]
    assert reminder["fields"]["bare_s"] == 70.0
    assert reminder["severity"] == "error"
    assert reminder["fields"]["suppressed"] == 1
    assert "1 similar suppressed in the last 60s" in reminder["text"]


def test_still_bare_before_we_listened_and_below_threshold(stub: Stub, clock: Clock) -> None:
    n = notifier(settings(hook_toml(stub, top="bare_alert_s = 20")), clock)
    n.start()
    # The board's own threshold (10 s) is below ours: the timer decides, from the reminder's age.
    n.on_event(ev("position_still_bare", clock, position=POSITION, state="bare", bare_s=12.0))
    assert n.wait_idle(5)
    assert stub.requests == []
    clock.advance(8)
    n.on_event(ev("price", clock, symbol="BTCUSDT"))  # any event runs the timers
    stub.wait_for(1)
    assert n.stop(5)
    assert stub.bodies()[0]["fields"]["bare_s"] == 20.0


# --- dedupe, rate limit, queue ---------------------------------------------------------------


def test_dedupe_same_event_and_key_once_per_interval(stub: Stub, clock: Clock) -> None:
    n = notifier(settings(hook_toml(stub, top="min_interval_s = 60")), clock)
    n.start()
    for _ in range(5):
        n.on_event(ev("fallback", clock, slot=SLOT, action="close_now", code=-2021))
    n.on_event(ev("fallback", clock, slot=SLOT[:-9] + "take_profit", action="alert"))  # other key
    stub.wait_for(2)
    assert n.wait_idle(5)
    assert len(stub.requests) == 2
    clock.advance(59.9)
    n.on_event(ev("fallback", clock, slot=SLOT, action="close_now", code=-2021))
    clock.advance(0.1)
    n.on_event(ev("fallback", clock, slot=SLOT, action="close_now", code=-2021))
    stub.wait_for(3)
    assert n.stop(5)
    assert len(stub.requests) == 3
    third = stub.bodies()[2]
    assert third["fields"]["suppressed"] == 5
    assert "5 similar suppressed" in third["text"]
    assert n.stats["suppressed"] == 5


def test_storm_is_rate_limited_into_a_summary(stub: Stub, clock: Clock) -> None:
    n = notifier(settings(hook_toml(stub, top="max_per_minute = 5")), clock, queue_size=64)
    n.start()
    for i in range(1000):
        n.on_event(ev("placed", clock, client_id=f"exg-{i}", slot=f"default/usdm/S{i}/BOTH/oco"))
    stub.wait_for(5)
    assert n.wait_idle(10)
    assert len(stub.requests) == 5  # the window is full; the clock has not moved
    clock.advance(60)
    stub.wait_for(6)  # the window has room again: the summary (nothing else is queued)
    assert n.wait_idle(10)
    assert n.stop(5)
    bodies = stub.bodies()
    assert len(bodies) == 6
    summaries = [b for b in bodies if b["event"] == "summary"]
    assert summaries and bodies[-1]["event"] == "summary"
    last = bodies[-1]
    assert last["text"].startswith(f"{last['fields']['suppressed']} more alerts suppressed: ")
    # None silently lost: every event was either sent or counted in a summary.
    individual = len(bodies) - len(summaries)
    assert individual + sum(b["fields"]["suppressed"] for b in summaries) == 1000
    stats = n.stats
    assert stats["rate_limited"] + stats["dropped"] == 1000 - individual
    assert stats["summaries"] == len(summaries)


def test_rate_limited_summary_is_flushed_at_stop(stub: Stub, clock: Clock) -> None:
    s = settings(hook_toml(stub, top="max_per_minute = 2"))
    n = notifier(s, clock)
    n.start()
    for i in range(4):
        n.on_event(ev("scope_degraded", clock, scope=f"default/s{i}", reason="down"))
    n.on_event(ev("placed", clock, client_id="exg-1", slot=SLOT))  # dedupe leftover below
    n.on_event(ev("placed", clock, client_id="exg-2", slot=SLOT))
    assert n.stop(5)
    assert len(stub.requests) == 3
    summary = stub.bodies()[2]
    assert summary["event"] == "summary"
    assert summary["severity"] == "error"
    assert summary["fields"]["suppressed"] == 4
    assert "2 scope_degraded" in summary["text"]
    # One rate limited, one a repeat (dedupe) never followed by another alert for its key.
    assert "2 exit_placed" in summary["text"]
    assert "s2 degraded" in summary["text"]  # held error titles are quoted


def test_full_queue_drops_oldest_info_first_and_says_so(stub: Stub, clock: Clock) -> None:
    n = notifier(settings(hook_toml(stub)), clock, queue_size=3)  # not started: it fills up
    n.on_event(ev("placed", clock, client_id="a", slot="default/usdm/A/BOTH/oco"))
    n.on_event(ev("scope_degraded", clock, scope="default/usdm", reason="down"))
    n.on_event(ev("placed", clock, client_id="b", slot="default/usdm/B/BOTH/oco"))
    n.on_event(ev("rejected", clock, client_id="c", slot=SLOT, error="no"))
    n.on_event(ev("rejected", clock, client_id="d", slot=SLOT[:-9] + "trailing", error="no"))
    assert n.stats["dropped"] == 2
    n.start()
    assert n.stop(5)
    bodies = stub.bodies()
    assert [b["event"] for b in bodies] == [
        "scope_degraded",
        "exit_refused",
        "exit_refused",
        "summary",
    ]
    assert "2 dropped (queue full): 2 exit_placed" in bodies[-1]["text"]
    assert bodies[-1]["severity"] == "warning"


# --- failures ----------------------------------------------------------------------------------


def test_http_500_is_retried_then_logged_without_secrets(
    stub: Stub, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="exitguard.alerts")
    stub.status = 500
    n = notifier(settings(hook_toml(stub)), clock, retries=2)
    n.start()
    n.on_event(ev("scope_degraded", clock, scope="default/usdm", reason="down"))
    stub.wait_for(3)
    assert n.stop(5)
    assert len(stub.requests) == 3  # one attempt + two retries, then it gives up
    channel = n.stats["channels"]["webhook[0]"]
    assert channel == {"sent": 0, "failed": 1, "retries": 2}
    warnings = [r for r in caplog.records if r.name == "exitguard.alerts"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "channel=webhook[0] event=scope_degraded attempts=3 error=HTTP 500" in caplog.text
    assert TOKEN not in caplog.text


def test_a_dead_channel_is_not_retried_until_it_works(stub: Stub, clock: Clock) -> None:
    stub.status = 500
    n = notifier(settings(hook_toml(stub)), clock, retries=1)
    n.start()
    for i in range(5):
        n.on_event(ev("scope_degraded", clock, scope=f"default/s{i}", reason="down"))
    assert n.wait_idle(10)
    # Three alerts with their retry (2 requests each), then one attempt each.
    assert len(stub.requests) == 3 * 2 + 2
    stub.status = 200
    n.on_event(ev("scope_degraded", clock, scope="default/s5", reason="down"))
    assert n.wait_idle(10)
    stub.status = 500
    n.on_event(ev("scope_degraded", clock, scope="default/s6", reason="down"))
    assert n.stop(5)
    assert len(stub.requests) == 8 + 1 + 2  # it worked once: retried again
    assert n.stats["channels"]["webhook[0]"] == {"sent": 1, "failed": 6, "retries": 4}


def test_hanging_webhook_never_blocks_on_event(stub: Stub, clock: Clock) -> None:
    stub.hang = True  # the stub holds every request until released
    n = notifier(settings(hook_toml(stub, "timeout_s = 10")), clock, retries=0)
    n.start()
    returned: list[int] = []

    def produce() -> None:  # the event loop's side, in its own thread so a block cannot hang us
        for i in range(51):
            n.on_event(ev("scope_degraded", clock, scope=f"default/x{i}", reason="down"))
            returned.append(i)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        stub.wait_for(1, entered=True)  # the worker is stuck in the first request
        producer.join(5)  # returns at once unless on_event waits for a delivery
        # Every call came back while the first delivery is still held by the stub.
        assert len(returned) == 51
        assert stub.entered == 1 and stub.requests == []
        assert n.stats["queue_depth"] == 50  # queued, waiting for the worker
    finally:
        stub.release.set()
    producer.join(5)
    assert n.stop(10)
    assert len(stub.requests) == 21  # 20 a minute (the clock stands still), then the summary
    assert stub.bodies()[-1]["fields"]["suppressed"] == 31


def test_timeout_is_logged_and_the_worker_goes_on(
    stub: Stub, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="exitguard.alerts")
    stub.hang = True
    n = notifier(settings(hook_toml(stub, "timeout_s = 0.2")), clock, retries=1)
    n.start()
    n.on_event(ev("scope_degraded", clock, scope="default/usdm", reason="down"))
    stub.wait_for(2, entered=True)  # the first attempt timed out, the retry is in
    assert n.wait_idle(10)
    assert n.stats["channels"]["webhook[0]"] == {"sent": 0, "failed": 1, "retries": 1}
    assert "attempts=2 error=" in caplog.text
    assert "timed out" in caplog.text
    assert TOKEN not in caplog.text
    stub.hang = False
    stub.release.set()
    n.on_event(ev("scope_ok", clock, scope="default/usdm", degraded_s=1.0))
    assert n.stop(5)
    assert n.stats["channels"]["webhook[0]"]["sent"] == 1


def test_stop_flushes_what_is_queued(stub: Stub, clock: Clock) -> None:
    n = notifier(settings(hook_toml(stub)), clock)
    for i in range(3):
        n.on_event(ev("scope_degraded", clock, scope=f"default/s{i}", reason="down"))
    n.start()
    n.on_event(ev("manager_stopped", clock, reason="signal"))
    assert n.stop(5)  # no wait before it: stop itself delivers the queue
    assert len(stub.requests) == 4
    n.on_event(ev("manager_started", clock, mode="PAPER"))  # after stop: counted, not sent
    assert n.stats["dropped"] == 1


def test_stop_without_start_counts_what_it_loses(clock: Clock) -> None:
    s = NotificationSettings(webhooks=(WebhookSettings("webhook[0]", "http://127.0.0.1:9/"),))
    n = Notifier(s, now_ms=clock)
    n.on_event(ev("scope_degraded", clock, scope="default/usdm", reason="down"))
    assert not n.stop(1)
    assert n.stats["dropped"] == 1 and n.stats["queue_depth"] == 0


# --- apprise, for real, offline ---------------------------------------------------------------


def test_apprise_json_url_posts_to_the_stub(
    stub: Stub, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="exitguard.alerts")
    s = settings(
        f"""
[notifications]
apprise = ["json://127.0.0.1:{stub.port}/apprise/{TOKEN}", "nosuchservice://{TOKEN}"]
"""
    )
    n = notifier(s, clock)
    n.start()
    n.on_event(ev("placed", clock, client_id="exg-1", slot=SLOT, type="STOP_MARKET"))
    n.on_event(ev("rejected", clock, client_id="exg-2", slot=SLOT, code=-2021, error="no"))
    stub.wait_for(2)
    assert n.stop(10)
    first, second = stub.bodies()
    assert stub.requests[0]["path"] == f"/apprise/{TOKEN}"
    assert first["title"] == "exitguard: BTCUSDT stop_loss placed"
    assert first["message"].startswith("usdm BTCUSDT BOTH: stop_loss STOP_MARKET")
    assert first["type"] == "info"
    assert second["type"] == "failure"
    assert n.stats["channels"]["apprise"]["sent"] == 2
    assert "notifications.apprise[1]: apprise did not accept this URL" in caplog.text
    assert TOKEN not in caplog.text


def test_apprise_failure_is_retried_and_logged(
    stub: Stub, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="exitguard.alerts")
    stub.status = 500
    s = settings(f'[notifications]\napprise = ["json://127.0.0.1:{stub.port}/a/{TOKEN}"]')
    n = notifier(s, clock, retries=1)
    n.start()
    n.on_event(ev("scope_degraded", clock, scope="default/usdm", reason="down"))
    stub.wait_for(2)
    assert n.stop(10)
    assert n.stats["channels"]["apprise"] == {"sent": 0, "failed": 1, "retries": 1}
    assert "channel=apprise event=scope_degraded attempts=2" in caplog.text
    assert TOKEN not in caplog.text


# --- config -------------------------------------------------------------------------------------


def config_errors(text: str) -> dict[str, str]:
    issues = IssueList()
    assert load_notifications(tomllib.loads(text)["notifications"], issues) is None
    found = {i.path: i.message for i in issues}
    assert len(found) == len(issues), "one line per problem"
    return found


SECRET_URL_TOKEN = "Zt0ken" + "x9" * 20


def test_config_errors_name_the_path_and_never_echo_secrets() -> None:
    found = config_errors(
        f"""
[notifications]
apprise = ["tgram://{SECRET_URL_TOKEN}/chat", "no scheme {SECRET_URL_TOKEN}"]
bare_alert_s = -1
min_interval_s = "soon"
max_per_minute = 0
events = ["exit_filled", "exit_filed"]
colour = "red"
[[notifications.webhook]]
url = "ftp://example.org/{SECRET_URL_TOKEN}"
method = "GET"
timeout_s = 0
headers = {{ "X-Token" = "line\\nbreak{SECRET_URL_TOKEN}", "bad header" = "v" }}
[notifications.webhook.templates]
exit_fild = {{ text = "x" }}
exit_filled = {{ text = "{{symbol}} at {{prize}}" }}
summary = {{ text = "{{fields.symbol}}" }}
[[notifications.webhook]]
url = "https://example.org/hook"
headers = "Bearer {SECRET_URL_TOKEN}"
"""
    )
    assert found == {
        "notifications.apprise[1]": "must be an apprise URL (scheme://...), e.g. "
        "tgram://bottoken/chatid or ntfy://topic",
        "notifications.bare_alert_s": "must be 0 or more, got -1",
        "notifications.min_interval_s": "must be a number (or a numeric string), got 'soon'",
        "notifications.max_per_minute": "must be between 1 and 600 alerts a minute, got 0",
        "notifications.events[1]": "unknown event; allowed: exit_placed, exit_filled, "
        "exit_refused, fallback, position_bare, scope_degraded, scope_recovered, "
        "manager_started, manager_stopped, got 'exit_filed'",
        "notifications.colour": "unknown key; allowed keys: enabled, apprise, webhook, "
        "bare_alert_s, min_interval_s, max_per_minute, events",
        "notifications.webhook[0].url": "must be an http(s) URL",
        "notifications.webhook[0].method": "must be 'POST' or 'PUT', got 'GET'",
        "notifications.webhook[0].timeout_s": "must be greater than 0, got 0",
        "notifications.webhook[0].headers.X-Token": "must be a string without line breaks",
        "notifications.webhook[0].headers.bad header": "must be an HTTP header name (RFC 9110 "
        "token)",
        "notifications.webhook[0].templates.exit_fild": found[
            "notifications.webhook[0].templates.exit_fild"
        ],
        "notifications.webhook[0].templates.exit_filled.text": found[
            "notifications.webhook[0].templates.exit_filled.text"
        ],
        "notifications.webhook[0].templates.summary.text": "placeholder {fields.symbol} must be "
        "a plain name such as {symbol} (write {{ and }} for literal braces)",
        "notifications.webhook[1].headers": 'must be a table of "Header-Name" = "value"',
    }
    assert found["notifications.webhook[0].templates.exit_fild"].startswith("unknown event;")
    assert found["notifications.webhook[0].templates.exit_filled.text"].startswith(
        "unknown placeholder {prize}; allowed: event, severity,"
    )
    assert not any(SECRET_URL_TOKEN in f"{path}: {message}" for path, message in found.items())
    # Registered while loading: any log line carrying it is redacted from now on.
    assert SECRET_URL_TOKEN not in sanitise(f"posting to tgram://{SECRET_URL_TOKEN}/chat")


def test_config_shapes_and_defaults() -> None:
    assert config_errors('[notifications]\napprise = "tgram://abcdefgh12345678/c"') == {
        "notifications.apprise": 'must be a list of apprise URLs, e.g. ["tgram://bottoken/'
        'chatid", "ntfy://topic"]'
    }
    assert config_errors('[notifications.webhook]\nurl = "https://example.org/h"') == {
        "notifications.webhook": "must be an array of tables: write [[notifications.webhook]] "
        "(double brackets)"
    }
    assert config_errors("[notifications]\nbare_alert_s = 5") == {
        "notifications": "enabled but no channel: add apprise URLs or a [[notifications.webhook]] "
        "(or set enabled = false)"
    }
    assert config_errors('[notifications]\nevents = []\napprise = ["ntfy://t"]') == {
        "notifications.events": "must name at least one event (set enabled = false to turn "
        "alerts off)"
    }
    assert load_notifications(None, IssueList()) is None
    off = load_notifications({"enabled": False}, IssueList())
    assert off is not None and not off.enabled and off.channels == ()
    s = settings(
        '[notifications]\napprise = ["ntfy://topic"]\nbare_alert_s = 2.5\n'
        '[[notifications.webhook]]\nurl = "http://127.0.0.1:9/x"\ntimeout_s = 1.5'
    )
    assert s.bare_alert_ms == 2500 and s.min_interval_ms == 60_000 and s.max_per_minute == 20
    assert s.channels == ("apprise", "webhook[0]")
    assert s.webhooks[0].timeout_s == 1.5 and s.webhooks[0].method == "POST"
    assert len(s.events) == 9
    assert "127.0.0.1:9" not in repr(s) and "ntfy://topic" not in repr(s)


def test_disabled_notifier_ignores_everything(clock: Clock) -> None:
    n = Notifier(NotificationSettings(enabled=False), now_ms=clock)
    n.start()
    n.on_event(ev("scope_degraded", clock, scope="default/usdm", reason="x"))
    assert n.stop(1)
    assert n.stats["queued"] == 0
