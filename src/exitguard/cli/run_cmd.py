"""``exitguard run`` and ``plan``: wiring only (config -> store checks -> venue -> manager).

Also what every store-reading command shares (``status`` too): loading the config, and ending
with one line and exit code 2 when the store cannot be used (:func:`store_refusals`). The
manager, and the Binance SDKs under it, are imported only when ``run`` or ``plan`` needs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from exitguard.cli.tables import Col, Rows
from exitguard.config import Config, ConfigError, load_config
from exitguard.config.loader import default_state_db
from exitguard.config.modes import ExecutionMode, UrlKey
from exitguard.logs import LOG_FORMATS, LOG_LEVELS, configure_logging, get_logger
from exitguard.store.safety import (
    RunLock,
    StoreUnavailable,
    check_store_file,
    copy_into,
    unavailable,
)

if TYPE_CHECKING:  # the manager (and the SDKs under it) load only for run and plan
    from exitguard.manager.runtime import Connection
    from exitguard.manager.service import ExitManager

__all__ = [
    "embedded_connection",
    "load_or_exit",
    "plan_command",
    "plan_manager",
    "refuse",
    "run_command",
    "store_refusals",
]

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="exitguard.toml (default: ./exitguard.toml if present)."),
]


def load_or_exit(path: Path | None) -> Config:
    """The validated config, or every problem printed with its path and exit code 2 (a usage or
    config error: the command did not start)."""
    if path is None and Path("exitguard.toml").exists():
        path = Path("exitguard.toml")
    try:
        return load_config(path, os.environ)
    except ConfigError as exc:
        from rich.markup import escape

        console = Console(stderr=True)
        for issue in exc.issues:
            # escape: "[[notifications.webhook]]" in a message is text, not rich markup
            console.print(f"[red]config[/red] {escape(str(issue))}")
        raise typer.Exit(2) from None


def refuse(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, no traceback, exit ``code``."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    raise typer.Exit(code)


@contextlib.contextmanager
def store_refusals(config: Config) -> Iterator[None]:
    """A store that cannot be used ends the command with its one-line reason and exit code 2."""
    try:
        yield
    except StoreUnavailable as exc:
        refuse(str(exc))
    except sqlite3.Error as exc:  # only the store speaks SQLite: name it, whatever failed
        refuse(str(unavailable(config.state_db, exc)))


@contextlib.asynccontextmanager
async def embedded_connection(config: Config) -> AsyncIterator[tuple[Connection, Any]]:
    """Start the embedded paper venue (loopback) and yield its URLs and keys."""
    from exitguard.manager.runtime import Connection
    from exitguard.venue.server import Venue  # the CLI wires the venue; the manager never does

    settings = config.embedded_venue
    feed: Any = "synthetic" if settings.feed == "synthetic" else None
    usdt = settings.balances.get("USDT")
    kwargs: dict[str, Any] = {
        "seed": settings.seed,
        "feed": feed,
        "port": settings.port,
        "dialect": settings.dialect,
    }
    if usdt is not None:
        kwargs["usdt_balance"] = usdt
    if settings.start_prices:
        kwargs["start_prices"] = dict(settings.start_prices)
    async with Venue(**kwargs) as venue:
        urls = {
            UrlKey.USDM_REST: venue.rest_url,
            UrlKey.USDM_WS: venue.ws_streams_url,
            UrlKey.USDM_WS_API: venue.ws_api_url,
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
        from exitguard.manager.runtime import connection_from_config

        yield connection_from_config(config), None


def log_event(log: Any, kind: str, data: dict[str, Any]) -> None:
    """A manager notice at its level: anything that may leave a position bare is loud."""
    from exitguard.manager.health import event_level

    level = logging.getLevelName(event_level(kind)).lower()
    getattr(log, level)(kind, **data)


async def _run(config: Config) -> None:
    from exitguard.manager.runtime import build_manager

    # Bound once: logging is configured by now, and a bound logger skips structlog's
    # per-call proxy binding on the event path (every manager notice is logged).
    log = get_logger("exitguard.run").bind()
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
        venue_label = "embedded" if venue is not None else config.venue
        # The service first, so the page and /health answer while the scopes hydrate.
        service, api_error = await _start_service(config, manager, venue_label, log)
        await manager.start()
        if service is not None:
            manager.emit(
                "manager_started",
                mode=config.mode.value,
                products=[p.value for p in manager.scopes],
                venue=venue_label,
            )
        ready = {
            # Honest: every scope hydrated and every managed position protected right now.
            "ready": manager.ready(),
            "protected": manager.protected(),
            "scopes": {p.value: s.state.value for p, s in manager.scopes.items()},
            "mode": config.mode.value,
            "products": [p.value for p in manager.scopes],
            "venue": "embedded" if venue is not None else config.venue,
            "state_db": str(config.state_db),
            # Which settings are in force: a file, or the built-in defaults when none was found.
            "config": str(config.source) if config.source is not None else "built-in defaults",
        }
        if venue is not None:
            ready["rest_url"] = venue.rest_url
        ready["api"] = None if service is None else service.info()
        if api_error is not None:
            ready["api_error"] = api_error
        print(json.dumps(ready), flush=True)
        try:
            await stop.wait()
        finally:
            if service is not None:
                await service.stop("signal")
            await manager.stop()
            manager.store.close()


async def _start_service(
    config: Config, manager: ExitManager, venue: str, log: Any
) -> tuple[Any, str | None]:
    """The API, page, metrics and alerts ([api]); a failure to start is loud (ERROR, and the
    ready line's ``api_error``), never fatal: protection does not depend on the service."""
    if not config.api.enabled:
        return None, None
    from exitguard.service.auth import TokenError
    from exitguard.service.runtime import start_service

    try:
        return await start_service(config, manager, venue), None
    except TokenError as exc:
        reason = str(exc)
    except OSError as exc:
        where = f"{config.api.host}:{config.api.port}"
        reason = f"api: cannot listen on {where}: {exc.strerror or exc}"
    log.error("api not started", reason=reason)
    return None, reason


def _option(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value.lower() not in allowed:
        refuse(f"{name}: must be one of {', '.join(allowed)}; got {value!r}")
    return value.lower()


def _apply_mode_option(mode: str | None) -> None:
    """``--mode`` is the command-line form of ``EXECUTION_MODE`` (as explicit, so it may arm
    DEMO/TESTNET/LIVE; LIVE still needs its confirmation); a contradiction is refused."""
    if mode is None:
        return
    names = [m.value for m in ExecutionMode]
    wanted = mode.upper()
    if wanted not in names:
        refuse(f"--mode: must be one of {', '.join(names)}; got {mode!r}")
    current = os.environ.get("EXECUTION_MODE")
    if current and current.upper() != wanted:
        refuse(f"--mode {wanted} contradicts EXECUTION_MODE={current}: give one of them")
    os.environ["EXECUTION_MODE"] = wanted


def run_command(
    config: ConfigOption = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            metavar="DRY_RUN_PRIVATE|PAPER|DEMO|TESTNET|LIVE",
            help="The execution mode, as EXECUTION_MODE would set it.",
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", metavar="debug|info|warning|error", help="Log level.")
    ] = "info",
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            metavar="json|console",
            help="Default: console when stderr is a terminal, json otherwise.",
        ),
    ] = None,
) -> None:
    """Run the exit manager (default mode DRY_RUN_PRIVATE: nothing is ever sent)."""
    level = _option("--log-level", log_level, LOG_LEVELS)
    default_format = "console" if sys.stderr.isatty() else "json"
    fmt = _option("--log-format", log_format or default_format, LOG_FORMATS)
    _apply_mode_option(mode)
    cfg = load_or_exit(config)
    for problem in cfg.run_problems():
        refuse(f"exitguard run: {problem}")  # before anything starts: the first one, one line
    with store_refusals(cfg), contextlib.ExitStack() as stack:
        # Before the venue starts or anything is read: a store that cannot be trusted or
        # written, or that another run holds, stops the run here, in one line.
        if cfg.source is None and cfg.state_db == default_state_db():
            cfg.state_db.parent.mkdir(parents=True, exist_ok=True)  # the user data directory
        check_store_file(cfg.state_db, write=True)
        if str(cfg.state_db) != ":memory:":
            stack.enter_context(RunLock(cfg.state_db))
        configure_logging(level=level, fmt=fmt, background=True)
        for warning in cfg.warnings:
            # Path and message apart: "env.BINANCE_API_KEY: TESTNET ..." as one string reads
            # to the redaction filter as a key name and its value, and would hide "TESTNET".
            get_logger("exitguard.config").warning(
                "config warning", setting=warning.path, issue=warning.message
            )
        asyncio.run(_run(cfg))


