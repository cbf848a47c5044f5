"""Alerts: hub events → (dedupe) → bounded queue → one worker thread → apprise and webhooks.

:meth:`Notifier.on_event` runs on the event loop for every hub event: it filters cheaply, turns
the event into alerts (:mod:`.alert_rules`), drops repeats of the same (event, key) within
``min_interval_s`` (counting them, and saying so in the next alert for that key) and enqueues.
It never blocks on I/O and never raises. The queue is bounded: when full, the oldest info alert
is dropped first (then warning, then error), counted, and reported in the next summary.

The worker thread delivers. A global rate limit (``max_per_minute`` alerts in any 60 s) holds
the excess back; held alerts are collapsed into one summary alert ("N more alerts suppressed:
...") sent as soon as the window has room, or at :meth:`Notifier.stop`. Nothing is lost without
being counted and said. Each channel gets a bounded number of attempts with a short backoff;
failures are logged at WARNING (channel name, never its URL) and never propagate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Any

from exitguard.config.notifications import SUMMARY_EVENT, NotificationSettings
from exitguard.logs import sanitise

from .alert_channels import (
    AppriseChannel,
    AppriseLike,
    Channel,
    DeliveryError,
    WebhookChannel,
    default_apprise,
)
from .alert_rules import RELEVANT_KINDS, SEVERITY_RANK, Alert, AlertRules, Severity

__all__ = ["Notifier"]

log = logging.getLogger("exitguard.alerts")

_WINDOW_MS = 60_000
_MAX_KEYS = 4096  # dedupe keys remembered (older ones are pruned once past min_interval)
_DEAD_AFTER = 3  # consecutive failed alerts after which a channel is not retried
_SUMMARY_EXAMPLES = 5  # titles of held error/warning alerts quoted in a summary


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Notifier:
    """Delivers alerts for hub events (see the module doc). ``start()`` once, ``stop()`` once.

    ``now_ms`` drives the bare timer, dedupe and the rate window (tests inject a clock);
    ``apprise_factory`` builds the apprise object (tests inject a fake; default: apprise).
    """

    def __init__(
        self,
        settings: NotificationSettings,
        *,
        now_ms: Callable[[], int] = _wall_ms,
        apprise_factory: Callable[[], AppriseLike] | None = None,
        queue_size: int = 256,
        retries: int = 2,
        backoff_s: tuple[float, ...] = (0.5, 2.0),
        poll_s: float = 0.5,
        channels: list[Channel] | None = None,
    ) -> None:
        self.settings = settings
        self._now_ms = now_ms
        self._rules = AlertRules(settings.events, settings.bare_alert_ms)
        self._queue_size = max(1, queue_size)
        self._retries = max(0, retries)
        self._backoff_s = backoff_s or (0.0,)
        self._poll_s = poll_s
        if channels is None:
            channels = []
            if settings.apprise:
                factory = apprise_factory or default_apprise
                channels.append(AppriseChannel(settings.apprise, factory, log.warning))
            channels += [WebhookChannel(hook) for hook in settings.webhooks]
        self._channels = channels

        self._cond = threading.Condition(threading.Lock())
        self._queues: dict[str, deque[tuple[int, Alert]]] = {s: deque() for s in SEVERITY_RANK}
        self._seq = 0
        self._last_sent: dict[str, int] = {}  # dedupe key -> time of the last accepted alert
        self._repeats: Counter[str] = Counter()  # dedupe key -> repeats since then
        self._repeat_events: dict[str, str] = {}
        self._dropped: Counter[str] = Counter()  # queue overflow since the last summary
        self._held: Counter[str] = Counter()  # rate limited since the last summary
        self._held_examples: list[str] = []
        self._held_severity: Severity = "info"
        self._summary_since: int | None = None  # when the worker first saw a summary pending
        self._window: deque[int] = deque()  # send times within the rate window
        self._busy = False
        self._stopping = False
        self._closed = False
        self._deadline = 0.0  # monotonic: after it, stop() abandons what is left
        self._abandoned = 0
        self._thread: threading.Thread | None = None
        self._bad_events = 0
        self._counts: Counter[str] = Counter()
        self._failing: dict[str, int] = {}  # channel -> consecutive failed alerts
        self._channel_counts: dict[str, Counter[str]] = {c.name: Counter() for c in channels}

    # -- the event loop side -----------------------------------------------------------------

    def on_event(self, event: Mapping[str, Any]) -> None:
        """Called on the event loop for every hub event: cheap, never blocks on I/O, never raises."""
        try:
            if not self.settings.enabled:
                return
            kind = event.get("kind") if isinstance(event, Mapping) else None
            relevant = kind in RELEVANT_KINDS
            if not relevant and not self._rules.tracking_bare():
                return  # prices, plans...: the bulk of the stream
            with self._cond:
                now = self._now_ms()
                alerts = self._rules.feed(event, now) if relevant else []
                alerts += self._rules.due(now)
                for alert in alerts:
                    self._accept_locked(alert, now)
        except Exception:
            # A malformed event must not reach the hub (which would stop fanning out).
            self._bad_events += 1
            if self._bad_events <= 3:
                log.warning("alerts: an event could not be read", exc_info=True)

    def tick(self) -> None:
        """Fire due ``position_bare`` timers. The worker calls it every ``poll_s``; so does every
        event; tests call it after moving their clock."""
        with self._cond:
            now = self._now_ms()
            for alert in self._rules.due(now):
                self._accept_locked(alert, now)

    def _accept_locked(self, alert: Alert, now: int) -> None:
        if self._closed:
            self._dropped[alert.event] += 1
            self._counts["dropped"] += 1
            return
        key = f"{alert.event}|{alert.key}"
        last = self._last_sent.get(key)
        if last is not None and now - last < self.settings.min_interval_ms:
            self._repeats[key] += 1
            self._repeat_events[key] = alert.event
            self._counts["suppressed"] += 1
            return
        self._last_sent[key] = now
        if len(self._last_sent) > _MAX_KEYS:
            self._prune_keys_locked(now)
        repeats = self._repeats.pop(key, 0)
        self._repeat_events.pop(key, None)
        if repeats:
            alert = alert.noting(
                f"{repeats} similar suppressed in the last {self.settings.min_interval_ms // 1000}s",
                suppressed=repeats,
            )
        self._enqueue_locked(alert)

    def _prune_keys_locked(self, now: int) -> None:
        horizon = now - self.settings.min_interval_ms
        for key in [k for k, t in self._last_sent.items() if t < horizon]:
            del self._last_sent[key]
            repeats = self._repeats.pop(key, 0)
            event = self._repeat_events.pop(key, None)
            if repeats and event is not None:  # still said: in the next summary
                self._held[event] += repeats
        while len(self._last_sent) > _MAX_KEYS:  # all recent: forget the oldest
            self._last_sent.pop(next(iter(self._last_sent)))

    def _enqueue_locked(self, alert: Alert) -> None:
        if sum(len(q) for q in self._queues.values()) >= self._queue_size:
            # Oldest info first: a placed/started notice matters least when the queue is full.
            for severity in SEVERITY_RANK:
                if self._queues[severity]:
                    _, lost = self._queues[severity].popleft()
                    self._dropped[lost.event] += 1
                    self._counts["dropped"] += 1
                    break
        self._seq += 1
        self._queues[alert.severity].append((self._seq, alert))
        self._counts["queued"] += 1
        self._cond.notify()

    # -- the worker ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None or not self.settings.enabled:
            return
        self._thread = threading.Thread(target=self._run, name="exitguard-alerts", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Deliver what is queued (and a last summary), for at most about ``timeout_s``; later
        deliveries are abandoned and counted as dropped. True when everything was handled."""
        with self._cond:
            self._closed = True
            self._stopping = True
            # Repeats never followed by another alert for their key: said in the last summary.
            for key, repeats in self._repeats.items():
                self._held[self._repeat_events.get(key, "?")] += repeats
            self._repeats.clear()
            self._repeat_events.clear()
            self._deadline = time.monotonic() + max(0.0, timeout_s)
            self._cond.notify_all()
        thread = self._thread
        if thread is None:  # never started: what is queued is lost, but counted and said
            with self._cond:
                self._abandon_locked()
            return not self._abandoned
        # A little beyond the deadline: one attempt may be in flight when it passes.
        thread.join(max(0.0, timeout_s) + max((c.attempt_s for c in self._channels), default=0))
        return not thread.is_alive() and not self._abandoned

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until the queue is empty and nothing is being delivered (tests, shutdown)."""
        end = time.monotonic() + timeout_s
        with self._cond:
            while any(self._queues.values()) or self._busy:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def _pop_locked(self) -> Alert | None:
        heads = [(q[0][0], s) for s, q in self._queues.items() if q]
        if not heads:
            return None
        _, severity = min(heads)
        return self._queues[severity].popleft()[1]

    def _room_locked(self, now: int) -> bool:
        while self._window and now - self._window[0] >= _WINDOW_MS:
            self._window.popleft()
        return len(self._window) < self.settings.max_per_minute

    def _has_summary_locked(self) -> bool:
        return bool(self._held or self._dropped)

    def _run(self) -> None:
        while True:
            with self._cond:
                now = self._now_ms()
                for alert in self._rules.due(now):
                    self._accept_locked(alert, now)
                job: Alert | None = None
                if self._stopping and time.monotonic() > self._deadline:
                    self._abandon_locked()
                    break
                if self._summary_due_locked(now):
                    job = self._summary_locked(now)
                else:
                    job = self._pop_locked()
                    if job is not None and not self._room_locked(now):
                        self._hold_locked(job)
                        continue
                if job is None:
                    if self._stopping:
                        break
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait(self._poll_s)
                    continue
                self._busy = True
                self._window.append(now)
            try:
                self._deliver(job)
            except Exception:  # never let the worker die: later alerts still need it
                log.exception("alerts: delivery crashed")
        with self._cond:
            self._busy = False
            self._cond.notify_all()

    def _summary_due_locked(self, now: int) -> bool:
        """The summary waits for a free slot in the window and for the queue to empty (queued
        alerts go first), but not more than a window's length: a storm that never ends still
        gets one summary a minute."""
        if not self._has_summary_locked():
            return False
        if self._summary_since is None:
            self._summary_since = now
        if self._drained():
            return True
        if not self._room_locked(now):
            return False
        return not any(self._queues.values()) or now - self._summary_since >= _WINDOW_MS

    def _drained(self) -> bool:
        # At stop, with the queue empty, the last summary goes out whatever the window says.
        return self._stopping and not any(self._queues.values())

    def _hold_locked(self, alert: Alert) -> None:
        self._held[alert.event] += 1
        self._counts["rate_limited"] += 1
        if SEVERITY_RANK[alert.severity] > SEVERITY_RANK[self._held_severity]:
            self._held_severity = alert.severity
        if alert.severity != "info" and len(self._held_examples) < _SUMMARY_EXAMPLES:
            self._held_examples.append(alert.title)

    def _summary_locked(self, now: int) -> Alert:
        held, dropped = sum(self._held.values()), sum(self._dropped.values())
        total = held + dropped
        parts = [f"{n} {event}" for event, n in self._held.most_common()]
        text = f"{total} more alerts suppressed: {', '.join(parts) or 'none held'}"
        if dropped:
            lost = ", ".join(f"{n} {event}" for event, n in self._dropped.most_common())
            text += f"; {dropped} dropped (queue full): {lost}"
        if self._held_examples:
            text += "; among them: " + "; ".join(self._held_examples)
        severity: Severity = self._held_severity
        if dropped and severity == "info":
            severity = "warning"
        alert = Alert(
            SUMMARY_EVENT,
            severity,
            f"exitguard: {total} more alerts suppressed",
            text,
            key="summary",
            fields={"suppressed": total},
            time_ms=now,
        )
        self._summary_since = None
        self._held.clear()
        self._dropped.clear()
        self._held_examples.clear()
        self._held_severity = "info"
        self._counts["summaries"] += 1
        return alert

    def _abandon_locked(self) -> None:
        left = 0
        for queue in self._queues.values():
            left += len(queue)
            queue.clear()
        left += sum(self._held.values()) + sum(self._dropped.values())
        if left:
            self._abandoned = left
            self._counts["dropped"] += left
            log.warning("alerts: %d alerts not delivered: the stop deadline passed", left)

    def _deliver(self, alert: Alert) -> None:
        for channel in self._channels:
            self._deliver_to(channel, alert)

    def _deliver_to(self, channel: Channel, alert: Alert) -> None:
        counts = self._channel_counts.setdefault(channel.name, Counter())
        attempt = 0
        while True:
            attempt += 1
            try:
                channel.send(alert)
            except DeliveryError as exc:
                error: Exception = exc
                retry = exc.retry
            except Exception as exc:  # a bug in a channel: logged like a failure, not raised
                error, retry = exc, False
            else:
                counts["sent"] += 1
                self._failing.pop(channel.name, None)
                return
            # A channel that keeps failing gets one attempt per alert until it works again, so a
            # dead webhook cannot hold every other channel's alerts behind its retries.
            retries = 0 if self._failing.get(channel.name, 0) >= _DEAD_AFTER else self._retries
            last = not retry or attempt > retries or self._past_deadline()
            if last:
                counts["failed"] += 1
                self._failing[channel.name] = self._failing.get(channel.name, 0) + 1
                log.warning(
                    "alerts: delivery failed: channel=%s event=%s attempts=%d error=%s",
                    channel.name,
                    alert.event,
                    attempt,
                    sanitise(str(error)),
                )
                return
            counts["retries"] += 1
            pause = self._backoff_s[min(attempt - 1, len(self._backoff_s) - 1)]
            if self._stopping:  # flushing at stop: never pause past the deadline
                pause = min(pause, max(0.0, self._deadline - time.monotonic()))
            time.sleep(pause)

    def _past_deadline(self) -> bool:
        return self._stopping and time.monotonic() > self._deadline

    # -- metrics -------------------------------------------------------------------------------

    @property
    def stats(self) -> dict[str, Any]:
        """A snapshot: ``queued`` (accepted alerts), ``suppressed`` (dedupe), ``rate_limited``
        (collapsed into summaries), ``summaries``, ``dropped`` (queue full or stop deadline),
        ``queue_depth``, and per channel ``sent`` / ``failed`` / ``retries``; ``sent`` and
        ``failed`` at the top are the channel sums."""
        with self._cond:
            channels = {
                name: {k: counts[k] for k in ("sent", "failed", "retries")}
                for name, counts in self._channel_counts.items()
            }
            return {
                **{k: self._counts[k] for k in ("queued", "suppressed", "rate_limited")},
                **{k: self._counts[k] for k in ("summaries", "dropped")},
                "queue_depth": sum(len(q) for q in self._queues.values()),
                "sent": sum(c["sent"] for c in channels.values()),
                "failed": sum(c["failed"] for c in channels.values()),
                "channels": channels,
            }
