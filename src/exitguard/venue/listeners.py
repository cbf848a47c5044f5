"""User and market event fan-out shared by the USD-M and Spot exchanges of the venue.

An exchange calls :meth:`EventSource.emit` for an account's user-data events and
:meth:`EventSource._emit_market` for public market events; the stream hubs and the WebSocket API
subscribe here. Listeners run synchronously on the exchange's event loop, in subscription order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["EventSource", "Listeners", "MarketListener", "UserEvent", "UserListener"]

UserEvent = dict[str, Any]
UserListener = Callable[[UserEvent], None]
MarketListener = Callable[[str, str, dict[str, Any]], None]


class _Keyed(Protocol):
    @property
    def api_key(self) -> str: ...


@dataclass(slots=True)
class Listeners:
    user: dict[str, list[UserListener]] = field(default_factory=dict)
    market: list[MarketListener] = field(default_factory=list)


class EventSource:
    """Subscription bookkeeping; the exchange sets ``_listeners`` once and keeps it on reset."""

    _listeners: Listeners

    def subscribe(self, account: _Keyed, listener: UserListener) -> None:
        self._listeners.user.setdefault(account.api_key, []).append(listener)

    def unsubscribe(self, account: _Keyed, listener: UserListener) -> None:
        listeners = self._listeners.user.get(account.api_key, [])
        if listener in listeners:
            listeners.remove(listener)

    def subscribe_market(self, listener: MarketListener) -> None:
        self._listeners.market.append(listener)

    def unsubscribe_market(self, listener: MarketListener) -> None:
        if listener in self._listeners.market:
            self._listeners.market.remove(listener)

    def emit(self, api_key: str, event: UserEvent) -> None:
        for listener in list(self._listeners.user.get(api_key, ())):
            listener(event)

    def _emit_market(self, kind: str, symbol: str, payload: dict[str, Any]) -> None:
        for listener in list(self._listeners.market):
            listener(kind, symbol, payload)
