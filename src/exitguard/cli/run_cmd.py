"""``exitguard run``, ``plan`` and ``status``: wiring only (config -> venue -> manager)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from exitguard.config import Config, ConfigError, load_config
from exitguard.config.modes import UrlKey
from exitguard.domain.enums import Product
from exitguard.logs import configure_logging, get_logger
from exitguard.manager.ops import UsdmOps
from exitguard.manager.runtime import Connection, build_manager, connection_from_config
from exitguard.store.exits import ExitStore

__all__ = ["embedded_connection", "load_or_exit", "plan_command", "run_command", "status_command"]

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="exitguard.toml (default: ./exitguard.toml if present)."),
]


def load_or_exit(path: Path | None) -> Config:
    """The validated config, or every problem printed with its path and exit code 1/2."""
    if path is None and Path("exitguard.toml").exists():
        path = Path("exitguard.toml")
    try:
        return load_config(path, os.environ)
    except ConfigError as exc:
        console = Console(stderr=True)
        for issue in exc.issues:
            console.print(f"[red]config[/red] {issue}")
        raise typer.Exit(2 if type(exc).__name__ == "ConfigFileError" else 1) from None


@contextlib.asynccontextmanager
async def embedded_connection(config: Config) -> AsyncIterator[tuple[Connection, Any]]:
    """Start the embedded paper venue (loopback) and yield its URLs and keys."""
    from exitguard.venue.server import Venue  # the CLI wires the venue; the manager never does

    settings = config.embedded_venue
    feed: Any = "synthetic" if settings.feed == "synthetic" else None
    usdt = settings.balances.get("USDT")
    kwargs: dict[str, Any] = {"seed": settings.seed, "feed": feed, "port": settings.port}
    if usdt is not None:
        kwargs["usdt_balance"] = usdt
    if settings.start_prices:
        kwargs["start_prices"] = dict(settings.start_prices)
    async with Venue(**kwargs) as venue:
        urls = {
            UrlKey.USDM_REST: venue.rest_url,
            UrlKey.USDM_WS: venue.ws_streams_url,
            UrlKey.SPOT_REST: venue.rest_url,
            UrlKey.SPOT_WS_API: venue.spot_ws_api_url,
        }
        yield Connection(urls, venue.api_key, venue.api_secret), venue


@contextlib.asynccontextmanager
async def _connection(config: Config) -> AsyncIterator[tuple[Connection, Any]]:
    if config.venue == "embedded":
        async with embedded_connection(config) as pair:
            yield pair
    else:
        yield connection_from_config(config), None


def log_event(log: Any, kind: str, data: dict[str, Any]) -> None:
    """A manager notice at its level: anything that may leave a position bare is loud."""
    from exitguard.manager.health import event_level

    level = logging.getLevelName(event_level(kind)).lower()
    getattr(log, level)(kind, **data)


async def _run(config: Config) -> None:
    log = get_logger("exitguard.run")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with _connection(config) as (conn, venue):
        manager = build_manager(
            config,
            conn,
            crash_at=os.environ.get("EXITGUARD_CRASH_AT") or None,
            on_event=lambda kind, data: log_event(log, kind, data),
        )
        await manager.start()
        ready = {
            # Honest: every scope hydrated and every managed position protected right now.
            "ready": manager.ready(),
            "protected": manager.protected(),
            "scopes": {p.value: s.state.value for p, s in manager.scopes.items()},
            "mode": config.mode.value,
            "products": [p.value for p in manager.scopes],
            "venue": "embedded" if venue is not None else config.venue,
            "state_db": str(config.state_db),
        }
        if venue is not None:
            ready["rest_url"] = venue.rest_url
        print(json.dumps(ready), flush=True)
        try:
            await stop.wait()
        finally:
            await manager.stop()
            manager.store.close()


def run_command(config: ConfigOption = None) -> None:
    """Run the exit manager (default mode DRY_RUN_PRIVATE: nothing is ever sent)."""
    cfg = load_or_exit(config)
    configure_logging()
    for warning in cfg.warnings:
        get_logger("exitguard.config").warning("config warning", issue=str(warning))
    asyncio.run(_run(cfg))


async def _plan(config: Config) -> list[dict[str, Any]]:
    async with _connection(config) as (conn, _venue):
        manager = build_manager(config, conn)
        # Plan on a copy of the store with no mutating client: nothing is sent or written.
        manager.store.close()
        copy = ExitStore.copy_of(config.state_db)
        for scope in manager.scopes.values():
            scope.store = copy
            if isinstance(scope.ops, UsdmOps):
                scope.ops.trader = None
        out: list[dict[str, Any]] = []
        for product, scope in manager.scopes.items():
            await scope.recover("plan")
            for action in scope.stats.last_actions:
                row: dict[str, Any] = {
                    "product": product.value,
                    "action": type(action).__name__,
                    "slot": action.slot.text(),
                    "reason": action.reason,
                }
                request = getattr(action, "request", None)
                if request is not None:
                    row["params"] = request.to_params()
                out.append(row)
            await scope.ops.reader.close() if isinstance(scope.ops, UsdmOps) else None
        copy.close()
        return out


def plan_command(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """One planning pass: print the actions the manager would take; change nothing."""
    cfg = load_or_exit(config)
    actions = asyncio.run(_plan(cfg))
    if as_json:
        print(json.dumps(actions, indent=2))
        return
    table = Table(title=f"plan ({cfg.mode.value})")
    for col in ("action", "slot", "request", "reason"):
        table.add_column(col)
    for a in actions:
        params = a.get("params", {})
        summary = " ".join(f"{k}={v}" for k, v in params.items() if k != "algoType")
        table.add_row(a["action"], a["slot"], summary, a["reason"])
    Console().print(table if actions else "nothing to do: every managed position is protected")


def status_command(config: ConfigOption = None) -> None:
    """Positions' exit slots, their exits and states, and the recovery state, from the store."""
    cfg = load_or_exit(config)
    store = ExitStore.copy_of(cfg.state_db)
    console = Console()
    scopes = store.scope_states()
    table = Table(title=f"exits in {cfg.state_db}")
    for col in ("slot", "client id", "kind", "side", "qty", "status", "reason"):
        table.add_column(col)
    for row in store.rows(account=cfg.account):
        table.add_row(
            row.slot.text(),
            row.client_id,
            row.kind.value,
            row.side.value,
            "close" if row.quantity is None else str(row.quantity),
            row.status.value,
            row.reason[:60],
        )
    console.print(table)
    states = Table(title="scopes")
    states.add_column("scope")
    states.add_column("state")
    for product in Product:
        key = f"{cfg.account}/{product.value}"
        states.add_row(key, scopes.get(key, "never started"))
    console.print(states)
    holds = store.holds()
    if holds:
        held = Table(title="held slots (no action until the position changes)")
        held.add_column("slot")
        held.add_column("reason")
        for slot, (_fp, reason) in sorted(holds.items()):
            held.add_row(slot, reason)
        console.print(held)
    store.close()
