"""Run the paper venue: ``async with Venue(...) as v:`` serves USD-M and Spot on loopback.

``Venue`` builds a :class:`~exitguard.venue.usdm.exchange.UsdmExchange` and a
:class:`~exitguard.venue.spot.exchange.SpotExchange` from the bundled ``exchangeInfo`` fixtures
(with the configured rate limits), creates one account with one API key on both (a USDT wallet
on USD-M, ``spot_balances`` on Spot; an optional Ed25519 public key for ``session.logon``), and
serves the application of :func:`exitguard.venue.http.create_app` with an aiohttp
``AppRunner`` + ``TCPSite`` (port 0 picks a free port). A background task pulls the price feed
up to the clock's time (``feed.steps_until(clock.now_ms())``) into both exchanges' ``on_price``
(each symbol goes to every product that lists it; Spot takes the step's ``last`` as a trade of
``qty``) and calls their ``tick_time()``: every ``pump_interval_s`` of wall time for real-time and
accelerated clocks; for a :class:`~exitguard.venue.clock.SteppedClock` whenever the clock moves
(through the control API, :meth:`Venue.advance`, or ``clock.advance`` called on the event
loop's thread).

Spot URLs: REST is ``rest_url`` (``/api/v3``), the WebSocket API ``spot_ws_api_url``
(``/ws-api/v3``), market streams ``spot_ws_streams_url`` (give it to the Spot SDK's
``ConfigurationWebSocketStreams(stream_url=...)``; it appends ``/stream``).

The venue refuses to listen on a non-loopback address unless ``allow_remote=True``: it holds
credentials in clear and has no TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
from collections.abc import Mapping
from decimal import Decimal
from importlib.resources import files
from types import TracebackType
from typing import Any, Literal

from aiohttp import web

from exitguard.domain.dialect import get_dialect

from .clock import RealtimeClock, SteppedClock, VenueClock
from .errors import VenueError
from .feeds import Feed, SyntheticFeed
from .http import CONTEXT, VenueContext, create_app, load_spot_exchange_info
from .http_guard import DEFAULT_IDLE_TIMEOUT_S, make_runner
from .ratelimit import SPOT_RATE_LIMITS, RateLimitConfig
from .spot.accounts import SpotAccount
from .spot.base import SpotFees
from .spot.exchange import DEFAULT_SPOT_BALANCES, SpotExchange
from .usdm.accounts import Account
from .usdm.exchange import DEFAULT_START_PRICES, UsdmExchange
from .ws_fapi import WS_FAPI, WsFapi

__all__ = ["Venue", "is_loopback", "load_usdm_exchange_info"]

log = logging.getLogger(__name__)


def load_usdm_exchange_info() -> dict[str, Any]:
    text = files("exitguard").joinpath("fixtures/exchange_info/usdm.json").read_text()
    doc: dict[str, Any] = json.loads(text)
    return doc


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Venue:
    """A running paper venue (USD-M). Use as an async context manager, or ``start``/``stop``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        dialect: str = "binance",
        seed: int = 0,
        clock: VenueClock | None = None,
        feed: Feed | Literal["synthetic"] | None = None,
        usdt_balance: Decimal = Decimal(10_000),
        allow_remote: bool = False,
        limits: RateLimitConfig | None = None,
        start_prices: dict[str, Decimal] | None = None,
        pump_interval_s: float = 0.05,
        ws_heartbeat_s: float | None = 180.0,
        stream_queue_size: int = 1000,
        spot_balances: Mapping[str, Decimal] | None = None,
        spot_limits: RateLimitConfig | None = None,
        spot_fees: SpotFees | None = None,
        spot_start_prices: Mapping[str, Decimal] | None = None,
        ed25519_public_key_pem: str | None = None,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(
                f"Venue: refusing to listen on {host!r}, which is not a loopback address; "
                "pass allow_remote=True (--allow-remote) to do it anyway"
            )
        if not 0 <= port <= 65535:
            raise ValueError(f"Venue: port must be in [0, 65535], got {port}")
        if not idle_timeout_s > 0:
            raise ValueError(f"Venue: idle_timeout_s must be > 0, got {idle_timeout_s}")
        self.idle_timeout_s = idle_timeout_s
        self.host = host
        self._requested_port = port
        self.clock: VenueClock = clock if clock is not None else RealtimeClock()
        self.limits = limits or RateLimitConfig()
        self.usdt_balance = usdt_balance
        self.pump_interval_s = pump_interval_s
        info = load_usdm_exchange_info()
        info["rateLimits"] = self.limits.rate_limits_json()
        prices = start_prices or {
            s: p for s, p in DEFAULT_START_PRICES.items() if s in _symbols(info)
        }
        self.exchange = UsdmExchange(
            info, self.clock.now_ms, dialect=get_dialect(dialect), start_prices=prices
        )
        if feed == "synthetic":
            ticks = {
                s: r.price_filter.tick_size
                for s, r in self.exchange.rules.symbols.items()
                if r.price_filter is not None and s in prices
            }
            feed = SyntheticFeed(prices, seed=seed, tick_sizes=ticks)
        self.feed: Feed | None = feed
        self.spot_limits = spot_limits or SPOT_RATE_LIMITS
        spot_info = load_spot_exchange_info()
        spot_info["rateLimits"] = self.spot_limits.rate_limits_json()
        self.spot = SpotExchange(
            spot_info, self.clock.now_ms, start_prices=spot_start_prices, fees=spot_fees
        )
        self.spot_balances = dict(
            spot_balances
            if spot_balances is not None
            else {**DEFAULT_SPOT_BALANCES, "USDT": usdt_balance}
        )
        self.account: Account = self.exchange.create_account(
            usdt_balance, ed25519_public_key_pem=ed25519_public_key_pem
        )
        self.spot_account: SpotAccount = self._spot_account()
        self._app = create_app(
            self.exchange,
            limits=self.limits,
            advance_clock=self.clock.advance if isinstance(self.clock, SteppedClock) else None,
            pump=self.pump,
            on_reset=self._recreate_account,
            stream_queue_size=stream_queue_size,
            ws_heartbeat_s=ws_heartbeat_s,
            spot=self.spot,
            spot_limits=self.spot_limits,
        )
        self._runner: web.AppRunner | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._port: int | None = None
        self._bad_symbols: set[str] = set()

    # -- credentials and URLs ----------------------------------------------------------------

    @property
    def api_key(self) -> str:
        return self.account.api_key

    @property
    def api_secret(self) -> str:
        return self.account.api_secret

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("Venue: not started")
        return self._port

    @property
    def _netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self._netloc}"

    @property
    def ws_streams_url(self) -> str:
        """Give this to ``ConfigurationWebSocketStreams(stream_url=...)``: the SDK appends
        ``/stream`` and inserts ``/market``, ``/public``, ``/private``."""
        return f"ws://{self._netloc}"

    @property
    def ws_api_url(self) -> str:
        """The USD-M WebSocket API (``ConfigurationWebSocketAPI(stream_url=...)``)."""
        return f"ws://{self._netloc}/ws-fapi/v1"

    @property
    def spot_ws_api_url(self) -> str:
        """The Spot WebSocket API (``ConfigurationWebSocketAPI(stream_url=...)``)."""
        return f"ws://{self._netloc}/ws-api/v3"

    @property
    def spot_ws_streams_url(self) -> str:
        """Spot market streams: the Spot SDK appends ``/stream`` (→ ``/spot/stream``)."""
        return f"ws://{self._netloc}/spot"

    @property
    def context(self) -> VenueContext:
        return self._app[CONTEXT]

    @property
    def ws_fapi(self) -> WsFapi:
        """The USD-M WebSocket API's connections (``drop_connections()`` for fault tests)."""
        return self._app[WS_FAPI]

    def urls(self) -> dict[str, str]:
        return {
            "rest_url": self.rest_url,
            "ws_streams_url": self.ws_streams_url,
            "ws_api_url": self.ws_api_url,
            "spot_ws_api_url": self.spot_ws_api_url,
            "spot_ws_streams_url": self.spot_ws_streams_url,
            "api_key": self.api_key,
            "api_secret": self.api_secret,
        }

    def config_block(self) -> str:
        """What ``exitguard run`` needs to trade on this venue: the ``[manager]`` and ``[urls]``
        lines of an ``exitguard.toml`` and the environment (credentials never go in the file)."""
        return "\n".join(
            [
                "# exitguard.toml for this paper venue:",
                "[manager]",
                'venue = "external"',
                "[urls]",
                f'usdm_rest = "{self.rest_url}"',
                f'usdm_ws = "{self.ws_streams_url}"',
                f'usdm_ws_api = "{self.ws_api_url}"',
                f'spot_rest = "{self.rest_url}"',
                f'spot_ws_api = "{self.spot_ws_api_url}"',
                f'spot_ws_streams = "{self.spot_ws_streams_url}"',
                "# and in the environment of `exitguard run`:",
                f"# export EXECUTION_MODE=PAPER BINANCE_API_KEY={self.api_key} "
                f"BINANCE_API_SECRET={self.api_secret}",
            ]
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> Venue:
        if self._runner is not None:
            raise RuntimeError("Venue: already started")
        # Long queries (up to 64 KiB) reach the app and get a Binance body, not aiohttp's text 400.
        runner = make_runner(
            self._app,
            idle_timeout_s=self.idle_timeout_s,
            access_log=None,
            shutdown_timeout=2.0,
            max_line_size=65536,
            max_field_size=65536,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._requested_port, reuse_address=True)
            await site.start()
            server = site._server
            sockets: list[socket.socket] = list(getattr(server, "sockets", None) or [])
            if not sockets:
                raise RuntimeError("Venue: the server has no listening socket")
            self._port = int(sockets[0].getsockname()[1])
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.pump()
        self._pump_task = asyncio.get_running_loop().create_task(self._pump_loop())
        log.info("venue listening on %s", self.rest_url)
        return self

    async def stop(self) -> None:
        task, self._pump_task = self._pump_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Venue:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- time and prices ---------------------------------------------------------------------

    def pump(self) -> None:
        """Apply every feed step due by now, then expire what is due (GTD orders, listen keys)."""
        if self.feed is not None:
            for step in self.feed.steps_until(self.clock.now_ms()):
                usdm = step.symbol in self.exchange.markets
                spot = step.symbol in self.spot.markets and step.last is not None
                try:
                    if usdm or not spot:
                        self.exchange.on_price(step.symbol, step.last, step.mark)
                    if spot:
                        self.spot.on_price(step.symbol, step.last, step.qty)
                except VenueError as err:
                    if step.symbol not in self._bad_symbols:
                        self._bad_symbols.add(step.symbol)
                        log.warning("feed step for %s refused: %s", step.symbol, err)
        self.exchange.tick_time()
        self.spot.tick_time()

    def advance(self, ms: int) -> int:
        """Step a :class:`SteppedClock` by ``ms`` and apply what became due; returns the time."""
        if not isinstance(self.clock, SteppedClock):
            raise TypeError("Venue.advance needs a SteppedClock")
        now = self.clock.advance(ms)
        self.pump()
        return now

    def set_price(
        self, symbol: str, last: Decimal | None = None, mark: Decimal | None = None
    ) -> None:
        self.exchange.on_price(symbol, last, mark)

    def set_spot_price(self, symbol: str, last: Decimal, qty: Decimal | None = None) -> None:
        """A Spot trade at ``last`` (of ``qty``: resting orders fill up to it)."""
        self.spot.on_price(symbol, last, qty)

    async def _pump_loop(self) -> None:
        clock = self.clock
        while True:
            try:
                if isinstance(clock, SteppedClock):
                    await clock.sleep_ms(1)
                else:
                    await asyncio.sleep(self.pump_interval_s)
                self.pump()
            except asyncio.CancelledError:
                raise
            except Exception:  # a venue bug: keep the venue alive, say so loudly
                log.exception("venue pump failed")
                await asyncio.sleep(self.pump_interval_s)

    def _spot_account(self) -> SpotAccount:
        return self.spot.create_account(
            self.spot_balances,
            api_key=self.account.api_key,
            api_secret=self.account.api_secret,
            ed25519_public_key_pem=self.account.ed25519_public_key_pem,
        )

    def _recreate_account(self) -> None:
        """After a reset the venue's own accounts exist again, with the same credentials."""
        self.account = self.exchange.create_account(
            self.usdt_balance,
            api_key=self.account.api_key,
            api_secret=self.account.api_secret,
            ed25519_public_key_pem=self.account.ed25519_public_key_pem,
        )
        self.spot_account = self._spot_account()


def _symbols(info: dict[str, Any]) -> set[str]:
    return {s["symbol"] for s in info.get("symbols", []) if isinstance(s, dict)}
