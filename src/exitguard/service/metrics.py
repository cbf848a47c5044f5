"""Prometheus metrics for ``GET /metrics``, fed by hub events, health snapshots and requests.

Shapes come from the service contract (docs/service.md; the design's "service" part). Every label value is
taken from a fixed allow-list or must match a strict shape (see ``_route``, ``_code``,
``_channel``), so a scrape never carries a secret, client id, listen key or raw URL, and the number
of series stays bounded whatever the events hold.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from typing import Any

OTHER = "other"
PRODUCTS = frozenset({"usdm", "spot"})
STATES = ("protected", "bare", "degraded")
FALLBACK_ACTIONS = frozenset({"close_now", "widen", "alert", "trail_now"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
ALERT_OUTCOMES = ("sent", "failed", "suppressed", "dropped")
# The contract's kinds plus the few other manager notices worth a rate; the rest count as "other".
EVENT_KINDS = frozenset(
    {
        "placed", "exit_status", "exit_fill", "cancelled", "rejected", "exit_rejected",
        "fallback", "hold", "positions", "position_bare", "position_still_bare",
        "position_protected", "position_gone", "scope_degraded", "scope_ok", "recovered",
        "manager_started", "manager_stopped", "price", "paused", "resumed", "override_set",
        "close_requested", "plan", "transport", "retry_scheduled", "scope_state", "transient",
        "unknown_outcome", "scope_error", "bare_interval",
    }
)  # fmt: skip
# Millisecond-scale API latencies (loopback FastAPI handlers).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
RATE_WINDOW_S = 10
MAX_ROUTES = 64  # route templates are a handful; the cap only guards against misuse
# A route TEMPLATE is lower-case words and {params}: a raw path (BTCUSDT, a client id, a listen
# key, a query string) fails this shape and is counted as "other".
_ROUTE_SEGMENT = re.compile(r"\{[a-z_]{1,24}(:[a-z]{1,12})?\}|[a-z0-9_.-]{1,24}")
_CHANNEL = re.compile(r"[a-z][a-z0-9_-]{0,23}")
_CODE = re.compile(r"-?\d{1,5}")  # Binance error codes, e.g. -2021


def _pick(value: Any, allowed: frozenset[str]) -> str:
    return value if isinstance(value, str) and value in allowed else OTHER


def _product(value: Any) -> str:
    return _pick(value, PRODUCTS)


def _position_product(position: Any) -> str:
    """``account/product/SYMBOL/positionSide`` -> product."""
    parts = position.split("/") if isinstance(position, str) else []
    return _product(parts[1]) if len(parts) == 4 else OTHER


def _code(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return OTHER
    text = str(value) if isinstance(value, int | str) else ""
    return text if _CODE.fullmatch(text) else OTHER


def _channel(value: Any) -> str:
    return value if isinstance(value, str) and _CHANNEL.fullmatch(value) else OTHER


def _age_s(now_ms: Any, since_ms: Any) -> float | None:
    if isinstance(now_ms, int) and isinstance(since_ms, int) and since_ms > 0:
        return max(0.0, (now_ms - since_ms) / 1000)
    return None


class ServiceMetrics:
    """One private registry per instance: tests and two managers in one process never collide."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        # Lazy: the manager and the CLI import this package without needing prometheus_client.
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self._clock = clock
        self.registry = CollectorRegistry(auto_describe=True)
        r, p = self.registry, "exitguard_"

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return Counter(p + name, doc, labels, registry=r)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return Gauge(p + name, doc, labels, registry=r)

        self._positions = gauge(
            "positions", "Managed positions by protection state.", ("product", "state")
        )
        # Not "bare_seconds": the counter below owns that family name (prometheus strips _total).
        self._longest_bare = gauge(
            "longest_bare_seconds", "Longest current bare duration.", ("product",)
        )
        self._bare_total = counter(
            "bare_seconds_total", "Bare position-seconds accumulated.", ("product",)
        )
        self._pending = gauge("pending_confirmations", "Exits sent but not yet confirmed.")
        self._scope_up = gauge(
            "scope_up", "1 when the scope is ready and not degraded.", ("product",)
        )
        self._scope_paused = gauge("scope_paused", "1 when the scope is paused.", ("product",))
        self._events = counter("events_total", "Hub events by kind.", ("kind",))
        self._rate = gauge("events_per_second", f"Hub events per second over {RATE_WINDOW_S} s.")
        self._latency = Histogram(
            p + "http_request_duration_seconds",
            "API latency.",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._requests = counter("http_requests", "API requests.", ("route", "method", "status"))
        self._rejections = counter("rejections", "Exits the venue refused.", ("product", "code"))
        self._recoveries = counter("recoveries", "Scoped recoveries.", ("product",))
        self._repairs = counter(
            "supervisor_repairs", "Exits the supervisor re-placed.", ("product",)
        )
        self._retries = counter("retries", "Slot retries scheduled.", ("product",))
        self._placed = counter("exits_placed", "Exits accepted by the venue.", ("product",))
        self._filled = counter("exits_filled", "Exits filled.", ("product",))
        self._fallbacks = counter("fallbacks", "Refused-stop fallbacks.", ("product", "action"))
        self._alerts = counter("alerts", "Notifications by outcome.", ("channel", "outcome"))
        self._errors = counter("metrics_errors", "Inputs the metrics could not read.")
        self._rate.set_function(self._events_per_second)
        self._buckets: deque[list[int]] = deque(maxlen=RATE_WINDOW_S)  # [second, count]
        self._routes: set[str] = set()
        self._products: set[str] = set()
        self._last_health: float | None = None
        self._alert_last: dict[tuple[str, str], int] = {}

    # -- events ------------------------------------------------------------------------------

    def on_event(self, event: dict[str, Any]) -> None:
        """Count one hub event. Runs on the event loop for every event: cheap, never raises."""
        try:
            self._on_event(event)
        except Exception:  # a metric must never break the hub's fan-out
            self._errors.inc()

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        data = event.get("data")
        data = data if isinstance(data, dict) else {}
        self._events.labels(_pick(kind, EVENT_KINDS)).inc()
        second = int(self._clock())
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += 1
        else:
            self._buckets.append([second, 1])
        product = _product(data.get("product"))
        if kind in ("rejected", "exit_rejected"):
            self._rejections.labels(product, _code(data.get("code"))).inc()
        elif kind == "placed":
            self._placed.labels(product).inc()
            if data.get("repair") is True:
                self._repairs.labels(product).inc()
        elif kind == "exit_status" and (
            data.get("filled") is True or str(data.get("status", "")).upper() == "FILLED"
        ):
            self._filled.labels(product).inc()
        elif kind == "fallback":
            self._fallbacks.labels(product, _pick(data.get("action"), FALLBACK_ACTIONS)).inc()
        elif kind == "recovered":
            self._recoveries.labels(product).inc()
        elif kind == "retry_scheduled":
            self._retries.labels(product).inc()

    def _events_per_second(self) -> float:
        now = int(self._clock())
        recent = sum(n for second, n in self._buckets if second > now - RATE_WINDOW_S)
        return recent / RATE_WINDOW_S

    # -- health ------------------------------------------------------------------------------

    def set_health(self, snapshot: dict[str, Any]) -> None:
        """Copy a health snapshot (contract shape); integrates bare-seconds since the last call."""
        try:
            self._set_health(snapshot)
        except Exception:  # a malformed snapshot must not break the caller
            self._errors.inc()

    def _set_health(self, snapshot: dict[str, Any]) -> None:
        now = self._clock()
        dt = 0.0 if self._last_health is None else max(0.0, now - self._last_health)
        self._last_health = now
        scopes = snapshot.get("scopes") or {}
        for key, scope in scopes.items():
            # Keys are products ("usdm"); tolerate "account/product" scope names as well.
            product = _product(str(key).split("/")[-1])
            self._products.add(product)
            up = scope.get("state") == "ready" and not scope.get("degraded")
            self._scope_up.labels(product).set(1 if up else 0)
            self._scope_paused.labels(product).set(1 if scope.get("paused") else 0)
        rows = [r for r in snapshot.get("positions") or [] if isinstance(r, dict)]
        self._products.update(_position_product(r.get("position")) for r in rows)
        counts = {(p, s): 0 for p in self._products for s in STATES}
        longest = dict.fromkeys(self._products, 0.0)
        for row in rows:
            product, state = _position_product(row.get("position")), row.get("state")
            if state not in STATES:
                continue
            counts[(product, state)] += 1
            if state == "bare":
                age = _age_s(snapshot.get("time_ms"), row.get("since_ms"))
                longest[product] = max(longest[product], age or 0.0)
                # A position bare for less than the interval only adds its own age.
                self._bare_total.labels(product).inc(dt if age is None else min(dt, age))
        for (product, state), n in counts.items():
            self._positions.labels(product, state).set(n)
        for product, seconds in longest.items():
            self._longest_bare.labels(product).set(seconds)
        self._pending.set(int(snapshot.get("pending_confirmations") or 0))

    # -- requests and alerts -----------------------------------------------------------------

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One API request; ``route`` is the route TEMPLATE, never the raw path."""
        try:
            labels = (self._route(route), _pick(str(method).upper(), METHODS))
            code = str(status) if isinstance(status, int) and 100 <= status <= 599 else OTHER
            self._latency.labels(*labels).observe(max(0.0, float(seconds)))
            self._requests.labels(*labels, code).inc()
        except Exception:  # never fail a request over its metric
            self._errors.inc()

    def _route(self, route: Any) -> str:
        if route in self._routes:
            return str(route)
        ok = (
            isinstance(route, str)
            and route.startswith("/")
            and len(route) <= 120
            and (route == "/" or all(_ROUTE_SEGMENT.fullmatch(s) for s in route[1:].split("/")))
        )
        if not ok or len(self._routes) >= MAX_ROUTES:
            return OTHER
        self._routes.add(route)
        return str(route)

    def observe_alerts(self, stats: dict[str, dict[str, int]]) -> None:
        """Copy a notifier's cumulative stats {channel: {outcome: n}} into counters."""
        try:
            for channel, counts in stats.items():
                for outcome in ALERT_OUTCOMES:
                    n = int(counts.get(outcome, 0))
                    last = self._alert_last.get((channel, outcome), 0)
                    self._alert_last[(channel, outcome)] = n
                    # A smaller count means the notifier restarted from zero: add all of it.
                    delta = n - last if n >= last else n
                    self._alerts.labels(_channel(channel), outcome).inc(delta)
        except Exception:  # a bad stats dict must not break the notifier loop
            self._errors.inc()

    def render(self) -> tuple[bytes, str]:
        """Body and content type for ``GET /metrics``."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
