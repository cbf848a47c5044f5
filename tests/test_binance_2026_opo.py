"""Spot OPO / OPOCO order lists (Spot CHANGELOG 2025-12-18; ``rest-api.md`` "New Order List -
OPO" / "- OPOCO"; ``faqs/opo.md``): an OTO / OTOCO whose pending order(s) have no quantity; when
the working BUY fully fills, the received quantity becomes the pending SELL's quantity. Errors
-1222 / -1223 / -1225 and "OPO orders are not supported for this symbol.". REST and the WS API
through the official SDK's models. Servers bind 127.0.0.1 port 0; every wait is bounded."""

from __future__ import annotations

from typing import Any

import pytest
from binance_sdk_spot.rest_api.models import OrderListOpocoResponse, OrderListOpoResponse

from exitguard.venue.server import Venue
from spot_venue_helpers import SYMBOL, D, Spot, expect_error, make_spot, spot_info
from test_venue_spot_sdk_contract import rest, sdk, sdk_warnings, venue  # noqa: F401 (fixtures)
from test_venue_spot_ws_api import connected

OPO = {
    "symbol": SYMBOL,
    "workingType": "LIMIT",
    "workingSide": "BUY",
    "workingPrice": "64000",
    "workingQuantity": "0.5",
    "workingTimeInForce": "GTC",
    "pendingType": "STOP_LOSS",
    "pendingSide": "SELL",
    "pendingStopPrice": "63000",
}
OPOCO = {
    **{k: v for k, v in OPO.items() if not k.startswith("pending")},
    "pendingSide": "SELL",
    "pendingAboveType": "LIMIT_MAKER",
    "pendingAbovePrice": "67000",
    "pendingBelowType": "STOP_LOSS",
    "pendingBelowStopPrice": "63000",
}


@pytest.fixture
def s() -> Spot:
    return make_spot({"USDT": D(100_000)})  # no BTC: the pending SELL can only use what is bought


def test_opo_pending_gets_the_received_quantity_when_the_working_order_fills(s: Spot) -> None:
    out = s.x.order_list_opo(s.acct, OPO)
    assert (out["contingencyType"], out["listOrderStatus"]) == ("OTO", "EXECUTING")
    working, pending = out["orderReports"]
    assert (working["status"], working["origQty"]) == ("NEW", "0.50000000")
    assert pending["status"] == "PENDING_NEW" and "origQty" not in pending
    s.trade("64000", qty="0.2")  # a partial fill does not release the pending order
    assert s.status(pending["orderId"]) == "PENDING_NEW"
    s.trade("64000")
    assert s.status(working["orderId"]) == "FILLED"
    assert s.flow(pending["orderId"])[-1] == ("NEW", "NEW")
    assert s.x.orders[pending["orderId"]].qty == D("0.5")
    assert s.balance("BTC") == (D(0), D("0.5"))  # the received BTC is locked by the pending stop
    assert s.lists()[-1] == ("ALL_DONE", "ALL_DONE")
    s.trade("63000")
    assert s.flow(pending["orderId"])[-1] == ("TRADE", "FILLED")
    assert s.balance("BTC") == (D(0), D(0))


def test_opoco_places_the_exit_pair_with_the_received_quantity(s: Spot) -> None:
    out = s.x.order_list_opoco(s.acct, OPOCO)
    assert out["contingencyType"] == "OTO" and len(out["orders"]) == 3
    _working, stop, take = (r["orderId"] for r in out["orderReports"])
    assert all("origQty" not in r for r in out["orderReports"][1:])
    s.trade("64000")
    assert s.flow(stop)[-1] == ("NEW", "NEW") and s.flow(take)[-1] == ("NEW", "NEW")
    assert s.x.orders[stop].qty == s.x.orders[take].qty == D("0.5")
    assert s.lists() == [("EXEC_STARTED", "EXECUTING"), ("UPDATED", "EXECUTING")]
    s.trade("67000")
    assert s.flow(take)[-1] == ("TRADE", "FILLED")
    assert s.reports(stop)[-1]["eR"] == "OCO_TRIGGER"
    assert s.balance("BTC") == (D(0), D(0))


def test_opo_cancelled_before_the_fill_releases_nothing(s: Spot) -> None:
    out = s.x.order_list_opo(s.acct, OPO)
    s.x.cancel_order_list(s.acct, {"symbol": SYMBOL, "orderListId": str(out["orderListId"])})
    assert s.balance("USDT") == (D(100_000), D(0)) and s.balance("BTC") == (D(0), D(0))


def test_opo_rules(s: Spot) -> None:
    expect_error(lambda: s.x.order_list_opo(s.acct, {**OPO, "workingSide": "SELL"}), -1222)
    expect_error(lambda: s.x.order_list_opo(s.acct, {**OPO, "pendingSide": "BUY"}), -1223)
    msg = expect_error(lambda: s.x.order_list_opo(s.acct, {**OPO, "pendingQuantity": "0.5"}), -1225)
    assert "pendingQuantity" in msg
    expect_error(
        lambda: s.x.order_list_opoco(s.acct, {**OPOCO, "pendingAboveQuantity": "1"}), -1225
    )
    info = spot_info()
    next(x for x in info["symbols"] if x["symbol"] == SYMBOL)["opoAllowed"] = False
    closed = make_spot({"USDT": D(100_000)}, info=info)
    msg = expect_error(lambda: closed.x.order_list_opo(closed.acct, OPO), -2010)
    assert msg == "OPO orders are not supported for this symbol."
    # Only the working order's balance is needed (the pending one is paid by the fill).
    poor = make_spot({"USDT": D(100)})
    expect_error(lambda: poor.x.order_list_opo(poor.acct, OPO), -2010)


def _wire(params: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in k)
        out[snake] = v
    return out


async def test_sdk_rest_models_accept_opo_and_opoco_answers(
    venue: Venue,  # noqa: F811
    sdk_warnings,  # noqa: F811
) -> None:
    r = rest(venue)
    opo_params = {**_wire(OPO), "working_quantity": "0.01"}
    opo = (await sdk(lambda: r.order_list_opo(**opo_params))).data()
    assert isinstance(opo, OrderListOpoResponse) and opo.contingency_type == "OTO"
    assert [x.status for x in opo.order_reports] == ["NEW", "PENDING_NEW"]
    opoco_params = {**_wire(OPOCO), "working_quantity": "0.01"}
    opoco = (await sdk(lambda: r.order_list_opoco(**opoco_params))).data()
    assert isinstance(opoco, OrderListOpocoResponse) and len(opoco.orders) == 3
    assert sdk_warnings() == []


async def test_ws_api_order_list_place_opo() -> None:
    async with connected() as c:
        params = {**OPO, "workingQuantity": "0.01"}
        out = await c.request("orderList.place.opo", c.hmac_params(**params))
        assert out["status"] == 200, out
        assert [r["status"] for r in out["result"]["orderReports"]] == ["NEW", "PENDING_NEW"]
        out = await c.request(
            "orderList.place.opoco",
            c.hmac_params(**{**OPOCO, "workingQuantity": "0.01", "workingClientOrderId": "w2"}),
        )
        assert out["status"] == 200 and len(out["result"]["orders"]) == 3, out
