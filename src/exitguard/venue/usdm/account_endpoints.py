"""Account endpoints of the USD-M venue: position mode, leverage, balances, positions, listen keys."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from exitguard.domain.numbers import format_decimal

from ..errors import VenueError
from .accounts import Account
from .base import ZERO, ExchangeBase, require_account
from .params import opt_int, opt_str, req_str

__all__ = ["LISTEN_KEY_VALIDITY_MS", "AccountEndpoints"]

LISTEN_KEY_VALIDITY_MS = 60 * 60 * 1000


class AccountEndpoints(ExchangeBase):
    def get_position_mode(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        return {"dualSidePosition": require_account(account).dual_side}

    def set_position_mode(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        acct = require_account(account)
        raw = req_str(params, "dualSidePosition").lower()
        if raw not in ("true", "false"):
            raise VenueError(
                -1100,
                "Illegal characters found in parameter 'dualSidePosition'; legal range is 'true|false'.",
            )
        dual = raw == "true"
        if dual == acct.dual_side:
            raise VenueError(-4059, "No need to change position side.")
        if self.open_orders_of(acct.api_key) or self.algo.open_count(acct):
            raise VenueError(-4067, "Position side cannot be changed if there exists open orders.")
        if any(p.amount for p in acct.positions.values()):
            raise VenueError(-4068, "Position side cannot be changed if there exists position.")
        acct.dual_side = dual
        return {"code": 200, "msg": "success"}

    def set_leverage(self, account: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        acct = require_account(account)
        m = self.market(req_str(params, "symbol"))
        lev = opt_int(params, "leverage", 1, 125)
        if lev is None:
            raise VenueError(
                -1102, "Mandatory parameter 'leverage' was not sent, was empty/null, or malformed."
            )
        acct.leverage[m.rules.symbol] = lev
        return {"leverage": lev, "maxNotionalValue": "1000000", "symbol": m.rules.symbol}

    def balance(self, account: Account | None, params: Mapping[str, str]) -> list[dict[str, Any]]:
        acct = require_account(account)
        up, avail, now = self._unrealized(acct), self.available(acct), self.now_ms()
        return [
            {
                "accountAlias": "exitguard",
                "asset": "USDT",
                "balance": format_decimal(acct.wallet),
                "crossWalletBalance": format_decimal(acct.wallet),
                "crossUnPnl": format_decimal(up),
                "availableBalance": format_decimal(avail),
                "maxWithdrawAmount": format_decimal(max(avail, ZERO)),
                "marginAvailable": True,
                "updateTime": now,
            }
        ]

    def account_info(self, account: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        acct = require_account(account)
        up, avail, im = self._unrealized(acct), self.available(acct), self._initial_margin(acct)
        f = format_decimal
        return {
            "totalInitialMargin": f(im),
            "totalMaintMargin": "0",
            "totalWalletBalance": f(acct.wallet),
            "totalUnrealizedProfit": f(up),
            "totalMarginBalance": f(acct.wallet + up),
            "totalPositionInitialMargin": f(im),
            "totalOpenOrderInitialMargin": "0",
            "totalCrossWalletBalance": f(acct.wallet),
            "totalCrossUnPnl": f(up),
            "availableBalance": f(avail),
            "maxWithdrawAmount": f(max(avail, ZERO)),
            "assets": self.balance(acct, params),
            "positions": self.position_risk(acct, params),
        }

    def position_risk(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        acct = require_account(account)
        symbol = opt_str(params, "symbol")
        if symbol is not None:
            self.market(symbol)
        out = []
        for p in acct.positions.values():
            if symbol is not None and p.symbol != symbol:
                continue
            mark = self.markets[p.symbol].mark
            out.append(
                {
                    "symbol": p.symbol,
                    "positionSide": p.position_side.value,
                    "positionAmt": format_decimal(p.amount),
                    "entryPrice": format_decimal(p.entry_price),
                    "breakEvenPrice": format_decimal(p.entry_price),
                    "markPrice": format_decimal(mark),
                    "unRealizedProfit": format_decimal(p.unrealized_pnl(mark)),
                    "liquidationPrice": "0",
                    "leverage": str(acct.leverage_for(p.symbol)),
                    "notional": format_decimal(p.amount * mark),
                    "marginType": "cross",
                    "isolatedMargin": "0",
                    "isolatedWallet": "0",
                    "marginAsset": "USDT",
                    "initialMargin": format_decimal(
                        abs(p.amount) * mark / acct.leverage_for(p.symbol)
                    ),
                    "maintMargin": "0",
                    "adl": 0,
                    "updateTime": p.update_time,
                }
            )
        return out

    # -- listen keys ---------------------------------------------------------------------

    def listen_key_create(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """An active key is returned again and extended by 60 minutes (USD-M user-data docs)."""
        acct = require_account(account)
        now = self.now_ms()
        if acct.listen_key is None or acct.listen_key_expires_ms <= now:
            acct.listen_key = secrets.token_urlsafe(48)[:64]
        acct.listen_key_expires_ms = now + LISTEN_KEY_VALIDITY_MS
        return {"listenKey": acct.listen_key}

    def listen_key_keepalive(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        acct = require_account(account)
        if acct.listen_key is None or acct.listen_key_expires_ms <= self.now_ms():
            raise VenueError(-1125, "This listenKey does not exist.")
        acct.listen_key_expires_ms = self.now_ms() + LISTEN_KEY_VALIDITY_MS
        return {"listenKey": acct.listen_key}

    def listen_key_close(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        acct = require_account(account)
        acct.listen_key = None
        acct.listen_key_expires_ms = 0
        return {}

    def expire_listen_key(self, acct: Account) -> None:
        """Send ``listenKeyExpired`` and forget the key (also the fault-injection entry point)."""
        if acct.listen_key is None:
            return
        key, acct.listen_key, acct.listen_key_expires_ms = acct.listen_key, None, 0
        self.emit(
            acct.api_key, {"e": "listenKeyExpired", "E": str(self.now_ms()), "listenKey": key}
        )
