"""Helpers shared by the Spot venue tests: an exchange on a stepped clock and event filters."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from importlib.resources import files
from typing import Any

from exitguard.venue.spot import SpotAccount, SpotExchange, SpotFees

D = Decimal
T0 = 1_800_000_000_000
SYMBOL = "BTCUSDT"

# The executionReport keys of the reference table (binance-api.md 3.6), all sent every time.
EXECUTION_REPORT_KEYS = frozenset(
    [
        "e",
        "E",
        "s",
        "c",
        "S",
        "o",
        "f",
        "q",
        "p",
        "P",
        "F",
        "g",
        "C",
        "x",
        "X",
        "r",
        "i",
        "l",
        "z",
        "L",
        "n",
        "N",
        "T",
        "t",
        "v",
        "I",
        "w",
        "m",
        "M",
        "O",
        "Z",
        "Y",
        "Q",
        "W",
        "V",
    ]
)
LIST_STATUS_KEYS = frozenset(["e", "E", "s", "g", "c", "l", "L", "r", "C", "T", "O"])


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> int:
        return self.t

    def step(self, ms: int = 1000) -> None:
        self.t += ms


def spot_info(**symbol_overrides: Any) -> dict[str, Any]:
    """The bundled Spot exchangeInfo; ``maxNumOrders=4`` style overrides patch BTCUSDT filters."""
    doc: dict[str, Any] = json.loads(
        files("exitguard").joinpath("fixtures/exchange_info/spot.json").read_text()
    )
    for sym in doc["symbols"]:
        if sym["symbol"] != SYMBOL:
            continue
        for f in sym["filters"]:
            for key, value in symbol_overrides.items():
                if key in f:
                    f[key] = value
    return doc


@dataclass
class Spot:
    x: SpotExchange
    acct: SpotAccount
    clock: Clock
    events: list[dict[str, Any]] = field(default_factory=list)

    def trade(self, price: str, qty: str | None = None, ms: int = 1000) -> None:
        self.clock.step(ms)
        self.x.on_price(SYMBOL, last=D(price), qty=D(qty) if qty else None)

    def place(self, **params: str) -> dict[str, Any]:
        return self.x.new_order(self.acct, {"symbol": SYMBOL, **params})

    def reports(self, order_id: int | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["e"] == "executionReport" and (order_id is None or e["i"] == order_id)
        ]

    def flow(self, order_id: int) -> list[tuple[str, str]]:
        """(x, X) of each report of one order."""
        return [(e["x"], e["X"]) for e in self.reports(order_id)]

    def lists(self) -> list[tuple[str, str]]:
        return [(e["l"], e["L"]) for e in self.events if e["e"] == "listStatus"]

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        b = self.acct.balance(asset)
        return b.free, b.locked

    def status(self, order_id: int) -> str:
        return str(self.x.orders[order_id].status)


def make_spot(
    balances: dict[str, Decimal] | None = None,
    fees: SpotFees | None = None,
    info: dict[str, Any] | None = None,
    start: str = "65000.00",
) -> Spot:
    clock = Clock()
    x = SpotExchange(info or spot_info(), clock, start_prices={SYMBOL: D(start)}, fees=fees)
    acct = x.create_account(balances or {"USDT": D(100_000), "BTC": D(2)})
    s = Spot(x, acct, clock)
    x.subscribe(acct, s.events.append)
    return s


def expect_error(fn: Callable[[], object], code: int, msg: str | None = None) -> str:
    from exitguard.venue.errors import VenueError

    try:
        fn()
    except VenueError as err:
        assert err.code == code, (err.code, err.msg)
        if msg is not None:
            assert err.msg == msg, err.msg
        return err.msg
    raise AssertionError(f"expected {code}")
