"""The USD-M REST core shared by the reader and the trader: :class:`.rest_core.RestCore` over
``binance-sdk-derivatives-trading-usds-futures``.

What is USD-M's own: the SDK client (``DerivativesTradingUsdsFutures(...).rest_api``), the server
time call (``check_server_time``, ``GET /fapi/v1/time``), and the clock error codes: ``-1021``
INVALID_TIMESTAMP and ``-5028`` (the matching engine's recvWindow check) both mean "clock".
Errors are classified with the USD-M rows of the shared table (:func:`.sdk_errors.translate`).

The settings and helpers (``UsdmRestSettings``, ``load_private_key``, ``plain``, ``sdk_params``,
``sdk_kwargs``, ...) live in :mod:`.rest_core` and are re-exported here under their old names.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from binance_common.configuration import ConfigurationRestAPI
from binance_common.models import ApiResponse
from binance_sdk_derivatives_trading_usds_futures import DerivativesTradingUsdsFutures
from binance_sdk_derivatives_trading_usds_futures.rest_api import (
    DerivativesTradingUsdsFuturesRestAPI,
)

from .rest_core import (
    OFFSET_APPLY_MS,
    PrivateKey,
    RestCore,
    RestSettings,
    TypedCall,
    load_private_key,
    plain,
    sdk_kwargs,
    sdk_params,
)

__all__ = [
    "OFFSET_APPLY_MS",
    "PrivateKey",
    "TypedCall",
    "UsdmRestCore",
    "UsdmRestSettings",
    "load_private_key",
    "plain",
    "sdk_kwargs",
    "sdk_params",
]

# The settings are product-neutral (URL, keys, timeouts); the name stays for its importers.
UsdmRestSettings = RestSettings


class UsdmRestCore(RestCore[DerivativesTradingUsdsFuturesRestAPI]):
    """One USD-M SDK REST client plus threads, clock offset and the error boundary."""

    product: ClassVar[str] = "usdm"
    label: ClassVar[str] = "USD-M"
    clock_codes: ClassVar[frozenset[int]] = frozenset({-1021, -5028})
    log: ClassVar[logging.Logger] = logging.getLogger("exitguard.adapters.usdm")

    def _client(self, config: ConfigurationRestAPI) -> DerivativesTradingUsdsFuturesRestAPI:
        return DerivativesTradingUsdsFutures(config_rest_api=config).rest_api

    def _server_time(self) -> ApiResponse[Any]:
        return self.rest.check_server_time()
