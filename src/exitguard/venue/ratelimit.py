"""Binance USD-M rate limits: request weight per IP, order counts per account, 429 then 418.

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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from exitguard.domain.enums import Product
from exitguard.domain.error_codes import message_for

from .errors import VenueError

__all__ = [
    "ORDERS_1M_HEADER",
    "ORDERS_10S_HEADER",
    "WEIGHT_HEADER",
    "RateLimitConfig",
    "RateLimiter",
]

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
ORDERS_10S_HEADER = "X-MBX-ORDER-COUNT-10S"
ORDERS_1M_HEADER = "X-MBX-ORDER-COUNT-1M"

MINUTE_MS = 60_000
TEN_SECONDS_MS = 10_000


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    request_weight_per_minute: int = 2400
    orders_per_10s: int = 300
    orders_per_minute: int = 1200
    ban_after_429s: int = 3
    ban_initial_s: int = 120
    ban_max_s: int = 3 * 86_400

    def rate_limits_json(self) -> list[dict[str, object]]:
        """The ``rateLimits`` array of ``exchangeInfo`` for these limits."""
        return [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.request_weight_per_minute,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": self.orders_per_10s,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.orders_per_minute,
            },
        ]


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
    banned_until_ms: int = 0
    bans: int = 0


@dataclass(slots=True)
class _AccountState:
    orders_10s: _Window = field(default_factory=lambda: _Window(TEN_SECONDS_MS))
    orders_1m: _Window = field(default_factory=lambda: _Window(MINUTE_MS))


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
            state = self._accounts[key] = _AccountState()
        return state

    # -- headers -----------------------------------------------------------------------------

    def weight_headers(self, ip: str) -> dict[str, str]:
        return {WEIGHT_HEADER: str(self._ip(ip).weight.used(self._now_ms()))}

    def order_headers(self, account_key: str) -> dict[str, str]:
        now = self._now_ms()
        acc = self._account(account_key)
        return {
            ORDERS_10S_HEADER: str(acc.orders_10s.used(now)),
            ORDERS_1M_HEADER: str(acc.orders_1m.used(now)),
        }

    # -- charging ----------------------------------------------------------------------------

    def check_ban(self, ip: str) -> None:
        """Raise 418 while ``ip`` is banned."""
        now = self._now_ms()
        state = self._ip(ip)
        if state.banned_until_ms > now:
            raise self._banned(state, now)

    def charge_weight(self, ip: str, weight: int) -> None:
        """Add ``weight`` to the IP's minute; 429 (or 418) when that exceeds the limit."""
        now = self._now_ms()
        state = self._ip(ip)
        if state.banned_until_ms > now:
            raise self._banned(state, now)
        state.weight.roll(now)
        state.weight.count += weight
        limit = self.config.request_weight_per_minute
        if state.weight.count > limit:
            msg = message_for(Product.USDM, -1003, str(limit))
            raise self._reject(ip, -1003, msg, state.weight.retry_after_s(now))

    def charge_orders(self, ip: str, account_key: str, count: int) -> None:
        """Add ``count`` orders to the account's windows; 429 ``-1015`` when over a limit."""
        if count <= 0:
            return
        now = self._now_ms()
        acc = self._account(account_key)
        acc.orders_10s.roll(now)
        acc.orders_1m.roll(now)
        acc.orders_10s.count += count
        acc.orders_1m.count += count
        if acc.orders_10s.count > self.config.orders_per_10s:
            msg = message_for(Product.USDM, -1015, str(self.config.orders_per_10s), "TEN_SECONDS")
            raise self._reject(ip, -1015, msg, acc.orders_10s.retry_after_s(now))
        if acc.orders_1m.count > self.config.orders_per_minute:
            msg = message_for(Product.USDM, -1015, str(self.config.orders_per_minute), "MINUTE")
            raise self._reject(ip, -1015, msg, acc.orders_1m.retry_after_s(now))

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

    @staticmethod
    def _banned(state: _IpState, now: int) -> VenueError:
        left_s = max(1, -(-(state.banned_until_ms - now) // 1000))
        msg = (
            f"Way too many requests; IP banned until {state.banned_until_ms}. Please use the "
            "websocket for live updates to avoid bans."
        )
        return VenueError(-1003, msg, http_status=418, headers={"Retry-After": str(left_s)})
