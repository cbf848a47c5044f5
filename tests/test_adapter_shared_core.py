"""The core the Spot and USD-M adapters share (:mod:`exitguard.adapters.rest_core`,
:mod:`~exitguard.adapters.sdk_client`, :mod:`~exitguard.adapters.stream_loop`).

No venue here: the old import paths still give the same objects, every endpoint the adapters call
goes through the SDK's typed method with exactly the wire params (as the hand-written lambdas did
before the shared helper), key kinds are told apart, the settings validate, and a closed adapter
says which product it is. The end-to-end behaviour is in the other ``test_adapter_*`` files.
"""

from __future__ import annotations

from typing import Any

import pytest
from binance_sdk_derivatives_trading_usds_futures.rest_api import (
    DerivativesTradingUsdsFuturesRestAPI as UsdmApi,
)
from binance_sdk_spot.rest_api import SpotRestAPI
from Crypto.PublicKey import ECC, RSA

from exitguard.adapters import rest_core, sdk_client, spot_rest, usdm_reader, usdm_rest
from exitguard.adapters.rest_core import RestSettings, sdk_call
from exitguard.adapters.spot import SdkSpotReader, SdkSpotTrader, SpotStreamSettings
from exitguard.adapters.spot_rest import SpotRestCore
from exitguard.adapters.usdm import SdkUsdmReader, SdkUsdmTrader, UserStreamSettings
from exitguard.adapters.usdm_rest import UsdmRestCore

REST = "http://127.0.0.1:1"
KEY = "k" * 64
SECRET = "s" * 64
ED25519_PEM = ECC.generate(curve="Ed25519").export_key(format="PEM")
RSA_PEM = RSA.generate(1024).export_key().decode()


def test_old_import_paths_give_the_shared_objects() -> None:
    assert usdm_rest.UsdmRestSettings is spot_rest.SpotRestSettings is RestSettings
    for name in ("OFFSET_APPLY_MS", "PrivateKey", "TypedCall", "load_private_key", "plain"):
        assert getattr(usdm_rest, name) is getattr(rest_core, name)
    for name in ("sdk_kwargs", "sdk_params"):
        assert getattr(usdm_rest, name) is getattr(rest_core, name)
    assert spot_rest.TypedCall is rest_core.TypedCall
    assert usdm_reader.convert is sdk_client.convert
    for module in (usdm_rest, spot_rest, usdm_reader):
        assert all(hasattr(module, name) for name in module.__all__)


SPOT_CALLS: list[tuple[str, dict[str, str]]] = [
    ("get_account", {}),
    ("get_open_orders", {}),
    ("get_open_orders", {"symbol": "ETHUSDT"}),
    ("open_order_list", {}),
    ("get_order", {"symbol": "ETHUSDT", "origClientOrderId": "eg-1"}),
    ("get_order_list", {"origClientOrderId": "eg-1"}),
    ("delete_order", {"symbol": "ETHUSDT", "origClientOrderId": "eg-1"}),
    ("delete_order_list", {"symbol": "ETHUSDT", "listClientOrderId": "eg-1"}),
    ("new_order", {"symbol": "ETHUSDT", "side": "SELL", "type": "STOP_LOSS", "stopPrice": "1"}),
]
USDM_CALLS: list[tuple[str, dict[str, str]]] = [
    ("get_current_position_mode", {}),
    ("position_information_v3", {}),
    ("current_all_algo_open_orders", {"symbol": "BTCUSDT"}),
    ("current_all_open_orders", {}),
    ("query_algo_order", {"clientAlgoId": "eg-1"}),
    ("cancel_algo_order", {"clientAlgoId": "eg-1"}),
    ("query_order", {"symbol": "BTCUSDT", "origClientOrderId": "eg-1"}),
    ("cancel_order", {"symbol": "BTCUSDT", "origClientOrderId": "eg-1"}),
]


@pytest.mark.parametrize(
    ("api", "name", "params"),
    [(SpotRestAPI, n, p) for n, p in SPOT_CALLS] + [(UsdmApi, n, p) for n, p in USDM_CALLS],
)
def test_every_adapter_call_has_its_typed_sdk_method(
    api: type, name: str, params: dict[str, str]
) -> None:
    assert sdk_call(getattr(api, name), params) is not None


