"""``exitguard venue serve``: run the paper venue (USD-M and Spot) until SIGINT/SIGTERM.

Prints exactly one JSON line to stdout once the server listens::

    {"rest_url": ..., "ws_streams_url": ..., "ws_api_url": ..., "api_key": ..., "api_secret": ...}

Spot shares the server and the key: REST on ``rest_url`` (``/api/v3``), the WebSocket API at
``ws://HOST:PORT/ws-api/v3`` and market streams at ``ws://HOST:PORT/spot`` (the Spot SDK's
``stream_url``). ``--ed25519-public-key FILE`` registers a PEM public key for the account, so
``session.logon`` works with the matching private key.

Logs go to stderr. Feeds: ``--feed synthetic`` (seeded random walk), ``--feed scripted FILE``
(CSV / JSON lines, see :class:`~exitguard.venue.feeds.ScriptedFeed`), ``--feed replay PATH``
(data.binance.vision files, comma-separated for several), ``--feed none`` (prices only through
the control API). Clocks: ``--clock realtime``, ``--clock accelerated X``, ``--clock stepped``
(moves only through ``POST /_venue/clock/advance``). A value may also be attached with a colon
(``--feed scripted:prices.csv``, ``--clock accelerated:10``), which is unambiguous when both need
one. A replay starts the accelerated/stepped clock (and a real-time one, then run at speed 1) at
the data's first timestamp.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from .clock import AcceleratedClock, RealtimeClock, SteppedClock, VenueClock
from .feeds import Feed, FeedError, ReplayFeed, ScriptedFeed
from .http_guard import DEFAULT_IDLE_TIMEOUT_S
from .server import Venue

__all__ = ["app", "serve"]

app = typer.Typer(
    name="venue",
    help="The Binance-compatible paper venue (USD-M and Spot) on loopback.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # click's plain help and one-line errors (cli/main.py)
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _venue() -> None:
    """The Binance-compatible paper venue (USD-M and Spot) on loopback."""


FEEDS = ("synthetic", "scripted", "replay", "none")
CLOCKS = ("realtime", "accelerated", "stepped")


def _split(value: str) -> tuple[str, str | None]:
    kind, sep, arg = value.partition(":")
    return kind.strip().lower(), (arg if sep else None)


def _is_factor(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


def _fail(msg: str) -> typer.Exit:
    typer.echo(f"exitguard venue serve: {msg}", err=True)
    return typer.Exit(2)


def _resolve(feed: str, clock: str, extra: list[str]) -> tuple[str, str | None, str, float | None]:
    """Kinds and arguments of ``--feed`` / ``--clock``, taking space-separated values from
    ``extra`` (the factor is the token that reads as a positive number)."""
    feed_kind, feed_arg = _split(feed)
    clock_kind, clock_arg = _split(clock)
    if feed_kind not in FEEDS:
        raise _fail(f"--feed must be one of {', '.join(FEEDS)}, got {feed_kind!r}")
    if clock_kind not in CLOCKS:
        raise _fail(f"--clock must be one of {', '.join(CLOCKS)}, got {clock_kind!r}")
    rest = list(extra)
    if clock_kind == "accelerated" and clock_arg is None:
        idx = next((i for i, t in enumerate(rest) if _is_factor(t)), None)
        if idx is None:
            raise _fail("--clock accelerated needs a speed factor, e.g. --clock accelerated 10")
        clock_arg = rest.pop(idx)
    if feed_kind in ("scripted", "replay") and feed_arg is None:
        if not rest:
            raise _fail(f"--feed {feed_kind} needs a path, e.g. --feed {feed_kind} FILE")
        feed_arg = rest.pop(0)
    if rest:
        raise _fail(f"unexpected argument(s): {' '.join(rest)}")
    factor = None
    if clock_kind == "accelerated":
        assert clock_arg is not None
        if not _is_factor(clock_arg):
            raise _fail(f"the accelerated clock's factor must be a number > 0, got {clock_arg!r}")
        factor = float(clock_arg)
    return feed_kind, feed_arg, clock_kind, factor


def _build_feed(kind: str, arg: str | None, symbol: str) -> Feed | None:
    if kind == "scripted":
        assert arg is not None
        return ScriptedFeed.from_file(Path(arg), symbol=symbol)
    if kind == "replay":
        assert arg is not None
        paths = [Path(p) for p in arg.split(",") if p]
        return ReplayFeed.from_paths(paths, symbol, "um")
    return None


def _build_clock(kind: str, factor: float | None, start_ms: int | None) -> VenueClock:
    if kind == "stepped":
        return SteppedClock(start_ms if start_ms is not None else time.time_ns() // 1_000_000)
    if kind == "accelerated":
        assert factor is not None
        return AcceleratedClock(factor, start_ms)
    if start_ms is not None:  # replaying history in "real time": speed 1 from the data's start
        return AcceleratedClock(1.0, start_ms)
    return RealtimeClock()


async def _serve(venue: Venue) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with venue:
        sys.stdout.write(json.dumps(venue.urls()) + "\n")  # one line for scripts
        sys.stdout.flush()
        sys.stderr.write(venue.config_block() + "\n")  # for a person: paste into the config
        sys.stderr.flush()
        await stop.wait()


@app.command("serve", context_settings={"allow_interspersed_args": True})
def serve(
    extra: Annotated[
        list[str] | None,
        typer.Argument(
            help="The value of --feed scripted/replay (FILE, PATH) and of --clock accelerated "
            "(X), when given after a space.",
            show_default=False,
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on (loopback only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.", min=0, max=65535)] = 0,
    feed: Annotated[
        str, typer.Option(help="synthetic | scripted FILE | replay PATH | none")
    ] = "synthetic",
    clock: Annotated[str, typer.Option(help="realtime | accelerated X | stepped")] = "realtime",
    dialect: Annotated[str, typer.Option(help="binance | primit")] = "binance",
    seed: Annotated[int, typer.Option(help="Seed of the synthetic feed.")] = 0,
    usdt: Annotated[str, typer.Option(help="USDT wallet of the venue's account.")] = "10000",
    symbol: Annotated[
        str, typer.Option(help="Symbol of a scripted/replay feed without a symbol column.")
    ] = "BTCUSDT",
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a non-loopback --host.")
    ] = False,
    ed25519_public_key: Annotated[
        Path | None,
        typer.Option(help="PEM file of an Ed25519 public key for the account (session.logon)."),
    ] = None,
    idle_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds a connection may stay idle or take to send its request head.",
            min=0.001,
        ),
    ] = DEFAULT_IDLE_TIMEOUT_S,
    log_level: Annotated[str, typer.Option(help="Log level on stderr.")] = "WARNING",
) -> None:
    """Serve the paper venue; print one JSON line with the URLs and credentials."""
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.WARNING),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    feed_kind, feed_arg, clock_kind, factor = _resolve(feed, clock, list(extra or []))
    try:
        balance = Decimal(usdt)
    except InvalidOperation:
        raise _fail(f"--usdt must be a decimal number, got {usdt!r}") from None
    if not balance.is_finite() or balance < 0:
        raise _fail(f"--usdt must be >= 0, got {usdt!r}")
    try:
        the_feed = _build_feed(feed_kind, feed_arg, symbol)
    except (FeedError, OSError, ValueError) as exc:
        raise _fail(f"--feed {feed_kind}: {exc}") from None
    pem = None
    if ed25519_public_key is not None:
        try:
            pem = ed25519_public_key.read_text()
        except OSError as exc:
            raise _fail(f"--ed25519-public-key: {exc}") from None
    start_ms = the_feed.start_ms if isinstance(the_feed, ReplayFeed) else None
    the_clock = _build_clock(clock_kind, factor, start_ms)
    try:
        venue = Venue(
            host,
            port,
            dialect=dialect,
            seed=seed,
            clock=the_clock,
            feed="synthetic" if feed_kind == "synthetic" else the_feed,
            usdt_balance=balance,
            allow_remote=allow_remote,
            ed25519_public_key_pem=pem,
            idle_timeout_s=idle_timeout,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        asyncio.run(_serve(venue))
    except OSError as exc:
        raise _fail(f"cannot listen on {host}:{port}: {exc}") from None
