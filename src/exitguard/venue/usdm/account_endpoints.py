"""Account endpoints of the USD-M venue: position mode, leverage, margin settings, balances,
account information, positions, commission, income, listen keys."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from exitguard.domain.numbers import format_decimal

from ..errors import VenueError
from .account_shapes import account_v2, account_v3
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

    def _account_parts(self, acct: Account) -> tuple[Any, ...]:
        marks = {s: m.mark for s, m in self.markets.items()}
        return (
            acct,
            marks,
            self._unrealized(acct),
            self.available(acct),
            self._initial_margin(acct),
            self.now_ms(),
        )

    def account_info(self, account: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        """``GET /fapi/v2/account`` (Account-Information-V2 page)."""
        return account_v2(*self._account_parts(require_account(account)))

    def account_info_v3(self, account: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        """``GET /fapi/v3/account`` (Account-Information-V3 page)."""
        return account_v3(*self._account_parts(require_account(account)))

    def symbol_config(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """``GET /fapi/v1/symbolConfig``: one row per symbol (or the one asked), cross margin."""
        acct = require_account(account)
        symbol = opt_str(params, "symbol")
        names = [self.market(symbol).rules.symbol] if symbol is not None else list(self.markets)
        return [
            {
                "symbol": s,
                "marginType": "CROSSED",
                "isAutoAddMargin": False,
                "leverage": acct.leverage_for(s),
                "maxNotionalValue": "1000000",
            }
            for s in names
        ]

    def leverage_bracket(self, account: Account | None, params: Mapping[str, str]) -> Any:
        """``GET /fapi/v1/leverageBracket``: one bracket per symbol (the venue has no bracket
        table: leverage up to 125 on the notional the leverage answer quotes, no maintenance
        margin). A list; one object when ``symbol`` is sent (the page's two forms). JSON
        numbers as documented, whole numbers only (never a float on the wire)."""
        require_account(account)
        symbol = opt_str(params, "symbol")

        def one(name: str) -> dict[str, Any]:
            bracket = {
                "bracket": 1,
                "initialLeverage": 125,
                "notionalCap": 1_000_000,
                "notionalFloor": 0,
                "maintMarginRatio": 0,
                "cum": 0,
            }
            return {"symbol": name, "notionalCoef": 1, "brackets": [bracket]}

        if symbol is not None:
            return one(self.market(symbol).rules.symbol)
        return [one(name) for name in self.markets]

    def commission_rate(self, account: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        """``GET /fapi/v1/commissionRate``: the venue's maker/taker fees (no RPI orders: 0)."""
        require_account(account)
        m = self.market(req_str(params, "symbol"))
        return {
            "symbol": m.rules.symbol,
            "makerCommissionRate": format_decimal(self.fees.maker),
            "takerCommissionRate": format_decimal(self.fees.taker),
            "rpiCommissionRate": "0",
        }

    def set_margin_type(self, account: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        """``POST /fapi/v1/marginType``. The venue models cross margin only: CROSSED is the
        current type (-4046, as Binance answers an unchanged type); ISOLATED is refused."""
        require_account(account)
        self.market(req_str(params, "symbol"))
        kind = req_str(params, "marginType").upper()
        if kind == "CROSSED":
            raise VenueError(-4046, "No need to change margin type.")
        if kind == "ISOLATED":
            raise VenueError(-1000, "Isolated margin is not modelled by the paper venue.")
        raise VenueError(-1116, "Invalid marginType.")

    def get_multi_assets(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        require_account(account)
        return {"multiAssetsMargin": False}

    def set_multi_assets(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """``POST /fapi/v1/multiAssetsMargin``: single-asset (USDT) mode only."""
        require_account(account)
        raw = req_str(params, "multiAssetsMargin").lower()
        if raw not in ("true", "false"):
            raise VenueError(
                -1100,
                "Illegal characters found in parameter 'multiAssetsMargin'; legal range is "
                "'true|false'.",
            )
        if raw == "true":
            raise VenueError(-1000, "Multi-assets mode is not modelled by the paper venue.")
        return {"code": 200, "msg": "success"}

    def income(self, account: Account | None, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """``GET /fapi/v1/income``: the account's realised PnL and fees, one row each per fill
        (``REALIZED_PNL`` only when non-zero, as Binance lists them), oldest first."""
        acct = require_account(account)
        symbol = opt_str(params, "symbol")
        if symbol is not None:
            self.market(symbol)
        kind = opt_str(params, "incomeType")
        start, end = opt_int(params, "startTime"), opt_int(params, "endTime")
        limit = opt_int(params, "limit", 1, 1000) or 100
        rows: list[dict[str, Any]] = []
        for fill in acct.trades:
            if symbol is not None and fill.symbol != symbol:
                continue
            if (start is not None and fill.time < start) or (end is not None and fill.time > end):
                continue
            for name, amount in (
                ("REALIZED_PNL", fill.realized_pnl),
                ("COMMISSION", -fill.commission),
            ):
                if (kind is not None and kind != name) or not amount:
                    continue
                rows.append(
                    {
                        "symbol": fill.symbol,
                        "incomeType": name,
                        "income": format_decimal(amount),
                        "asset": "USDT",
                        "info": "",
                        "time": fill.time,
                        "tranId": fill.trade_id * 10 + (1 if name == "COMMISSION" else 0),
                        "tradeId": str(fill.trade_id),
                    }
                )
        return rows[:limit]

    def _positions(self, acct: Account, params: Mapping[str, str]) -> list[Any]:
        symbol = opt_str(params, "symbol")
        if symbol is not None:
            self.market(symbol)
        return [p for p in acct.positions.values() if symbol is None or p.symbol == symbol]

    def position_risk(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """``GET /fapi/v2/positionRisk`` (Position-Information-V2 page; cross margin)."""
        acct = require_account(account)
        out = []
        for p in self._positions(acct, params):
            mark = self.markets[p.symbol].mark
            out.append(
                {
                    "entryPrice": format_decimal(p.entry_price),
                    "breakEvenPrice": format_decimal(p.entry_price),
                    "marginType": "cross",
                    "isAutoAddMargin": "false",
                    "isolatedMargin": "0",
                    "leverage": str(acct.leverage_for(p.symbol)),
                    "liquidationPrice": format_decimal(p.liquidation_price),
                    "markPrice": format_decimal(mark),
                    "maxNotionalValue": "1000000",
                    "positionAmt": format_decimal(p.amount),
                    "notional": format_decimal(p.amount * mark),
                    "isolatedWallet": "0",
                    "symbol": p.symbol,
                    "unRealizedProfit": format_decimal(p.unrealized_pnl(mark)),
                    "positionSide": p.position_side.value,
                    "updateTime": p.update_time,
                }
            )
        return out

    def position_risk_v3(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """``GET /fapi/v3/positionRisk`` (Position-Information-V3 page; cross margin, no
        maintenance-margin model: 0)."""
        acct = require_account(account)
        out = []
        for p in self._positions(acct, params):
            mark = self.markets[p.symbol].mark
            margin = format_decimal(abs(p.amount) * mark / acct.leverage_for(p.symbol))
            out.append(
                {
                    "symbol": p.symbol,
                    "positionSide": p.position_side.value,
                    "positionAmt": format_decimal(p.amount),
                    "entryPrice": format_decimal(p.entry_price),
                    "breakEvenPrice": format_decimal(p.entry_price),
                    "markPrice": format_decimal(mark),
                    "unRealizedProfit": format_decimal(p.unrealized_pnl(mark)),
                    "liquidationPrice": format_decimal(p.liquidation_price),
                    "isolatedMargin": "0",
                    "notional": format_decimal(p.amount * mark),
                    "marginAsset": "USDT",
                    "isolatedWallet": "0",
                    "initialMargin": margin,
                    "maintMargin": "0",
                    "positionInitialMargin": margin,
                    "openOrderInitialMargin": "0",
                    "adl": 0,
                    "bidNotional": "0",
                    "askNotional": "0",
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
