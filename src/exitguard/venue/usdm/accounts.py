"""Accounts, balances and positions of the USD-M paper venue.

Position arithmetic follows Binance's one-way and hedge modes (Change-Position-Mode page):
one-way keeps one signed position per symbol (``BOTH``); hedge keeps ``LONG`` (amount >= 0) and
``SHORT`` (amount <= 0, shown negative as Binance does). Realised PnL is booked on the part of a fill
that reduces a position; fees are charged in USDT on every fill.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal

from exitguard.domain.enums import PositionSide, Side

__all__ = ["Account", "Fill", "Position"]

ZERO = Decimal(0)


@dataclass(slots=True)
class Position:
    symbol: str
    position_side: PositionSide
    amount: Decimal = ZERO  # signed: > 0 long, < 0 short
    entry_price: Decimal = ZERO
    update_time: int = 0
    # The venue keeps no margin model (positionRisk says cross with liquidationPrice 0); a test
    # sets one (Exchange.set_liquidation_price) to drive a liquidation guard. It lasts while the
    # position is open.
    liquidation_price: Decimal = ZERO

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        return self.amount * (mark - self.entry_price) if self.amount else ZERO

    def reducible(self, side: Side) -> Decimal:
        """How much an order on ``side`` can reduce (0 when it would only open or add)."""
        if side is Side.SELL and self.amount > 0:
            return self.amount
        if side is Side.BUY and self.amount < 0:
            return -self.amount
        return ZERO

    def apply(self, side: Side, qty: Decimal, price: Decimal, now_ms: int) -> Decimal:
        """Apply a fill; return the realised PnL of the reducing part (before fees)."""
        signed = qty if side is Side.BUY else -qty
        realized = ZERO
        if self.amount == 0 or (self.amount > 0) == (signed > 0):
            new_amount = self.amount + signed
            self.entry_price = (abs(self.amount) * self.entry_price + qty * price) / abs(new_amount)
            self.amount = new_amount
        else:
            closed = min(qty, abs(self.amount))
            direction = 1 if self.amount > 0 else -1
            realized = closed * (price - self.entry_price) * direction
            self.amount += signed
            if self.amount == 0:
                self.entry_price = ZERO
                self.liquidation_price = ZERO
            elif (self.amount > 0) != (direction > 0):  # flipped through zero
                self.entry_price = price
        self.update_time = now_ms
        return realized


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of an order, as the user-data stream and userTrades report it."""

    trade_id: int
    order_id: int
    symbol: str
    side: Side
    position_side: PositionSide
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    realized_pnl: Decimal
    maker: bool
    time: int


@dataclass(slots=True)
class Account:
    """One venue account: credentials, USDT wallet, position mode, leverage and positions."""

    api_key: str
    api_secret: str
    wallet: Decimal
    dual_side: bool = False
    ed25519_public_key_pem: str | None = None
    leverage: dict[str, int] = field(default_factory=dict)
    positions: dict[tuple[str, PositionSide], Position] = field(default_factory=dict)
    listen_key: str | None = None
    listen_key_expires_ms: int = 0
    trades: list[Fill] = field(default_factory=list)

    @classmethod
    def fresh(cls, usdt: Decimal) -> Account:
        return cls(api_key=secrets.token_hex(32), api_secret=secrets.token_hex(32), wallet=usdt)

    def position(self, symbol: str, position_side: PositionSide) -> Position:
        key = (symbol, position_side)
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = Position(symbol, position_side)
        return pos

    def leverage_for(self, symbol: str) -> int:
        return self.leverage.get(symbol, 20)
