"""The documented answers of ``GET /fapi/v2/account`` and ``/fapi/v3/account``.

Account-Information-V2 and -V3 pages, checked field by field against the SDK's
``AccountInformationV2Response`` / ``AccountInformationV3Response`` (and their ``assets[]`` and
``positions[]`` models) in ``tests/test_venue_shapes.py``. The ``assets[]`` rows are account rows
(walletBalance, marginBalance, ...), not ``/fapi/v2/balance`` rows; ``positions[]`` are the
account-position rows, not positionRisk rows. V2 lists every symbol's position rows (Binance
lists all symbols there); V3 lists only the positions that are open ("only symbols with position
or open orders will be returned", V3 page).

The venue has one asset (USDT), cross margin only, no maintenance margin model (0) and no open
order margin (0): those fields are present with the values the venue works with.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exitguard.domain.enums import PositionSide
from exitguard.domain.numbers import format_decimal as f

from .accounts import Account, Position

__all__ = ["account_v2", "account_v3", "asset_row"]

ZERO = Decimal(0)
MAX_NOTIONAL = "1000000"  # as the venue's leverage answer says (no bracket table is modelled)


def asset_row(
    acct: Account, unrealized: Decimal, available: Decimal, margin: Decimal, now: int, v2: bool
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "asset": "USDT",
        "walletBalance": f(acct.wallet),
        "unrealizedProfit": f(unrealized),
        "marginBalance": f(acct.wallet + unrealized),
        "maintMargin": "0",
        "initialMargin": f(margin),
        "positionInitialMargin": f(margin),
        "openOrderInitialMargin": "0",
        "crossWalletBalance": f(acct.wallet),
        "crossUnPnl": f(unrealized),
        "availableBalance": f(available),
        "maxWithdrawAmount": f(max(available, ZERO)),
    }
    if v2:
        row["marginAvailable"] = True
    row["updateTime"] = now
    return row


def _totals(
    acct: Account, unrealized: Decimal, available: Decimal, margin: Decimal
) -> dict[str, Any]:
    return {
        "totalInitialMargin": f(margin),
        "totalMaintMargin": "0",
        "totalWalletBalance": f(acct.wallet),
        "totalUnrealizedProfit": f(unrealized),
        "totalMarginBalance": f(acct.wallet + unrealized),
        "totalPositionInitialMargin": f(margin),
        "totalOpenOrderInitialMargin": "0",
        "totalCrossWalletBalance": f(acct.wallet),
        "totalCrossUnPnl": f(unrealized),
        "availableBalance": f(available),
        "maxWithdrawAmount": f(max(available, ZERO)),
    }


def _position_v2(acct: Account, p: Position, mark: Decimal) -> dict[str, Any]:
    margin = abs(p.amount) * mark / acct.leverage_for(p.symbol)
    return {
        "symbol": p.symbol,
        "initialMargin": f(margin),
        "maintMargin": "0",
        "unrealizedProfit": f(p.unrealized_pnl(mark)),
        "positionInitialMargin": f(margin),
        "openOrderInitialMargin": "0",
        "leverage": str(acct.leverage_for(p.symbol)),
        "isolated": False,
        "entryPrice": f(p.entry_price),
        "maxNotional": MAX_NOTIONAL,
        "bidNotional": "0",
        "askNotional": "0",
        "positionSide": p.position_side.value,
        "positionAmt": f(p.amount),
        "updateTime": p.update_time,
    }


def _position_v3(acct: Account, p: Position, mark: Decimal) -> dict[str, Any]:
    return {
        "symbol": p.symbol,
        "positionSide": p.position_side.value,
        "positionAmt": f(p.amount),
        "unrealizedProfit": f(p.unrealized_pnl(mark)),
        "isolatedMargin": "0",
        "notional": f(p.amount * mark),
        "isolatedWallet": "0",
        "initialMargin": f(abs(p.amount) * mark / acct.leverage_for(p.symbol)),
        "maintMargin": "0",
        "updateTime": p.update_time,
    }


def account_v2(
    acct: Account,
    marks: dict[str, Decimal],
    unrealized: Decimal,
    available: Decimal,
    margin: Decimal,
    now: int,
) -> dict[str, Any]:
    """``AccountInformationV2Response``: flags, totals, one asset row, every symbol's positions
    (``BOTH`` in one-way mode, ``LONG`` and ``SHORT`` in hedge mode)."""
    sides = (PositionSide.LONG, PositionSide.SHORT) if acct.dual_side else (PositionSide.BOTH,)
    positions = [
        _position_v2(acct, acct.positions.get((s, ps)) or Position(s, ps), mark)
        for s, mark in marks.items()
        for ps in sides
    ]
    return {
        "feeTier": 0,
        "feeBurn": False,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "updateTime": 0,  # "reserved field, ignore" (V2 page)
        "multiAssetsMargin": False,
        "tradeGroupId": -1,  # the docs' value for an account outside a trade group
        **_totals(acct, unrealized, available, margin),
        "assets": [asset_row(acct, unrealized, available, margin, now, v2=True)],
        "positions": positions,
    }


def account_v3(
    acct: Account,
    marks: dict[str, Decimal],
    unrealized: Decimal,
    available: Decimal,
    margin: Decimal,
    now: int,
) -> dict[str, Any]:
    """``AccountInformationV3Response``: totals, one asset row, the open positions only."""
    return {
        **_totals(acct, unrealized, available, margin),
        "assets": [asset_row(acct, unrealized, available, margin, now, v2=False)],
        "positions": [
            _position_v3(acct, p, marks[p.symbol]) for p in acct.positions.values() if p.amount
        ],
    }
