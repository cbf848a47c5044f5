"""Error codes Binance added since 2025-12 (Spot errors.md): -2043 NO_REFERENCE_PRICE (sent by
``GET /api/v3/referencePrice`` for a symbol that never had one; CHANGELOG 2026-04-16) and the
OPO order-list codes -1222..-1225. A refusal that changed nothing is REJECTED: retrying it
unchanged is pointless, and it is never an unknown outcome that needs a query."""

from __future__ import annotations

import pytest

from exitguard.adapters.errors import Rejected, error_for
from exitguard.domain.enums import Product
from exitguard.domain.error_codes import ErrorClass, classify_venue_error, lookup
from test_venue_spot_http import call, running
from test_venue_spot_ws_api import connected


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (-2043, "NO_REFERENCE_PRICE"),
        (-1222, "OPO_WORKING_MUST_BE_BUY"),
        (-1223, "OPO_PENDING_MUST_BE_SELL"),
        (-1224, "WORKING_PARAM_REQUIRED"),
        (-1225, "PENDING_PARAM_NOT_REQUIRED"),
    ],
)
def test_new_spot_codes_are_listed_and_rejected(code: int, name: str) -> None:
    entry = lookup(Product.SPOT, code)
    assert entry is not None and entry.name == name and entry.documented
    assert classify_venue_error(Product.SPOT, code, 400) is ErrorClass.REJECTED


def test_no_reference_price_becomes_a_rejected_error_in_the_adapters() -> None:
    msg = "This symbol doesn't have a reference price."
    assert lookup(Product.SPOT, -2043).message == msg  # type: ignore[union-attr]
    err = error_for(Product.SPOT, msg, code=-2043, http_status=400)
    assert isinstance(err, Rejected) and err.code == -2043


async def test_venue_answers_no_reference_price_where_binance_does() -> None:
    async with running() as (v, s):
        status, body, headers = await call(
            v, s, "GET", "/api/v3/referencePrice", [("symbol", "BTCUSDT")], sign=False
        )
        assert (status, body) == (
            400,
            {"code": -2043, "msg": "This symbol doesn't have a reference price."},
        )
        assert headers["X-MBX-USED-WEIGHT-1M"] == "2"
        _, body, _ = await call(
            v, s, "GET", "/api/v3/referencePrice", [("symbol", "NOPE")], sign=False
        )
        assert body["code"] == -1121
    async with connected() as c:
        out = await c.request("referencePrice", {"symbol": "BTCUSDT"})
        assert out["status"] == 400 and out["error"]["code"] == -2043
