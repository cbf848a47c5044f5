"""What every venue request handler shares: the exchange, limits, streams, faults, controls."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from .faults import Faults
from .ratelimit import RateLimiter
from .streams import StreamHub, dumps

if TYPE_CHECKING:
    from .usdm.exchange import UsdmExchange

__all__ = ["CONTEXT", "VenueContext", "json_response"]


@dataclass(slots=True)
class VenueContext:
    exchange: UsdmExchange
    limiter: RateLimiter
    hub: StreamHub
    faults: Faults = field(default_factory=Faults)
    advance_clock: Callable[[int], int] | None = None  # SteppedClock.advance
    pump: Callable[[], None] | None = None  # feed → exchange, then tick_time
    on_reset: Callable[[], None] | None = None

    def server_now(self) -> int:
        return self.exchange.now_ms() + self.faults.clock_skew_ms


CONTEXT: web.AppKey[VenueContext] = web.AppKey("exitguard_venue", VenueContext)


def json_response(
    obj: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=dumps(obj), status=status, content_type="application/json", headers=headers
    )