def test_sdk_call_passes_exactly_the_params_or_falls_back() -> None:
    seen: list[dict[str, Any]] = []

    class Rest:
        def get_order(
            self,
            symbol: str | None = None,
            orig_client_order_id: str | None = None,
            recv_window: int | None = None,
        ) -> Any:
            seen.append(
                {"symbol": symbol, "orig": orig_client_order_id, "recv_window": recv_window}
            )
            return "answer"

    rest = Rest()
    call = sdk_call(rest.get_order, {"symbol": "ETHUSDT", "origClientOrderId": "eg-1"})
    assert call is not None and call(5000) == "answer"
    assert seen == [{"symbol": "ETHUSDT", "orig": "eg-1", "recv_window": 5000}]
    # A parameter the typed method has no place for: the generic signed request is used.
    assert sdk_call(rest.get_order, {"symbol": "ETHUSDT", "workingType": "MARK_PRICE"}) is None


@pytest.mark.parametrize("core_type", [SpotRestCore, UsdmRestCore])
async def test_key_kinds_and_closed_cores(core_type: type[SpotRestCore | UsdmRestCore]) -> None:
    kinds = []
    for keys in (
        {"api_secret": SECRET},
        {"private_key_pem": RSA_PEM},
        {"private_key_pem": ED25519_PEM},
    ):
        core = core_type(RestSettings(rest_url=REST, api_key=KEY, **keys))
        kinds.append(core.key_kind)
        await core.close()
    assert kinds == ["hmac", "rsa", "ed25519"]
    with pytest.raises(RuntimeError, match=f"the {core_type.label} adapter is closed"):
        await core.run(lambda: None)


async def test_readers_and_traders_share_the_client_wiring() -> None:
    spot = SdkSpotReader(
        rest_url=REST, ws_api_url="ws://127.0.0.1:1", api_key=KEY, private_key=ED25519_PEM
    )
    usdm = SdkUsdmReader(
        rest_url=REST, ws_streams_url="ws://127.0.0.1:1", api_key=KEY, api_secret=SECRET
    )
    traders = [
        SdkSpotTrader(rest_url=REST, api_key=KEY, api_secret=SECRET),
        SdkUsdmTrader(rest_url=REST, api_key=KEY, api_secret=SECRET),
    ]
    for client in (spot, usdm, *traders):
        assert client.clock_offset_ms == 0 and KEY not in client.redact(f"key {KEY}")
        await client.close()
        await client.close()  # idempotent
    with pytest.raises(RuntimeError, match="the Spot reader is closed"):
        spot.user_stream()
    with pytest.raises(RuntimeError, match="the USD-M reader is closed"):
        usdm.user_stream()
    with pytest.raises(RuntimeError, match="the USD-M adapter is closed"):
        await traders[1].sync_time()


def test_stream_settings_validate_the_shared_fields() -> None:
    spot = SpotStreamSettings("wss://ws-api.binance.com/ws-api/v3", reconnect_attempts=3)
    usdm = UserStreamSettings("wss://fstream.binance.com", 60.0, reconnect_max_s=5.0)
    assert (spot.reconnect_attempts, spot.auth, usdm.keepalive_interval_s) == (3, "auto", 60.0)
    with pytest.raises(ValueError, match="ws_api_url must be a ws"):
        SpotStreamSettings("https://example.invalid")
    with pytest.raises(ValueError, match="ws_streams_url must be a ws"):
        UserStreamSettings("https://example.invalid")
    with pytest.raises(ValueError, match="keepalive_interval_s must be > 0"):
        UserStreamSettings("ws://127.0.0.1:1", 0)
    for settings_type in (SpotStreamSettings, UserStreamSettings):
        with pytest.raises(ValueError, match="reconnect_initial_s <= reconnect_max_s"):
            settings_type("ws://127.0.0.1:1", reconnect_initial_s=2.0, reconnect_max_s=1.0)
        with pytest.raises(ValueError, match="reconnect_attempts must be >= 1"):
            settings_type("ws://127.0.0.1:1", reconnect_attempts=0)
        with pytest.raises(ValueError, match="open_timeout_s must be > 0"):
            settings_type("ws://127.0.0.1:1", open_timeout_s=0)
        with pytest.raises(ValueError, match="queue_size must be >= 1"):
            settings_type("ws://127.0.0.1:1", queue_size=0)
