"""Spot accounts of the paper venue: credentials, per-asset free/locked balances, trades.

One API key works on both products as on Binance: a Spot account carries the same key, secret and
Ed25519 public key as the venue's USD-M account (see :class:`~exitguard.venue.context.VenueContext`).
Balances are exact ``Decimal`` amounts at 8 decimals, Binance's spot asset precision.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal

from exitguard.domain.enums import Side

__all__ = ["Balance", "SpotAccount", "SpotFill", "q8", "q8_up"]

ZERO = Decimal(0)
_E8 = Decimal("1e-8")
_UIDS = itertools.count(1_000_001)


def q8(value: Decimal) -> Decimal:
    """``value`` at Binance's 8 spot decimals (half-even): quote amounts and commissions."""
    return value.quantize(_E8, rounding=ROUND_HALF_EVEN)


def q8_up(value: Decimal) -> Decimal:
    """``value`` rounded up at 8 decimals: a lock is never smaller than what it must cover."""
    return value.quantize(_E8, rounding=ROUND_UP)


@dataclass(slots=True)
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class SpotFill:
    """One execution of an order, as ``myTrades`` and ``executionReport`` report it."""

    trade_id: int
    order_id: int
    order_list_id: int
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    maker: bool
    time: int


@dataclass(slots=True)
class SpotAccount:
    api_key: str
    api_secret: str
    ed25519_public_key_pem: str | None = None
    balances: dict[str, Balance] = field(default_factory=dict)
    trades: list[SpotFill] = field(default_factory=list)
    listen_key: str | None = None  # the deprecated spot listenKey (POST /api/v3/userDataStream)
    listen_key_expires_ms: int = 0
    update_time: int = 0
    uid: int = field(default_factory=lambda: next(_UIDS))

    @classmethod
    def fresh(
        cls,
        balances: Mapping[str, Decimal],
        api_key: str | None = None,
        api_secret: str | None = None,
        ed25519_public_key_pem: str | None = None,
    ) -> SpotAccount:
        return cls(
            api_key=api_key or secrets.token_hex(32),
            api_secret=api_secret or secrets.token_hex(32),
            ed25519_public_key_pem=ed25519_public_key_pem,
            balances={a: Balance(free=q8(Decimal(v))) for a, v in balances.items()},
        )

    def balance(self, asset: str) -> Balance:
        bal = self.balances.get(asset)
        if bal is None:
            bal = self.balances[asset] = Balance()
        return bal

    def free(self, asset: str) -> Decimal:
        bal = self.balances.get(asset)
        return bal.free if bal is not None else ZERO

    def lock(self, asset: str, amount: Decimal) -> None:
        """Move ``amount`` from free to locked; callers check ``free`` first."""
        if amount <= 0:
            return
        bal = self.balance(asset)
        assert bal.free >= amount, f"lock {amount} {asset} > free {bal.free}"
        bal.free -= amount
        bal.locked += amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        if amount <= 0:
            return
        bal = self.balance(asset)
        amount = min(amount, bal.locked)
        bal.locked -= amount
        bal.free += amount
