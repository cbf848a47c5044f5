"""``venue/coverage.md`` is generated from the installed SDKs and the venue's routes; the
committed file must equal a fresh rendering (so it cannot go stale), and every path the venue
does not serve answers a clear ``-1000 … not served by the paper venue``."""

from __future__ import annotations

from exitguard.venue.coverage import coverage_path, main, render, sdk_methods
from exitguard.venue.endpoints import ALL_ENDPOINTS
from exitguard.venue.http import not_served_message


def test_committed_coverage_equals_the_generated_one() -> None:
    assert coverage_path().read_text(encoding="utf-8") == render(), (
        "venue/coverage.md is stale: run `python -m exitguard.venue.coverage`"
    )
    assert main(["--check"]) == 0


def test_the_issue_list_is_served() -> None:
    text = render()
    for path in (
        "/fapi/v1/symbolConfig", "/fapi/v1/ticker/24hr", "/fapi/v1/klines", "/fapi/v1/aggTrades",
        "/fapi/v1/trades", "/fapi/v1/commissionRate", "/fapi/v1/marginType", "/fapi/v1/income",
        "/fapi/v1/multiAssetsMargin", "/fapi/v1/fundingRate", "/api/v3/ticker/24hr",
        "/api/v3/klines", "/api/v3/avgPrice", "/api/v3/myTrades",
    ):  # fmt: skip
        rows = [line for line in text.splitlines() if f"`{path}`" in line]
        assert rows and all(line.endswith("| yes |") for line in rows), path
    assert "| PUT | `/fapi/v1/order` | yes |" in text
    assert ("GET", "/sapi/v1/asset/tradeFee") in {(e.method, e.path) for e in ALL_ENDPOINTS}


def test_sdk_methods_are_read_from_the_sdk_source() -> None:
    methods = {
        m.name: m
        for m in sdk_methods("binance_sdk_derivatives_trading_usds_futures", "account_api")
    }
    v3 = methods["account_information_v3"]
    assert (v3.http_method, v3.path, v3.response_model) == (
        "GET", "/fapi/v3/account", "AccountInformationV3Response",
    )  # fmt: skip


def test_not_served_message_names_the_request_and_lists_served_routes() -> None:
    msg = not_served_message("GET", "/fapi/v1/openInterest")
    assert msg.startswith("Path /fapi/v1/openInterest, Method GET is not served by the paper venue")
    assert "GET /fapi/v1/symbolConfig" in msg and "/api/v3/" not in msg
    spot = not_served_message("GET", "/api/v3/uiKlines")
    assert "GET /api/v3/klines" in spot and "/fapi/" not in spot
