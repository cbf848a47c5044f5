"""Build a running :class:`ExitManager` from a validated :class:`~exitguard.config.Config`.

The mutating client is constructed only when the mode allows sending at all (the gate's
``preflight``): in DRY_RUN_PRIVATE no trader object exists, so no code path can mutate. Every
mutating request then passes the gate's per-request ``check`` (loopback for PAPER, official or
overridden URLs, the notional cap) through :class:`ScopeConfig.gate`.

The embedded paper venue is started by the CLI (which wires parts together), not here: the
manager never imports the venue (design: dependency rules). It receives the venue's URLs and
keys as a :class:`Connection`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exitguard.adapters.spot_reader import SdkSpotReader
from exitguard.adapters.spot_trader import SdkSpotTrader
from exitguard.adapters.usdm_reader import SdkUsdmReader
from exitguard.adapters.usdm_trader import SdkUsdmTrader
from exitguard.adapters.usdm_ws import WsUsdmTrader
from exitguard.config import Config
from exitguard.config.modes import UrlKey
from exitguard.domain.dialect import get_dialect
from exitguard.domain.enums import Product
from exitguard.logs import register_secret
from exitguard.store.exits import ExitStore

from .ops import ProductOps, UsdmOps
from .scope import ScopeConfig
from .service import ExitManager
from .spot_ops import SpotOps

__all__ = ["Connection", "build_manager", "connection_from_config"]


@dataclass(frozen=True, slots=True)
class Connection:
    """Where the manager reads and sends, and with which credentials (never logged)."""

    urls: dict[UrlKey, str]
    api_key: str
    api_secret: str | None = None
    private_key_file: str | None = None
    private_key_passphrase: str | None = None

    def __repr__(self) -> str:
        return f"Connection(urls={ {k.value: v for k, v in self.urls.items()} })"


def connection_from_config(config: Config) -> Connection:
    """The configured (non-embedded) venue: URLs from the config, credentials from the env."""
    creds = config.credentials
    if creds is None:
        raise ValueError(
            "credentials: BINANCE_API_KEY with BINANCE_API_SECRET or BINANCE_PRIVATE_KEY_FILE "
            "must be set in the environment to read private state"
        )
    return Connection(
        urls={k: v for k, v in config.endpoints.items()},
        api_key=creds.api_key,
        api_secret=creds.api_secret,
        private_key_file=str(creds.private_key_file) if creds.private_key_file else None,
        private_key_passphrase=creds.private_key_passphrase,
    )


def _gate(
    config: Config, targets: dict[Product, str]
) -> Callable[[Product, str, Decimal], str | None]:
    gate = config.mutation_gate()

    def check(product: Product, symbol: str, notional: Decimal) -> str | None:
        # Each product's requests go to its own REST URL: the gate checks that one.
        target = targets.get(product, "")
        decision = gate.check(product=product, symbol=symbol, notional=notional, target_url=target)
        return None if decision.allowed else decision.reason

    return check


def build_manager(
    config: Config,
    conn: Connection,
    *,
    crash_at: str | None = None,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
) -> ExitManager:
    """The manager for ``config`` over ``conn`` (see the module docstring for the gates)."""
    for secret in (conn.api_key, conn.api_secret, conn.private_key_passphrase):
        if secret:
            register_secret(secret)
    ops: list[ProductOps] = []
    sends = config.mutation_gate().preflight().allowed
    rest = conn.urls.get(UrlKey.USDM_REST, "")
    spot_rest = conn.urls.get(UrlKey.SPOT_REST, "")
    usdm_ws_api = conn.urls.get(UrlKey.USDM_WS_API, "")
    ws_api = config.usdm_transport == "ws_api"
    # The gate checks the URL the changing requests really go to.
    targets = {Product.USDM: usdm_ws_api if ws_api else rest, Product.SPOT: spot_rest}
    store = ExitStore(config.state_db)
    key_kw: dict[str, Any] = {
        "api_key": conn.api_key,
        "api_secret": conn.api_secret,
        "private_key": conn.private_key_file,
        "private_key_passphrase": conn.private_key_passphrase,
    }
    if Product.USDM in config.products:
        reader = SdkUsdmReader(
            rest_url=rest, ws_streams_url=conn.urls.get(UrlKey.USDM_WS, ""), **key_kw
        )
        trader: SdkUsdmTrader | None = None
        if sends and ws_api:
            trader = WsUsdmTrader(rest_url=rest, ws_api_url=usdm_ws_api, **key_kw)
        elif sends:
            trader = SdkUsdmTrader(rest_url=rest, **key_kw)
        ops.append(UsdmOps(reader, trader))
    if Product.SPOT in config.products:
        try:
            spot_reader = SdkSpotReader(
                rest_url=spot_rest,
                ws_api_url=conn.urls.get(UrlKey.SPOT_WS_API, ""),
                stream_auth=config.spot_stream_auth,
                **key_kw,
            )
        except ValueError as exc:
            if "stream_auth" in str(exc):  # name the setting the user wrote
                raise ValueError(f"manager.spot_stream_auth: {exc}") from exc
            raise
        spot_trader = SdkSpotTrader(rest_url=spot_rest, **key_kw) if sends else None
        # The holdings to protect are the base assets of the configured symbols (all USDT
        # pairs when manager.symbols.spot is unset).
        ops.append(SpotOps(spot_reader, spot_trader, config.symbols.get(Product.SPOT), store))

    def policy_for(product: Product, symbol: str) -> Any:
        return config.policy_for(product, symbol) if config.manages(product, symbol) else None

    scope_config = ScopeConfig(
        account=config.account,
        policy_for=policy_for,
        gate=_gate(config, targets),
        crash_at=crash_at,
        dialect=get_dialect(config.dialect),
    )
    return ExitManager(ops, store, scope_config, on_event=on_event)
