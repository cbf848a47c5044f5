"""freqtrade: hand each filled entry's exits to exitguard from ``order_filled``.

Drop the method into your strategy (freqtrade >= 2023.3 calls ``order_filled`` after every fill).
freqtrade keeps managing the trade; exitguard keeps the exchange-side stop and target resting,
repairs them after restarts and API errors, and alerts when the position is ever bare.

Settings: ``EXITGUARD_URL`` (default http://127.0.0.1:8737) and ``EXITGUARD_API_TOKEN``.
"""

from __future__ import annotations

import logging
import os
from decimal import Decimal
from typing import Any

from freqtrade.strategy import IStrategy  # type: ignore[import-not-found]

from exitguard.client import ApiError, GuardClient

log = logging.getLogger(__name__)


class GuardedStrategy(IStrategy):  # type: ignore[misc]
    stoploss = -0.02  # freqtrade's own (software) stop stays as a second line
    guard_stop_pct = Decimal(2)
    guard_target_pct = Decimal(4)

    def _guard(self) -> GuardClient:
        url = os.environ.get("EXITGUARD_URL", "http://127.0.0.1:8737")
        return GuardClient(url, os.environ["EXITGUARD_API_TOKEN"], timeout_s=5)

    def order_filled(self, pair: str, trade: Any, order: Any, current_time: Any, **kwargs: Any) -> None:
        if order.ft_order_side != trade.entry_side:
            return  # only entries hand a position over; exits close it
        symbol = pair.split(":")[0].replace("/", "")  # "BTC/USDT:USDT" -> "BTCUSDT"
        product = "usdm" if ":" in pair else "spot"
        entry = Decimal(str(trade.open_rate))
        sign = -1 if trade.is_short else 1
        stop = entry * (1 - sign * self.guard_stop_pct / 100)
        target = entry * (1 + sign * self.guard_target_pct / 100)
        try:
            self._guard().protect(
                product,
                symbol,
                stop_price=stop.quantize(Decimal("0.01")),
                take_profit_price=target.quantize(Decimal("0.01")),
                request_id=f"ft-{trade.id}-{order.order_id}",
            )
        except (ApiError, OSError) as exc:
            # exitguard's config policy still protects the position; say why the plan was not taken.
            log.warning("exitguard did not take the plan for %s: %s", pair, exc)
