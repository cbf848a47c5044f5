"""Time bookkeeping for the soak's checker (:mod:`.checker` explains the rules): when the lane's
manager was down / starting / running and when a fault was active (:class:`Timeline`), and
episodes — continuous runs of samples in one condition, with their time per state and their
longest accountable stretch (:class:`Episode`, :class:`Episodes`)."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["STATES", "Episode", "Episodes", "Timeline", "percentile"]

STATES = ("clean", "fault", "starting", "down")


class Timeline:
    """When the lane's manager was up (and ready), and when a fault was active, by time (ms).
    Changes are recorded in time order; at equal times the last one recorded wins (an instant
    fault is on and off at the same ``t``: off)."""

    def __init__(self, max_startup_ms: int = 30_000) -> None:
        self.max_startup_ms = max_startup_ms
        self._up_t: list[int] = []
        self._up_v: list[bool] = []
        self._ready_t: list[int] = []
        self._fault_t: list[int] = []
        self._fault_v: list[bool] = []
        self.intervals: list[list[int | None]] = []  # manager [start, end]
        self.readies: list[int] = []  # ms from spawn to ready, per start that got there
        self.faults: list[dict[str, Any]] = []  # {"kind", "on", "off", "body"}

    @staticmethod
    def _last(times: list[int], values: list[bool], t: int) -> bool:
        i = bisect.bisect_right(times, t)
        return i > 0 and values[i - 1]

    @staticmethod
    def _last_time(times: list[int], values: list[bool], t: int, value: bool) -> int | None:
        i = bisect.bisect_right(times, t)
        while i > 0:
            i -= 1
            if values[i] is value:
                return times[i]
        return None

    def started(self, t: int) -> None:
        self._up_t.append(t)
        self._up_v.append(True)
        self.intervals.append([t, None])

    def ready(self, t: int) -> None:
        self._ready_t.append(t)
        if self.intervals and self.intervals[-1][0] is not None:
            self.readies.append(t - self.intervals[-1][0])

    def stopped(self, t: int) -> None:
        self._up_t.append(t)
        self._up_v.append(False)
        if self.intervals and self.intervals[-1][1] is None:
            self.intervals[-1][1] = t

    def fault_on(self, t: int, kind: str, body: Mapping[str, Any] | None = None) -> None:
        self._fault_t.append(t)
        self._fault_v.append(True)
        self.faults.append({"kind": kind, "on": t, "off": None, "body": dict(body or {})})

    def fault_off(self, t: int) -> None:
        self._fault_t.append(t)
        self._fault_v.append(False)
        for f in self.faults:
            if f["off"] is None:
                f["off"] = t

    def up(self, t: int) -> bool:
        """The manager's process is alive (starting or running)."""
        return self._last(self._up_t, self._up_v, t)

    def fault(self, t: int) -> bool:
        return self._last(self._fault_t, self._fault_v, t)

    def up_since(self, t: int) -> int:
        """The last manager start at or before ``t`` (``t`` itself if none)."""
        start = self._last_time(self._up_t, self._up_v, t, True)
        return t if start is None else start

    def running_since(self, t: int) -> int:
        """When the current process became ready (or its startup ran out of time)."""
        start = self.up_since(t)
        i = bisect.bisect_left(self._ready_t, start)
        ready = self._ready_t[i] if i < len(self._ready_t) else None
        limit = start + self.max_startup_ms
        return limit if ready is None else min(ready, limit)

    def state(self, t: int) -> str:
        """down | starting | fault | clean."""
        if not self.up(t):
            return "down"
        if t < self.running_since(t):
            return "starting"
        return "fault" if self.fault(t) else "clean"

    def clean_since(self, t: int) -> int:
        """The later of the manager becoming ready and the last fault clearing, at ``t``."""
        cleared = self._last_time(self._fault_t, self._fault_v, t, False)
        return max(self.running_since(t), cleared if cleared is not None else 0)


@dataclass(slots=True)
class Episode:
    key: str
    start_ms: int
    end_ms: int | None = None
    ms: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))
    clean_run_ms: int = 0
    up_run_ms: int = 0
    detail: dict[str, Any] = field(default_factory=dict)
    open_at_end: bool = False

    def to_json(self, t0: int) -> dict[str, Any]:
        return {
            "key": self.key,
            "start_s": round((self.start_ms - t0) / 1000, 3),
            "duration_s": round(((self.end_ms or self.start_ms) - self.start_ms) / 1000, 3),
            "clean_run_s": round(self.clean_run_ms / 1000, 3),
            "up_run_s": round(self.up_run_ms / 1000, 3),
            "s_by_state": {k: round(v / 1000, 3) for k, v in self.ms.items()},
            "open_at_end": self.open_at_end,
            **self.detail,
        }


class Episodes:
    """Open and finished episodes of one condition, keyed by a string."""

    def __init__(self, timeline: Timeline) -> None:
        self.tl = timeline
        self.open: dict[str, Episode] = {}
        self.done: list[Episode] = []

    def step(
        self,
        t: int,
        prev_t: int | None,
        keys: Mapping[str, dict[str, Any]],
        starts: Mapping[str, int] | None = None,
    ) -> None:
        """Advance to the sample at ``t`` where exactly ``keys`` are in the condition."""
        if prev_t is not None:
            state = self.tl.state(prev_t)
            for ep in self.open.values():
                ep.ms[state] += t - prev_t
        for key in list(self.open):
            if key not in keys:
                ep = self.open.pop(key)
                self._runs(ep, t)
                ep.end_ms = t
                self.done.append(ep)
        for key, detail in keys.items():
            current = self.open.get(key)
            if current is None:
                start = (starts or {}).get(key, t)
                current = self.open[key] = Episode(key, start, detail=dict(detail))
            self._runs(current, t)

    def _runs(self, ep: Episode, t: int) -> None:
        if not self.tl.up(t):
            return
        ep.up_run_ms = max(ep.up_run_ms, t - max(ep.start_ms, self.tl.up_since(t)))
        if self.tl.state(t) == "clean":
            ep.clean_run_ms = max(ep.clean_run_ms, t - max(ep.start_ms, self.tl.clean_since(t)))

    def close_all(self, t: int) -> None:
        for ep in self.open.values():
            ep.end_ms = t
            ep.open_at_end = True
            self.done.append(ep)
        self.open.clear()


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
