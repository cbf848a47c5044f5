"""What every venue request handler shares: both exchanges, limits, streams, faults, controls."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from exitguard.domain.enums import Product

from .faults import Faults
from .ratelimit import RateLimiter
from .streams import StreamHub, dumps

if TYPE_CHECKING:
    from .spot.accounts import SpotAccount
    from .spot.exchange import SpotExchange
    from .usdm.exchange import UsdmExchange

__all__ = ["CONTEXT", "VenueContext", "json_response"]


@dataclass(slots=True)
class VenueContext:
    exchange: UsdmExchange
    limiter: RateLimiter
    hub: StreamHub
    spot: SpotExchange
    spot_limiter: RateLimiter
    spot_hub: StreamHub
    faults: Faults = field(default_factory=Faults)
    advance_clock: Callable[[int], int] | None = None  # SteppedClock.advance
    pump: Callable[[], None] | None = None  # feed → exchanges, then tick_time
    on_reset: Callable[[], None] | None = None
    ws_api: Any = None  # the Spot WebSocket API (exitguard.venue.ws_api.WsApi)

    def server_now(self) -> int:
        return self.exchange.now_ms() + self.faults.clock_skew_ms

    def spot_account(self, api_key: str) -> SpotAccount | None:
        """One API key works on both products, as on Binance: a key known to USD-M only gets an
        (empty) Spot account with the same credentials on first use."""
        acct = self.spot.account_by_api_key(api_key)
        if acct is not None:
            return acct
        usdm = self.exchange.account_by_api_key(api_key)
        if usdm is None:
            return None
        return self.spot.create_account(
            {},
            api_key=usdm.api_key,
            api_secret=usdm.api_secret,
            ed25519_public_key_pem=usdm.ed25519_public_key_pem,
        )

    def product_parts(self, product: Product) -> tuple[Any, RateLimiter, Callable[[str], Any]]:
        """(exchange, limiter, account lookup) serving ``product``."""
        if product is Product.SPOT:
            return self.spot, self.spot_limiter, self.spot_account
        return self.exchange, self.limiter, self.exchange.account_by_api_key


CONTEXT: web.AppKey[VenueContext] = web.AppKey("exitguard_venue", VenueContext)


def json_response(
    obj: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=dumps(obj), status=status, content_type="application/json", headers=headers
    )
