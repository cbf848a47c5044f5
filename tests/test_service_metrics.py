"""ServiceMetrics: values from events and health, bounded series, no secrets in label values."""

from __future__ import annotations

import random
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exitguard.service.metrics import EVENT_KINDS, MAX_ROUTES, ServiceMetrics

T0_MS = 1_764_760_000_000
TEMPLATE = "/api/v1/positions/{product}/{symbol}/protection"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(m: ServiceMetrics) -> Samples:
    body, content_type = m.render()
    assert content_type.startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(all_samples: Samples, name: str, **labels: str) -> float:
    return all_samples[("exitguard_" + name, frozenset(labels.items()))]


def ev(kind: str, **data: Any) -> dict[str, Any]:
    return {"seq": 1, "time_ms": T0_MS, "kind": kind, "data": data}


def health(*positions: tuple[str, str, int], **extra: Any) -> dict[str, Any]:
    rows = [
        {"position": p, "state": s, "since_ms": since, "reason": ""} for p, s, since in positions
    ]
    snap = {"status": "ok", "ready": True, "positions": rows, "time_ms": T0_MS}
    snap["scopes"] = {"usdm": {"state": "ready", "degraded": False, "reason": "", "paused": False}}
    snap["pending_confirmations"] = 0
    return snap | extra


def test_events_feed_their_counters() -> None:
    m = ServiceMetrics(clock=Clock())
    for e in [
        ev("placed", product="usdm", client_id="exg-a", repair=True, reason="supervisor repair"),
        ev("placed", product="usdm", client_id="exg-b", reason="plan"),
        ev("rejected", product="usdm", client_id="exg-c", code=-2021, error="would trigger"),
        ev("exit_rejected", product="spot", client_id="exg-d", reason="expired"),
        ev("fallback", product="usdm", slot="default/usdm/BTCUSDT/BOTH/stop_loss",
           action="close_now", code=-2021),
        ev("recovered", product="usdm", reason="reconnect", replayed=3),
        ev("retry_scheduled", product="spot", slot="x", attempt=1, in_ms=500, reason="429"),
        ev("exit_status", product="usdm", client_id="exg-a", status="FILLED", venue_status="x"),
        ev("exit_status", product="usdm", client_id="exg-b", status="OPEN", venue_status="NEW"),
        ev("plan", product="usdm", reason="tick", actions=[]),
        ev("some_new_kind", product="usdm"),
    ]:  # fmt: skip
        m.on_event(e)
    s = samples(m)
    assert value(s, "exits_placed_total", product="usdm") == 2
    assert value(s, "supervisor_repairs_total", product="usdm") == 1
    assert value(s, "rejections_total", product="usdm", code="-2021") == 1
    assert value(s, "rejections_total", product="spot", code="none") == 1
    assert value(s, "fallbacks_total", product="usdm", action="close_now") == 1
    assert value(s, "recoveries_total", product="usdm") == 1
    assert value(s, "retries_total", product="spot") == 1
    assert value(s, "exits_filled_total", product="usdm") == 1
    assert value(s, "events_total", kind="placed") == 2
    assert value(s, "events_total", kind="plan") == 1
    assert value(s, "events_total", kind="other") == 1
    assert value(s, "metrics_errors_total") == 0


def test_events_per_second_is_a_ten_second_window() -> None:
    clock = Clock()
    m = ServiceMetrics(clock=clock)
    for i in range(30):
        clock.now = 1000.0 + i * 0.1  # 30 events over 3 s
        m.on_event(ev("price", product="usdm", symbol="BTCUSDT"))
    assert value(samples(m), "events_per_second") == 3.0
    clock.now += 11
    assert value(samples(m), "events_per_second") == 0.0


