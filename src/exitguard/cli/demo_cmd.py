"""``exitguard demo``: the README's main command. No network, no credentials, under a minute.

It starts the embedded paper venue on loopback, opens a USD-M long and buys Spot ETH, runs the
exit manager in PAPER mode through the official SDKs, and drives scripted price paths:
- USD-M BTCUSDT: the trailing stop activates, the price turns, the trailing stop fires, the
  position closes and the manager cancels the sibling take-profit (the venue expires the
  closePosition stop);
- Spot ETHUSDT: the holding gets one OCO (take-profit above, stop below); the price rises
  through the take-profit, that leg fills and the stop leg expires (OCO_TRIGGER).
Events are shown live; the run ends with a summary table and a PNG chart of prices, exit levels
and fills.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from exitguard.cli.tables import Col, Rows, at_step, bundled_steps
from exitguard.domain.enums import Product, Side
from exitguard.planner.policy import (
    Distance,
    ProtectionPolicy,
    StopLossPolicy,
    TakeProfitPolicy,
    TrailingPolicy,
)

__all__ = ["DemoResult", "demo_command", "run_demo"]

D = Decimal
ENTRY = D(60000)
QTY = D("0.2")
POLICY = ProtectionPolicy(
    stop_loss=StopLossPolicy(Distance(percent=D(2))),
    take_profit=TakeProfitPolicy(Distance(percent=D(5))),
    trailing=TrailingPolicy(callback_rate=D(1), activation=Distance(percent=D(1))),
)
# Up 2.5 % (the trailing stop activates at +1 %), then down: it fires 1 % under the peak.
PATH = [ENTRY + D(step) for step in range(0, 1501, 100)] + [
    D(61500) - D(step) for step in range(50, 1001, 50)
]
ETH = "ETHUSDT"
ETH_QTY = D("1.0000")
SPOT_POLICY = ProtectionPolicy(
    stop_loss=StopLossPolicy(Distance(percent=D(2))),
    take_profit=TakeProfitPolicy(Distance(percent=D(3))),
)


@dataclass
class DemoResult:
    """What the demo did; times are seconds since the demo started (``time.monotonic``)."""

    prices: list[tuple[float, Decimal]] = field(default_factory=list)
    spot_prices: list[tuple[float, Decimal]] = field(default_factory=list)
    spot_entry: Decimal = Decimal(0)
    # The USD-M long (BTCUSDT) and the Spot holding (ETHUSDT): when and at what they were opened.
    entry: Decimal = ENTRY
    entry_qty: Decimal = QTY
    entry_t: float = 0.0
    spot_qty: Decimal = ETH_QTY
    spot_entry_t: float = 0.0
    # Per symbol: its price tick and quote asset, from the venue's exchangeInfo (the bundled
    # fixtures), so the chart prints prices as the exchange does.
    ticks: dict[str, Decimal] = field(default_factory=dict)
    quotes: dict[str, str] = field(default_factory=dict)
    # Each Spot OCO leg as the venue reports it (``GET /api/v3/allOrders`` fields): its own final
    # status, type, price/stopPrice and orderListId (one exit row covers both legs).
    legs: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    exits: list[dict[str, Any]] = field(default_factory=list)
    fills: list[tuple[float, Decimal, str]] = field(default_factory=list)
    chart: Path | None = None
    seconds: float = 0.0
    position_closed: bool = False


_SHOWN = {"placed", "cancelled", "exit_status", "exit_fill", "positions", "plan", "fallback"}


async def run_demo(
    out_dir: Path, console: Console | None = None, step_s: float = 0.05
) -> DemoResult:
    """Run the scenario; returns what happened (also used by the tests)."""
    # The SDKs, the manager and the venue load here, for the demo only: every other command
    # would pay for them at start-up (``exitguard --help`` included).
    from exitguard.adapters.spot import SdkSpotReader, SdkSpotTrader
    from exitguard.adapters.usdm_reader import SdkUsdmReader
    from exitguard.adapters.usdm_trader import SdkUsdmTrader
    from exitguard.manager.ops import UsdmOps
    from exitguard.manager.scope import ScopeConfig
    from exitguard.manager.service import ExitManager
    from exitguard.manager.spot_ops import SpotOps
    from exitguard.store.exits import ExitStore
    from exitguard.venue.clock import RealtimeClock
    from exitguard.venue.server import Venue

    result = DemoResult()
    start = time.monotonic()

    def on_event(kind: str, data: dict[str, Any]) -> None:
        t = time.monotonic() - start
        result.events.append((t, kind, data))
        if kind == "exit_fill":
            result.fills.append((t, D(data["price"]), data["slot"]))
        if console is not None and kind in _SHOWN:
            detail = " ".join(f"{k}={v}" for k, v in data.items() if k != "product")
            console.print(f"[dim]{t:6.2f}s[/dim] [bold]{kind}[/bold] {detail}")

    async with Venue(clock=RealtimeClock(), feed=None, spot_balances={"USDT": D(10_000)}) as venue:
        venue.set_price("BTCUSDT", last=ENTRY, mark=ENTRY)
        account = venue.exchange.account_by_api_key(venue.api_key)
        assert account is not None  # the venue creates its own account at start
        venue.exchange.open_position(account, "BTCUSDT", Side.BUY, QTY, price=ENTRY)
        result.entry_t = time.monotonic() - start
        venue.spot.new_order(
            venue.spot_account,
            {"symbol": ETH, "side": "BUY", "type": "MARKET", "quantity": str(ETH_QTY)},
        )
        result.spot_entry_t = time.monotonic() - start
        for rules, symbol in ((venue.exchange.rules, "BTCUSDT"), (venue.spot.rules, ETH)):
            found = rules.symbols[symbol]
            if found.price_filter is not None:
                result.ticks[symbol] = found.price_filter.tick_size.normalize()
            result.quotes[symbol] = found.quote_asset
        if console is not None:
            console.print(
                f"paper venue on {venue.rest_url}; opened a USD-M long {QTY} BTCUSDT @ {ENTRY} "
                f"and bought {ETH_QTY} ETH on Spot"
            )
        reader = SdkUsdmReader(
            rest_url=venue.rest_url,
            ws_streams_url=venue.ws_streams_url,
            api_key=venue.api_key,
            api_secret=venue.api_secret,
        )
        trader = SdkUsdmTrader(
            rest_url=venue.rest_url, api_key=venue.api_key, api_secret=venue.api_secret
        )
        for stale in out_dir.glob("demo.db*"):
            stale.unlink()  # every demo starts from an empty state store
        store = ExitStore(out_dir / "demo.db")
        spot_reader = SdkSpotReader(
            rest_url=venue.rest_url,
            ws_api_url=venue.spot_ws_api_url,
            api_key=venue.api_key,
            api_secret=venue.api_secret,
        )
        spot_trader = SdkSpotTrader(
            rest_url=venue.rest_url, api_key=venue.api_key, api_secret=venue.api_secret
        )

        def policy_for(product: Product, symbol: str) -> ProtectionPolicy | None:
            if product is Product.USDM:
                return POLICY if symbol == "BTCUSDT" else None
            return SPOT_POLICY if symbol == ETH else None

        manager = ExitManager(
            [UsdmOps(reader, trader), SpotOps(spot_reader, spot_trader, [ETH], store)],
            store,
            ScopeConfig("demo", policy_for),
            on_event=on_event,
        )
        await manager.start()
        scope = manager.scope(Product.USDM)
        spot = manager.scope(Product.SPOT)
        async with asyncio.timeout(10):
            while not store.blocking("demo", Product.SPOT):
                await asyncio.sleep(0.02)
        spot_pos = next(iter(spot.positions.values()), None)
        result.spot_entry = spot_pos.entry_price if spot_pos is not None else D(3000)
        eth = result.spot_entry
        for i, price in enumerate(PATH):
            venue.set_price("BTCUSDT", last=price, mark=price)
            t = time.monotonic() - start
            result.prices.append((t, price))
            if spot.positions:
                eth = result.spot_entry * (1 + D(i) / D(500))  # +0.2 % a step: through the TP
                eth = eth.quantize(D("0.01"))
                venue.set_spot_price(ETH, eth)
                result.spot_prices.append((t, eth))
            await asyncio.sleep(step_s)
            if not scope.positions and not spot.positions:
                break
        async with asyncio.timeout(10):
            while (
                scope.positions
                or spot.positions
                or store.blocking("demo", Product.USDM)
                or store.blocking("demo", Product.SPOT)
            ):
                await asyncio.sleep(0.05)
        result.position_closed = not scope.positions and not spot.positions
        for row in store.rows(account="demo"):
            result.exits.append(
                {
                    "product": row.slot.product.value,
                    "symbol": row.slot.symbol,
                    "slot": row.slot.text(),
                    "request": dict(row.request),
                    "kind": row.kind.value,
                    "venue_id": row.venue_id,
                    "role": row.slot.role.value,
                    "type": row.request.get("type", ""),
                    "client_id": row.client_id,
                    "trigger": row.request.get("triggerPrice")
                    or row.request.get("activatePrice")
                    or row.request.get("price")
                    or (
                        f"{row.request.get('abovePrice')}/{row.request.get('belowStopPrice')}"
                        if "abovePrice" in row.request
                        else ""
                    ),
                    "status": row.status.value,
                }
            )
        list_ids = {e["venue_id"] for e in result.exits if e["kind"] == "spot_oco"}
        result.legs = [
            order
            for order in venue.spot.all_orders(venue.spot_account, {"symbol": ETH})
            if order.get("orderListId") in list_ids
        ]
        await manager.stop()
        store.close()
    result.seconds = time.monotonic() - start
    from .demo_chart import write_chart

    result.chart = write_chart(result, out_dir / "exitguard-demo.png")
    return result


def demo_command(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder for the chart and the state file (created; the previous demo's files "
            "in it are replaced).",
        ),
    ] = Path("exitguard-demo"),
) -> None:
    """Protect a paper position end to end and watch the exits work (no network, no keys)."""
    from exitguard.cli.inputs import folder_problem

    if (problem := folder_problem(out)) is not None:
        raise typer.BadParameter(problem, param_hint="--out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. under /proc, where even root's access() check says yes
        raise typer.BadParameter(
            f"{out}: cannot be created ({exc.strerror or exc})", param_hint="--out"
        ) from None
    console = Console()
    result = asyncio.run(run_demo(out, console))
    print_summary(result, console)
    if not result.position_closed:
        raise typer.Exit(1)


def _slot_words(slot: str) -> str:
    """``demo/usdm/BTCUSDT/BOTH/trailing`` → ``usdm BTCUSDT trailing``."""
    parts = slot.split("/")
    if len(parts) != 5:
        return slot
    _account, product, symbol, side, role = parts
    return " ".join(p for p in (product, symbol, "" if side == "BOTH" else side, role) if p)


def _trigger_text(product: str, symbol: str, trigger: str) -> str:
    tick, _step = bundled_steps(product, symbol)
    return " / ".join(at_step(part, tick) for part in str(trigger).split("/"))


def print_summary(result: DemoResult, console: Console) -> None:
    """The exits with their final states, the fills, and where the chart is (80 columns)."""
    table = Rows(
        "exits",
        [
            Col("product"),
            Col("exit"),
            Col("type"),
            Col("trigger / price", number=True),
            Col("final state"),
        ],
    )
    from .demo_chart import leg_name

    for e in result.exits:
        symbol = e.get("symbol") or ("BTCUSDT" if e["product"] == "usdm" else ETH)
        legs = [
            o for o in result.legs if e.get("venue_id") and o.get("orderListId") == e["venue_id"]
        ]
        if legs:  # one row per OCO leg, each with the state the venue reports for it
            tick, _step = bundled_steps(e["product"], symbol)
            for order in legs:
                name, _colour, level = leg_name(order)
                table.add(
                    f"{e['product']} {symbol}",
                    f"oco {name}",
                    str(order.get("type", "")),
                    at_step(level, tick),
                    str(order.get("status", "")).lower(),
                )
            continue
        kind = e["type"] or "OCO (TP / stop)"
        price = _trigger_text(e["product"], symbol, e["trigger"])
        rate = (e.get("request") or {}).get("callbackRate")
        if rate:  # a trailing stop's level moves: its callback, from its activation price
            price = f"{rate}% from {price}"
        table.add(
            f"{e['product']} {symbol}",
            e["role"].replace("_", "-"),
            kind,
            price,
            e["status"].lower(),
        )
    table.print(console)
    for _t, fill_price, slot in result.fills:
        product, symbol = slot.split("/")[1:3]
        tick, _step = bundled_steps(product, symbol)
        console.print(
            f"filled: {_slot_words(slot)} at {at_step(fill_price, tick)}", highlight=False
        )
    if not result.fills:
        console.print("filled: nothing")
    state = "closed by its exits" if result.position_closed else "STILL OPEN (the demo failed)"
    console.print(f"positions: {state}; {result.seconds:.1f} s", highlight=False)
    console.print(f"chart: {result.chart}", highlight=False, overflow="fold")
