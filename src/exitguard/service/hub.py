"""The event hub: every manager notice, numbered once, fanned out to the WebSocket clients,
the alerts and the metrics, and kept in a ring for ``GET /api/v1/events``.

``publish`` runs on the event loop inside the manager's notice callback, so it only copies and
enqueues: a slow WebSocket client gets a bounded queue and, when it falls behind, one ``lagged``
message and a gap in ``seq`` instead of holding anything up (protection never waits for a reader).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

__all__ = ["Event", "EventHub", "Subscription", "json_safe"]

log = logging.getLogger("exitguard.service")

Event = dict[str, Any]


def json_safe(value: Any) -> Any:
    """Decimals and enums as strings, containers recursively; the rest as it is or its str."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)


@dataclass(eq=False)
class Subscription:
    """One WebSocket client's queue (bounded; overflow drops the oldest and says so once)."""

    queue: asyncio.Queue[Event]
    dropped: int = 0
    lagging: bool = False

    def put(self, event: Event) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
            self.lagging = True
        self.queue.put_nowait(event)


@dataclass
class EventHub:
    """Numbered events for every listener (see the module docstring)."""

    now_ms: Callable[[], int]
    keep: int = 5_000
    client_queue: int = 10_000
    seq: int = 0
    _ring: deque[Event] = field(default_factory=deque)
    _subs: set[Subscription] = field(default_factory=set)
    _listeners: list[Callable[[Event], None]] = field(default_factory=list)

    def listen(self, listener: Callable[[Event], None]) -> None:
        """``listener(event)`` on the loop for every event (alerts, metrics): must be cheap."""
        self._listeners.append(listener)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        self.seq += 1
        event: Event = {
            "seq": self.seq,
            "time_ms": self.now_ms(),
            "kind": kind,
            "data": json_safe(data),
        }
        self._ring.append(event)
        if len(self._ring) > self.keep:
            self._ring.popleft()
        for sub in self._subs:
            sub.put(event)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a broken reader must never stop protection
                log.exception("event listener failed")

    def subscribe(self) -> Subscription:
        sub = Subscription(asyncio.Queue(maxsize=self.client_queue))
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def recent(
        self,
        *,
        after: int = 0,
        symbol: str | None = None,
        kind: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 100,
    ) -> tuple[list[Event], int | None]:
        """Events with seq > ``after`` matching the filters, oldest first; and the cursor for
        the next page (None when this page reached the newest)."""
        out: list[Event] = []
        for event in self._matching(after, symbol, kind, since_ms, until_ms):
            if len(out) == limit:
                return out, out[-1]["seq"]
            out.append(event)
        return out, None

    def _matching(
        self,
        after: int,
        symbol: str | None,
        kind: str | None,
        since_ms: int | None,
        until_ms: int | None,
    ) -> Iterator[Event]:
        for event in self._ring:
            if event["seq"] <= after:
                continue
            if kind is not None and event["kind"] != kind:
                continue
            if since_ms is not None and event["time_ms"] < since_ms:
                continue
            if until_ms is not None and event["time_ms"] > until_ms:
                continue
            if symbol is not None and not _mentions(event["data"], symbol):
                continue
            yield event


def _mentions(data: dict[str, Any], symbol: str) -> bool:
    if data.get("symbol") == symbol:
        return True
    for key in ("slot", "position"):
        text = data.get(key)
        if isinstance(text, str) and f"/{symbol}/" in f"{text}/":
            return True
    positions = data.get("positions")
    return isinstance(positions, dict) and any(k.split("/")[0] == symbol for k in positions)
