"""Binance rate limits (USD-M and Spot): request weight per IP, order counts per account, 429/418.

- ``REQUEST_WEIGHT``: every request adds its endpoint's weight to the IP's counter for the current
  minute; every response carries ``X-MBX-USED-WEIGHT-1M``. Over the limit → HTTP 429
  ``-1003``.
- ``ORDERS``: each order placed (``POST /fapi/v1/order``, each order of a batch, each algo order)
  adds 1 to the account's counters for the current 10 s and minute; order responses carry
  ``X-MBX-ORDER-COUNT-10S`` and ``X-MBX-ORDER-COUNT-1M``. Over a limit → HTTP 429 ``-1015``.
- Every 429 carries ``Retry-After`` (seconds until the window that was exceeded resets). After
  ``ban_after_429s`` 429s to one IP within one minute, the next violation is answered HTTP 418
  and the IP is banned: every request is answered 418 until the ban ends (``Retry-After`` = the
  seconds left). Bans start at ``ban_initial_s`` and double for each further ban of that IP, capped
  at ``ban_max_s`` (Binance: "from 2 minutes to 3 days").

Windows are fixed (aligned to multiples of their length, as Binance resets its counters) and are
measured on the *venue* clock passed in as ``now_ms``. Rejected requests still count (Binance
counts the weight of every request it receives).

Spot (:data:`SPOT_RATE_LIMITS`; Spot ``rest-api.md`` "LIMITS", reference section 4) has its own
limiter: 6000 weight per minute, ORDERS per 10 s and per day (``X-MBX-ORDER-COUNT-10S`` /
``-1D``), Spot's message texts, and no ``Retry-After`` on an order-count 429 ("you will receive
a 429 error without the Retry-After header"). A window whose limit is 0 is not kept.

Spot since 2026-04-02 (Spot CHANGELOG 2026-03-27 and 2026-04-02): ``RAW_REQUESTS`` is 300,000
requests per 5 minutes per IP (every request counts 1, whatever its weight; listed in
exchangeInfo's ``rateLimits``; over it → 429 ``-1003``), and successful order placements, cancels
and order lists cost 0 request weight while failed ones are charged their documented weight: the
caller checks the limit with :meth:`RateLimiter.charge_weight` ``(ip, 0)`` and charges the weight
with :meth:`RateLimiter.add_weight` only when the request failed (``Endpoint.free_on_success``).
The text of a RAW_REQUESTS 429 is not documented; the venue follows the REQUEST_WEIGHT text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from exitguard.domain.enums import Product
from exitguard.domain.error_codes import message_for

from .errors import VenueError

__all__ = [
    "ORDERS_1D_HEADER",
    "ORDERS_1M_HEADER",
    "ORDERS_10S_HEADER",
    "SPOT_RATE_LIMITS",
    "WEIGHT_HEADER",
    "RateLimitConfig",
    "RateLimiter",
]

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
ORDERS_10S_HEADER = "X-MBX-ORDER-COUNT-10S"
ORDERS_1M_HEADER = "X-MBX-ORDER-COUNT-1M"
ORDERS_1D_HEADER = "X-MBX-ORDER-COUNT-1D"

MINUTE_MS = 60_000
TEN_SECONDS_MS = 10_000
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    request_weight_per_minute: int = 2400
    orders_per_10s: int = 300
    orders_per_minute: int = 1200
    ban_after_429s: int = 3
    ban_initial_s: int = 120
    ban_max_s: int = 3 * 86_400
    orders_per_day: int = 0
    product: Product = Product.USDM
    raw_requests_per_5m: int = 0  # 0: not kept (USD-M has no RAW_REQUESTS limit)

    def order_windows(self) -> list[tuple[str, str, int, int, int]]:
        """(header, interval, intervalNum, length ms, limit) of each order window kept."""
        windows = [
            (ORDERS_10S_HEADER, "SECOND", 10, TEN_SECONDS_MS, self.orders_per_10s),
            (ORDERS_1M_HEADER, "MINUTE", 1, MINUTE_MS, self.orders_per_minute),
            (ORDERS_1D_HEADER, "DAY", 1, DAY_MS, self.orders_per_day),
        ]
        return [w for w in windows if w[4] > 0]

    def rate_limits_json(self) -> list[dict[str, object]]:
        """The ``rateLimits`` array of ``exchangeInfo`` for these limits."""
        out: list[dict[str, object]] = [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.request_weight_per_minute,
            }
        ]
        if self.raw_requests_per_5m > 0:
            out.append(
                {
                    "rateLimitType": "RAW_REQUESTS",
                    "interval": "MINUTE",
                    "intervalNum": 5,
                    "limit": self.raw_requests_per_5m,
                }
            )
        for _, interval, num, _, limit in self.order_windows():
            out.append(
                {
                    "rateLimitType": "ORDERS",
                    "interval": interval,
                    "intervalNum": num,
                    "limit": limit,
                }
            )
        return out


# Spot's exchangeInfo (bundled fixture): REQUEST_WEIGHT 6000/min, ORDERS 100/10 s, 200000/day;
# RAW_REQUESTS 300,000 per 5 minutes from 2026-04-02 (Spot CHANGELOG 2026-03-27).
SPOT_RATE_LIMITS = RateLimitConfig(
    request_weight_per_minute=6000,
    orders_per_10s=100,
    orders_per_minute=0,
    orders_per_day=200_000,
    product=Product.SPOT,
    raw_requests_per_5m=300_000,
)
FIVE_MINUTES_MS = 300_000


@dataclass(slots=True)
class _Window:
    length_ms: int
    start_ms: int = -1
    count: int = 0

    def roll(self, now_ms: int) -> None:
        start = now_ms - now_ms % self.length_ms
        if start != self.start_ms:
            self.start_ms = start
            self.count = 0

    def used(self, now_ms: int) -> int:
        self.roll(now_ms)
        return self.count

    def retry_after_s(self, now_ms: int) -> int:
        left = self.start_ms + self.length_ms - now_ms
        return max(1, -(-left // 1000))


@dataclass(slots=True)
class _IpState:
    weight: _Window = field(default_factory=lambda: _Window(MINUTE_MS))
    rejections: _Window = field(default_factory=lambda: _Window(MINUTE_MS))
    raw: _Window = field(default_factory=lambda: _Window(FIVE_MINUTES_MS))
    banned_until_ms: int = 0
    bans: int = 0


@dataclass(slots=True)
class _AccountState:
    windows: list[_Window]


class RateLimiter:
    """Counters for every IP and account; raises :class:`VenueError` (429/418) when over."""

    def __init__(self, now_ms: Callable[[], int], config: RateLimitConfig | None = None) -> None:
        self.config = config or RateLimitConfig()
        self._now_ms = now_ms
        self._ips: dict[str, _IpState] = {}
        self._accounts: dict[str, _AccountState] = {}

    def reset(self) -> None:
        self._ips.clear()
        self._accounts.clear()

    def _ip(self, ip: str) -> _IpState:
        state = self._ips.get(ip)
        if state is None:
            state = self._ips[ip] = _IpState()
        return state

    def _account(self, key: str) -> _AccountState:
        state = self._accounts.get(key)
        if state is None:
            windows = [_Window(w[3]) for w in self.config.order_windows()]
            state = self._accounts[key] = _AccountState(windows)
        return state

    # -- headers -----------------------------------------------------------------------------

    def weight_headers(self, ip: str) -> dict[str, str]:
        return {WEIGHT_HEADER: str(self._ip(ip).weight.used(self._now_ms()))}

    def order_headers(self, account_key: str) -> dict[str, str]:
        now = self._now_ms()
        acc = self._account(account_key)
        return {
            spec[0]: str(window.used(now))
            for spec, window in zip(self.config.order_windows(), acc.windows, strict=True)
        }

    def status(self, ip: str, account_key: str | None) -> list[dict[str, object]]:
        """The WebSocket API's ``rateLimits``: each limit with its current ``count``."""
        now = self._now_ms()
        out: list[dict[str, object]] = []
        if account_key is not None:
            acc = self._account(account_key)
            for spec, window in zip(self.config.order_windows(), acc.windows, strict=True):
                _, interval, num, _, limit = spec
                out.append(
                    {
                        "rateLimitType": "ORDERS",
                        "interval": interval,
                        "intervalNum": num,
                        "limit": limit,
                        "count": window.used(now),
                    }
                )
        out.append(
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.config.request_weight_per_minute,
                "count": self._ip(ip).weight.used(now),
            }
        )
        return out  # RAW_REQUESTS is not among the WS API's documented rateLimits

    # -- charging ----------------------------------------------------------------------------

    def check_ban(self, ip: str) -> None:
        """Raise 418 while ``ip`` is banned."""
        now = self._now_ms()
        state = self._ip(ip)
        if state.banned_until_ms > now:
            raise self._banned(state, now)

    def charge_weight(self, ip: str, weight: int, *, free_on_success: bool = False) -> int:
        """One request of ``weight`` from ``ip``: adds 1 to its RAW_REQUESTS window (when kept)
        and ``weight`` to its minute; 429 (or 418) when either exceeds its limit. A request
        that is free when it succeeds (Spot order requests) is charged 0 now, still refused
        when the IP is over, and the weight it owes if it fails is returned for
        :meth:`add_weight` (0 for any other request)."""
        owed = weight if free_on_success else 0
        weight -= owed
        now = self._now_ms()
        state = self._ip(ip)
        if state.banned_until_ms > now:
            raise self._banned(state, now)
        raw_limit = self.config.raw_requests_per_5m
        if raw_limit > 0:
            state.raw.roll(now)
            state.raw.count += 1
            if state.raw.count > raw_limit:
                msg = (
                    f"Too many requests; current limit is {raw_limit} requests per 5 MINUTE. "
                    "Please use WebSocket Streams for live updates to avoid polling the API."
                )
                raise self._reject(ip, -1003, msg, state.raw.retry_after_s(now))
        state.weight.roll(now)
        state.weight.count += weight
        limit = self.config.request_weight_per_minute
        if state.weight.count > limit:
            if self.config.product is Product.SPOT:
                msg = message_for(Product.SPOT, -1003, str(limit), "1 MINUTE")
            else:
                msg = message_for(Product.USDM, -1003, str(limit))
            raise self._reject(ip, -1003, msg, state.weight.retry_after_s(now))
        return owed

    def add_weight(self, ip: str, weight: int) -> None:
        """Charge ``weight`` for a request that already passed :meth:`charge_weight` and then
        failed (a free-on-success order request); never refuses, the next request will."""
        state = self._ip(ip)
        state.weight.roll(self._now_ms())
        state.weight.count += weight

    def charge_orders(self, ip: str, account_key: str, count: int) -> None:
        """Add ``count`` orders to the account's windows; 429 ``-1015`` when over a limit."""
        if count <= 0:
            return
        now = self._now_ms()
        acc = self._account(account_key)
        spot = self.config.product is Product.SPOT
        for window in acc.windows:
            window.roll(now)
            window.count += count
        for spec, window in zip(self.config.order_windows(), acc.windows, strict=True):
            _, interval, num, _, limit = spec
            if window.count <= limit:
                continue
            if spot:
                msg = message_for(Product.SPOT, -1015, str(limit), f"{num} {interval}")
            else:
                named = {"SECOND": "TEN_SECONDS", "MINUTE": "MINUTE", "DAY": "DAY"}[interval]
                msg = message_for(Product.USDM, -1015, str(limit), named)
            err = self._reject(ip, -1015, msg, window.retry_after_s(now))
            if spot and err.http_status == 429:
                err.headers.pop("Retry-After", None)
            raise err

    def _reject(self, ip: str, code: int, msg: str, retry_after_s: int) -> VenueError:
        now = self._now_ms()
        state = self._ip(ip)
        state.rejections.roll(now)
        if state.rejections.count >= self.config.ban_after_429s:
            ban_s = min(self.config.ban_initial_s * 2**state.bans, self.config.ban_max_s)
            state.bans += 1
            state.banned_until_ms = now + ban_s * 1000
            state.rejections.count = 0
            return self._banned(state, now)
        state.rejections.count += 1
        return VenueError(code, msg, http_status=429, headers={"Retry-After": str(retry_after_s)})

    def _banned(self, state: _IpState, now: int) -> VenueError:
        left_s = max(1, -(-(state.banned_until_ms - now) // 1000))
        if self.config.product is Product.SPOT:
            msg = (
                f"Way too much request weight used; IP banned until {state.banned_until_ms}. "
                "Please use WebSocket Streams for live updates to avoid bans."
            )
        else:
            msg = (
                f"Way too many requests; IP banned until {state.banned_until_ms}. Please use the "
                "websocket for live updates to avoid bans."
            )
        return VenueError(-1003, msg, http_status=418, headers={"Retry-After": str(left_s)})