def test_health_snapshot_sets_gauges() -> None:
    m = ServiceMetrics(clock=Clock())
    snap = health(
        ("default/usdm/BTCUSDT/BOTH", "bare", T0_MS - 3200),
        ("default/usdm/ETHUSDT/BOTH", "bare", T0_MS - 800),
        ("default/usdm/SOLUSDT/BOTH", "protected", T0_MS - 60_000),
        ("default/spot/BTCUSDT/BOTH", "degraded", T0_MS - 1000),
        pending_confirmations=2,
    )
    snap["scopes"]["spot"] = {"state": "ready", "degraded": True, "reason": "x", "paused": True}
    m.set_health(snap)
    s = samples(m)
    assert value(s, "positions", product="usdm", state="bare") == 2
    assert value(s, "positions", product="usdm", state="protected") == 1
    assert value(s, "positions", product="usdm", state="degraded") == 0
    assert value(s, "positions", product="spot", state="degraded") == 1
    assert value(s, "longest_bare_seconds", product="usdm") == 3.2
    assert value(s, "longest_bare_seconds", product="spot") == 0
    assert value(s, "pending_confirmations") == 2
    assert value(s, "scope_up", product="usdm") == 1
    assert value(s, "scope_up", product="spot") == 0
    assert value(s, "scope_paused", product="spot") == 1
    # Back to protected: the bare series drop to zero rather than keep their last value.
    m.set_health(health(("default/usdm/BTCUSDT/BOTH", "protected", T0_MS)))
    s = samples(m)
    assert value(s, "positions", product="usdm", state="bare") == 0
    assert value(s, "longest_bare_seconds", product="usdm") == 0


def test_bare_seconds_total_integrates_between_calls() -> None:
    clock = Clock()
    m = ServiceMetrics(clock=clock)
    btc = ("default/usdm/BTCUSDT/BOTH", "bare", T0_MS - 500)

    def tick(dt_s: float, *positions: tuple[str, str, int]) -> float:
        clock.now += dt_s
        m.set_health(health(*positions, time_ms=T0_MS + round((clock.now - 1000) * 1000)))
        return value(samples(m), "bare_seconds_total", product="usdm")

    assert tick(0, btc) == 0  # the first call only starts the integral
    assert tick(1.0, btc) == 1.0
    assert tick(2.0, btc) == 3.0
    # ETH turned bare 0.25 s before this call: it adds its 0.25 s, not the whole interval.
    eth = ("default/usdm/ETHUSDT/BOTH", "bare", T0_MS + 3000 + 750)
    assert tick(1.0, btc, eth) == pytest.approx(4.25)
    assert tick(1.0, ("default/usdm/BTCUSDT/BOTH", "protected", T0_MS)) == pytest.approx(4.25)


def test_requests_use_templates_and_bounded_labels() -> None:
    m = ServiceMetrics(clock=Clock())
    m.observe_request(TEMPLATE, "put", 200, 0.003)
    m.observe_request(TEMPLATE, "PUT", 422, 0.0004)
    m.observe_request("/api/v1/positions/usdm/BTCUSDT/protection", "BREW", 999, 0.2)
    s = samples(m)
    route = {"route": TEMPLATE, "method": "PUT"}
    assert value(s, "http_requests_total", **route, status="200") == 1
    assert value(s, "http_requests_total", **route, status="422") == 1
    assert value(s, "http_request_duration_seconds_count", **route) == 2
    assert value(s, "http_request_duration_seconds_bucket", **route, le="0.0005") == 1
    assert value(s, "http_request_duration_seconds_bucket", **route, le="0.005") == 2
    assert value(s, "http_requests_total", route="other", method="other", status="other") == 1


def test_alert_stats_become_counters() -> None:
    m = ServiceMetrics(clock=Clock())
    m.observe_alerts({"webhook": {"sent": 3, "failed": 1, "suppressed": 0, "dropped": 0}})
    m.observe_alerts({"webhook": {"sent": 5, "failed": 1, "suppressed": 2, "dropped": 0}})
    m.observe_alerts({"webhook": {"sent": 1, "failed": 1, "suppressed": 2, "dropped": 0}})
    s = samples(m)
    assert value(s, "alerts_total", channel="webhook", outcome="sent") == 6  # 5, then a restart
    assert value(s, "alerts_total", channel="webhook", outcome="failed") == 1
    assert value(s, "alerts_total", channel="webhook", outcome="suppressed") == 2
    assert value(s, "alerts_total", channel="webhook", outcome="dropped") == 0


