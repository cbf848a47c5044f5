"""Execution modes, the official Binance base URLs per mode, and the one gate for mutations.

Design ("Execution modes"): DRY_RUN_PRIVATE (default) never sends a mutating request and does not
even construct the mutating client; PAPER sends only to a loopback paper venue; DEMO / TESTNET /
LIVE send to Binance only after every gate passes: the mode was set in the *environment* (a file
alone cannot arm a sending mode), credentials came from the environment, the target is an endpoint
of that mode (official or explicitly overridden), LIVE carries its extra confirmation, and the
request's notional is under the configured cap.

Pure data and decisions: no I/O, and no import of the venue (config must not depend on it), so the
loopback rule of ``exitguard.venue.server.is_loopback`` is restated in :func:`is_loopback_url`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from urllib.parse import urlsplit

from exitguard.domain.enums import Product

__all__ = [
    "LIVE_CONFIRMATION_TEXT",
    "MUTATING_URL_KEYS",
    "OFFICIAL_URLS",
    "PRODUCT_URL_KEYS",
    "URL_ENV_VARS",
    "Endpoints",
    "ExecutionMode",
    "GateDecision",
    "GateSettings",
    "MutationGate",
    "UrlKey",
    "is_loopback_host",
    "is_loopback_url",
    "url_origin",
]

# The exact text EXITGUARD_LIVE_CONFIRM must hold in LIVE mode. A sentence rather than "1"/"yes"
# so that it cannot be set by accident or by a generic "enable everything" script.
LIVE_CONFIRMATION_TEXT = "I understand this sends real orders"


class ExecutionMode(StrEnum):
    """Where mutating requests go (design: Execution modes)."""

    DRY_RUN_PRIVATE = "DRY_RUN_PRIVATE"
    PAPER = "PAPER"
    DEMO = "DEMO"
    TESTNET = "TESTNET"
    LIVE = "LIVE"

    @property
    def constructs_trader(self) -> bool:
        """False only for DRY_RUN_PRIVATE: there the mutating client must never be built."""
        return self is not ExecutionMode.DRY_RUN_PRIVATE

    @property
    def sends_to_binance(self) -> bool:
        """DEMO, TESTNET and LIVE: the modes with every gate (env mode, credentials, cap)."""
        return self in _BINANCE_MODES

    @classmethod
    def parse(cls, text: str) -> ExecutionMode:
        """Case-insensitive; raises ``ValueError`` naming the allowed values."""
        try:
            return cls(text.strip().upper())
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            raise ValueError(f"must be one of {allowed}, got {text!r}") from None


_BINANCE_MODES = frozenset({ExecutionMode.DEMO, ExecutionMode.TESTNET, ExecutionMode.LIVE})


class UrlKey(StrEnum):
    """The base URLs exitguard uses; the value is the key in the ``[urls]`` table."""

    USDM_REST = "usdm_rest"
    USDM_WS = "usdm_ws"  # USD-M WebSocket streams (market + user data)
    USDM_WS_API = "usdm_ws_api"  # USD-M WebSocket API (order methods; [usdm] transport)
    SPOT_REST = "spot_rest"
    SPOT_WS_API = "spot_ws_api"  # Spot WebSocket API (user data subscription, order methods)
    SPOT_WS_STREAMS = "spot_ws_streams"

    @property
    def is_websocket(self) -> bool:
        return self is not UrlKey.USDM_REST and self is not UrlKey.SPOT_REST


URL_ENV_VARS: Mapping[UrlKey, str] = MappingProxyType(
    {
        UrlKey.USDM_REST: "EXITGUARD_USDM_REST_URL",
        UrlKey.USDM_WS: "EXITGUARD_USDM_WS_URL",
        UrlKey.USDM_WS_API: "EXITGUARD_USDM_WS_API_URL",
        UrlKey.SPOT_REST: "EXITGUARD_SPOT_REST_URL",
        UrlKey.SPOT_WS_API: "EXITGUARD_SPOT_WS_API_URL",
        UrlKey.SPOT_WS_STREAMS: "EXITGUARD_SPOT_WS_STREAMS_URL",
    }
)

# Which URLs a product needs to run at all.
PRODUCT_URL_KEYS: Mapping[Product, tuple[UrlKey, ...]] = MappingProxyType(
    {
        Product.USDM: (UrlKey.USDM_REST, UrlKey.USDM_WS),
        Product.SPOT: (UrlKey.SPOT_REST, UrlKey.SPOT_WS_API, UrlKey.SPOT_WS_STREAMS),
    }
)

# Which URLs may carry a *mutating* request per product: streams never do, so a request aimed at a
# stream host is refused even in LIVE.
MUTATING_URL_KEYS: Mapping[Product, tuple[UrlKey, ...]] = MappingProxyType(
    {
        Product.USDM: (UrlKey.USDM_REST, UrlKey.USDM_WS_API),
        Product.SPOT: (UrlKey.SPOT_REST, UrlKey.SPOT_WS_API),
    }
)

# Official base URLs per sending mode (reference/binance-api.md §5.1 SDK constants and §6).
# - LIVE: the SDK's *_PROD_URL constants.
# - TESTNET: the SDK's *_TESTNET_URL constants. Binance's USD-M general-info page (Apr 2026) points
#   USD-M "testnet" REST at demo-fapi.binance.com instead (§6); that host is DEMO here, and either
#   can be chosen explicitly with EXITGUARD_USDM_REST_URL.
# - DEMO: SDK *_DEMO_URL constants. The SDK has no USD-M demo stream constant; §6 lists
#   fstream.binancefuture.com (python-binance) and demo-fstream.binance.com (nautilus) as
#   candidates. We use the former, which the SDK's testnet constant also names; override if needed.
OFFICIAL_URLS: Mapping[ExecutionMode, Mapping[UrlKey, str]] = MappingProxyType(
    {
        ExecutionMode.LIVE: MappingProxyType(
            {
                UrlKey.USDM_REST: "https://fapi.binance.com",
                UrlKey.USDM_WS: "wss://fstream.binance.com",
                UrlKey.USDM_WS_API: "wss://ws-fapi.binance.com/ws-fapi/v1",
                UrlKey.SPOT_REST: "https://api.binance.com",
                UrlKey.SPOT_WS_API: "wss://ws-api.binance.com:443/ws-api/v3",
                UrlKey.SPOT_WS_STREAMS: "wss://stream.binance.com:9443",
            }
        ),
        ExecutionMode.TESTNET: MappingProxyType(
            {
                UrlKey.USDM_REST: "https://testnet.binancefuture.com",
                UrlKey.USDM_WS: "wss://fstream.binancefuture.com",
                UrlKey.USDM_WS_API: "wss://testnet.binancefuture.com/ws-fapi/v1",
                UrlKey.SPOT_REST: "https://testnet.binance.vision",
                UrlKey.SPOT_WS_API: "wss://ws-api.testnet.binance.vision/ws-api/v3",
                UrlKey.SPOT_WS_STREAMS: "wss://stream.testnet.binance.vision",
            }
        ),
        ExecutionMode.DEMO: MappingProxyType(
            {
                UrlKey.USDM_REST: "https://demo-fapi.binance.com",
                UrlKey.USDM_WS: "wss://fstream.binancefuture.com",
                UrlKey.USDM_WS_API: "wss://testnet.binancefuture.com/ws-fapi/v1",
                UrlKey.SPOT_REST: "https://demo-api.binance.com",
                UrlKey.SPOT_WS_API: "wss://demo-ws-api.binance.com/ws-api/v3",
                UrlKey.SPOT_WS_STREAMS: "wss://demo-stream.binance.com:9443",
            }
        ),
    }
)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1).

    The same rule as ``exitguard.venue.server.is_loopback`` (restated: config must not import the
    venue). Names other than ``localhost`` are refused even if they would resolve to loopback,
    because resolution can change between the check and the connection.
    """
    name = host.strip().lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is loopback (see :func:`is_loopback_host`); False if unparsable."""
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return False
    return host is not None and is_loopback_host(host)


_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def url_origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` with the default port filled in; None if not an absolute URL.

    Gates compare origins, not strings, so ``wss://ws-api.binance.com:443/ws-api/v3`` and
    ``wss://ws-api.binance.com/ws-api/v3`` are the same target, and ``https://fapi.binance.com``
    with an endpoint path appended still matches its base URL.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme]


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Resolved base URLs; ``None`` where a URL is not used (embedded venue, disabled product)."""

    usdm_rest: str | None = None
    usdm_ws: str | None = None
    spot_rest: str | None = None
    spot_ws_api: str | None = None
    spot_ws_streams: str | None = None
    usdm_ws_api: str | None = None

    def get(self, key: UrlKey) -> str | None:
        value: str | None = getattr(self, key.value)
        return value

    def items(self) -> list[tuple[UrlKey, str]]:
        """The URLs that are set, in :class:`UrlKey` order."""
        return [(k, v) for k in UrlKey if (v := self.get(k)) is not None]

    @classmethod
    def from_mapping(cls, urls: Mapping[UrlKey, str]) -> Endpoints:
        return cls(**{k.value: v for k, v in urls.items()})


