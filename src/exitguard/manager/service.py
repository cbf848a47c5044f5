"""The exit manager service: one :class:`~.scope.ProductScope` per product, started together.

Construction is explicit (the CLI's ``run`` wiring lives in :mod:`.runtime`): tests build an
``ExitManager`` from adapters pointed at a loopback paper venue and a store file, exactly as
the service does, so the end-to-end tests run the production path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from exitguard.domain.enums import Product
from exitguard.domain.ids import ClientIdGenerator
from exitguard.store.exits import ExitStore

from .health import HealthBoard, event_level
from .market import MarketBook
from .ops import ProductOps
from .scope import ProductScope, ScopeConfig, ScopeState

__all__ = ["ExitManager", "wall_clock_ms"]

log = logging.getLogger("exitguard.manager")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class ExitManager:
    """Keeps every managed position protected on each configured product."""

    def __init__(
        self,
        ops: Iterable[ProductOps],
        store: ExitStore,
        config: ScopeConfig,
        *,
        ids: ClientIdGenerator | None = None,
        now_ms: Callable[[], int] = wall_clock_ms,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.ids = ids or ClientIdGenerator()
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._on_event = on_event
        self._listeners: list[Callable[[str, dict[str, Any]], None]] = []
        # The one protection signal every reader subscribes to (logs here; status reads the
        # store's copy; the API, alerts and metrics subscribe to it).
        self.health = HealthBoard(config.bare_error_after_s, config.bare_reminder_s)
        self.health.subscribe(self._record)
        # Marks and liquidation prices for planning, shared by the scopes and the service's
        # price poller (market.py).
        self.market = MarketBook()
        self.scopes: dict[Product, ProductScope] = {
            o.product: ProductScope(
                o,
                store,
                config,
                self.ids,
                now_ms,
                self._record,
                health=self.health,
                market=self.market,
            )
            for o in ops
        }

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))
        if len(self.events) > 10_000:
            del self.events[:5_000]
        if self._on_event is not None:
            self._on_event(kind, data)
        else:
            log.log(event_level(kind), kind, extra={"event_data": data})
        for listener in self._listeners:
            try:
                listener(kind, data)
            except Exception:  # a broken reader (the service) must never stop protection
                log.exception("event listener failed")

    def listen(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """``listener(kind, data)`` for every notice from now on (the service's event hub)."""
        self._listeners.append(listener)

    def emit(self, kind: str, **data: Any) -> None:
        """A notice from outside the scopes (the service's commands), like the scopes' own."""
        self._record(kind, data)

    def scope(self, product: Product) -> ProductScope:
        return self.scopes[product]

    async def start(self) -> None:
        """Startup = recovery for every scope (hydrate, reconcile, plan, submit)."""
        for scope in self.scopes.values():
            await scope.start()

    async def stop(self) -> None:
        for scope in self.scopes.values():
            await scope.stop()
        for scope in self.scopes.values():  # after every scope stopped: nothing sends any more
            close = getattr(scope.ops, "close", None)
            if close is not None:
                await close()

    def ready(self) -> bool:
        return all(s.state is ScopeState.READY for s in self.scopes.values())

    def protected(self) -> bool:
        """Every scope ready and not degraded, every managed position protected."""
        return self.ready() and self.health.ok()

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        return [d for k, d in self.events if k == kind]