def test_many_random_events_create_a_bounded_number_of_series() -> None:
    rng = random.Random(7)
    m = ServiceMetrics(clock=Clock())
    kinds = sorted(EVENT_KINDS)

    def feed(n: int) -> int:
        for _ in range(n):
            cid = "exg-" + "".join(rng.choices("abcdefXYZ0123456789", k=22))
            kind = rng.choice(kinds) if rng.random() < 0.5 else f"k_{cid}"
            m.on_event(ev(kind, product=rng.choice(["usdm", "spot", cid]), client_id=cid,
                          code=rng.choice([-2021, None, cid]), action=rng.choice(["widen", cid]),
                          status="FILLED", repair=True))  # fmt: skip
            m.observe_request(f"/api/v1/orders/{cid.lower()}", "GET", 200, 0.001)
            m.observe_request(f"/x{rng.randrange(10**6)}", rng.choice(["GET", cid]), 200, 0.001)
        return len(samples(m))

    after_10k = feed(10_000)
    assert feed(2_000) == after_10k  # no growth: every label value comes from a bounded set
    s = samples(m)
    kinds_seen = {dict(k[1])["kind"] for k in s if k[0] == "exitguard_events_total"}
    assert kinds_seen <= EVENT_KINDS | {"other"}
    routes = {dict(k[1])["route"] for k in s if k[0] == "exitguard_http_requests_total"}
    assert len(routes) <= MAX_ROUTES + 1
    assert after_10k < 2000


def test_no_secret_reaches_the_rendered_text() -> None:
    secrets = {
        "api_key": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
        "signature": "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
        "listen_key": "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1",
        "client_id": "exg-Q7h2LkP0zX9mNbV4cR8tY1",
        "url": "https://hooks.example/T000/B000/XXXXsecretXXXX?token=abc",
    }
    m = ServiceMetrics(clock=Clock())
    for kind in [*sorted(EVENT_KINDS), secrets["listen_key"]]:
        for key, secret in secrets.items():
            data = dict.fromkeys(("product", "code", "action", "client_id", key), secret)
            data["slot"] = f"default/usdm/{secret}/BOTH/stop_loss"
            m.on_event({"seq": 1, "time_ms": T0_MS, "kind": kind, "data": data})
    for secret in secrets.values():
        m.observe_request(f"/api/v1/stream/{secret}", secret, 101, 0.001)
        m.observe_request(secret, "GET", 200, 0.001)
        m.observe_alerts({secret: {"sent": 1}, f"tgram://{secret}/1": {"failed": 1}})
        m.set_health(health((f"default/{secret}/BTCUSDT/BOTH", "bare", T0_MS - 10)))
        m.set_health({"scopes": {secret: {"state": "ready"}}, "positions": []})
    text = m.render()[0].decode()
    for secret in secrets.values():
        for part in (secret, secret[4:20], "token=", "hooks.example"):
            assert part not in text


def test_bad_input_never_raises_and_registries_are_private() -> None:
    import prometheus_client

    a, b = ServiceMetrics(clock=Clock()), ServiceMetrics(clock=Clock())
    a.on_event(None)  # type: ignore[arg-type]
    a.on_event({"kind": 5, "data": "not a dict"})
    a.set_health({"positions": [{"position": 1}], "scopes": {"usdm": None}})
    a.observe_request(None, None, "x", "slow")  # type: ignore[arg-type]
    a.observe_alerts({"webhook": None})  # type: ignore[dict-item]
    assert value(samples(a), "metrics_errors_total") == 4
    assert value(samples(b), "metrics_errors_total") == 0
    assert "exitguard_" not in prometheus_client.generate_latest().decode()