def plan_manager(config: Config, conn: Connection) -> ExitManager:
    """The manager for one planning pass, with a copy of the store and no trader at all.

    Built in DRY_RUN_PRIVATE whatever the configured mode (so no product gets a mutating
    client) over an in-memory store, which the builder hands to every scope and ops object;
    that one store is then filled with a read-only copy of the real file (``copy_into``).
    """
    from exitguard.manager.runtime import build_manager

    plan_config = dataclasses.replace(
        config, mode=ExecutionMode.DRY_RUN_PRIVATE, mode_source="default", state_db=Path(":memory:")
    )
    manager = build_manager(plan_config, conn)
    try:
        if any(getattr(s.ops, "trader", None) is not None for s in manager.scopes.values()):
            raise RuntimeError("plan: a product has a mutating client; refusing to plan")
        copy_into(manager.store, config.state_db)
    except BaseException:
        manager.store.close()
        raise
    return manager


async def _plan(config: Config) -> list[dict[str, Any]]:
    # Refuse a bad store before the venue starts; the pass itself runs on an in-memory copy.
    check_store_file(config.state_db, write=False)
    async with _connection(config) as (conn, _venue):
        manager = plan_manager(config, conn)
        out: list[dict[str, Any]] = []
        try:
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
        finally:
            for scope in manager.scopes.values():
                reader = getattr(scope.ops, "reader", None)
                if reader is not None:
                    with contextlib.suppress(Exception):
                        await reader.close()
            manager.store.close()
        return out


def plan_command(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """One planning pass: print the actions the manager would take; change nothing."""
    cfg = load_or_exit(config)
    if (problem := cfg.private_state_problem()) is not None:
        refuse(f"exitguard plan: {problem}")
    with store_refusals(cfg):
        actions = asyncio.run(_plan(cfg))
    if as_json:
        print(json.dumps(actions, indent=2))
        return
    if not actions:
        Console().print("nothing to do: every managed position is protected")
        return
    table = Rows(
        f"plan ({cfg.mode.value})",
        [Col("action"), Col("slot"), Col("request", min_width=24), Col("reason", min_width=16)],
    )
    for a in actions:
        params = a.get("params", {})
        summary = " ".join(f"{k}={v}" for k, v in params.items() if k != "algoType")
        table.add(a["action"], a["slot"], summary, a["reason"])
    table.print(Console())