@dataclass(frozen=True, slots=True)
class GateDecision:
    """``allowed`` plus the reason, which is logged and journaled either way."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True, slots=True)
class GateSettings:
    """Everything the gate decides from; ``Config.mutation_gate()`` fills it in."""

    mode: ExecutionMode
    mode_from_env: bool  # EXECUTION_MODE was set in the environment (not only in the file)
    credentials_present: bool  # from the environment; values never reach the gate
    live_confirmed: bool  # EXITGUARD_LIVE_CONFIRM == LIVE_CONFIRMATION_TEXT
    notional_cap: Decimal | None  # per request, in the symbol's quote currency
    endpoints: Endpoints = field(default_factory=Endpoints)
    products: frozenset[Product] = frozenset(Product)
    # None = every symbol of the product is managed; otherwise only these.
    symbols: Mapping[Product, frozenset[str] | None] = field(default_factory=dict)


class MutationGate:
    """The single decision point for every mutating request (place, cancel, replace).

    ``preflight()`` answers "may a mutating client exist at all?" (the manager asks it before
    constructing a trader); ``check()`` answers it for one candidate request. Both return a
    :class:`GateDecision` with a reason that names the rule, never a secret.
    """

    __slots__ = ("_allowed_origins", "settings")

    def __init__(self, settings: GateSettings) -> None:
        self.settings = settings
        origins: dict[Product, frozenset[tuple[str, str, int]]] = {}
        for product, keys in MUTATING_URL_KEYS.items():
            found = set()
            for key in keys:
                url = settings.endpoints.get(key)
                origin = url_origin(url) if url is not None else None
                if origin is not None:
                    found.add(origin)
            origins[product] = frozenset(found)
        self._allowed_origins = origins

    @property
    def mode(self) -> ExecutionMode:
        return self.settings.mode

    def preflight(self) -> GateDecision:
        """The mode-level gates, independent of any particular request."""
        s = self.settings
        if s.mode is ExecutionMode.DRY_RUN_PRIVATE:
            return _refuse(
                "DRY_RUN_PRIVATE never sends mutating requests (the mutating client is not "
                "constructed); set EXECUTION_MODE to PAPER, DEMO, TESTNET or LIVE to send"
            )
        if s.mode is ExecutionMode.PAPER:
            return _allow("PAPER: requests go to a loopback paper venue only")
        name = s.mode.value
        if not s.mode_from_env:
            return _refuse(
                f"mode {name} comes only from the config file; DEMO, TESTNET and LIVE must be set "
                f"explicitly in the environment (EXECUTION_MODE={name})"
            )
        if not s.credentials_present:
            return _refuse(
                f"mode {name} needs credentials from the environment: BINANCE_API_KEY with "
                "BINANCE_API_SECRET or BINANCE_PRIVATE_KEY_FILE"
            )
        if s.mode is ExecutionMode.LIVE and not s.live_confirmed:
            return _refuse(
                "LIVE needs the explicit confirmation EXITGUARD_LIVE_CONFIRM="
                f"{LIVE_CONFIRMATION_TEXT!r}"
            )
        if s.notional_cap is None:
            return _refuse(
                f"mode {name} sends only under a per-request notional cap; set "
                "manager.notional_cap in the config file"
            )
        return _allow(f"{name}: every mode gate passes")

    def check(
        self, *, product: Product, symbol: str, notional: Decimal, target_url: str
    ) -> GateDecision:
        """Allow or refuse one mutating request.

        ``notional`` is in the symbol's quote currency: quantity x price for a quantity-based
        order, the position's notional for a closePosition exit, 0 for a cancel.
        """
        first = self.preflight()
        if not first.allowed:
            return first
        s = self.settings
        if product not in s.products:
            return _refuse(f"product {product.value} is not enabled in manager.products")
        managed = s.symbols.get(product)
        if managed is not None and symbol not in managed:
            return _refuse(
                f"symbol {symbol!r} is not managed (manager.symbols.{product.value} lists "
                f"{', '.join(sorted(managed)) or 'none'})"
            )
        origin = url_origin(target_url)
        if origin is None:
            return _refuse(
                f"target URL {_short(target_url)!r} is not an absolute http(s)/ws(s) URL"
            )
        if s.mode is ExecutionMode.PAPER:
            if not is_loopback_host(origin[1]):
                return _refuse(
                    f"PAPER sends only to a loopback paper venue (127.0.0.0/8, ::1, localhost); "
                    f"refusing host {origin[1]!r}"
                )
            return _allow(f"PAPER: loopback target {origin[1]}")
        if origin not in self._allowed_origins[product]:
            allowed = sorted(f"{sc}://{h}:{p}" for sc, h, p in self._allowed_origins[product])
            return _refuse(
                f"target {origin[0]}://{origin[1]}:{origin[2]} is not a {s.mode.value} "
                f"{product.value} endpoint (allowed: {', '.join(allowed) or 'none'}); "
                f"override it with {' or '.join(URL_ENV_VARS[k] for k in MUTATING_URL_KEYS[product])}"
            )
        if not isinstance(notional, Decimal) or not notional.is_finite():
            return _refuse(f"notional must be a finite Decimal, got {notional!r}")
        if notional < 0:
            return _refuse(f"notional must be >= 0, got {notional}")
        cap = s.notional_cap
        assert cap is not None  # preflight refused otherwise
        if notional > cap:
            return _refuse(
                f"notional {notional} exceeds the per-request cap {cap} (manager.notional_cap)"
            )
        return _allow(f"{s.mode.value}: notional {notional} <= cap {cap}, target {origin[1]}")


def _allow(reason: str) -> GateDecision:
    return GateDecision(True, reason)


def _refuse(reason: str) -> GateDecision:
    return GateDecision(False, reason)


def _short(text: str, limit: int = 80) -> str:
    # A refused URL is echoed so the operator can see it, but bounded (it may be garbage).
    return text if len(text) <= limit else text[: limit - 3] + "..."
