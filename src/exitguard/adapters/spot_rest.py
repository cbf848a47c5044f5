"""The Spot REST core shared by the Spot reader and trader: :class:`.rest_core.RestCore` over
``binance-sdk-spot``.

The reasons for its shape are the shared core's (threads, ``retries=0``, exact ``str`` wire
values, one clock sync per ``-1021``, the generic ``send_request`` path because the rest client's
own ``send_signed_request`` fails in 13.2.0 with ``TypeError`` like the USD-M SDK's). What is
Spot's own: the SDK client (``Spot(...).rest_api``), the server time call (``rest.time()``,
``GET /api/v3/time``), the clock error code (``-1021`` only) and the error classes below.

Errors: :func:`.sdk_errors.translate` knows every SDK exception; it classifies with the USD-M
table, so answers with a code or an HTTP status are classified again with the Spot rows
(:func:`spot_translate`): Spot has no "503 Service Unavailable = failure" rule, and ``-2021``
means a half-done cancel-replace there.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from binance_common.configuration import ConfigurationRestAPI
from binance_common.models import ApiResponse
from binance_sdk_spot.rest_api import SpotRestAPI
from binance_sdk_spot.spot import Spot

from exitguard.domain.enums import Product

from .errors import ExchangeError, Transient, error_for
from .rest_core import RestCore, RestSettings, TypedCall
from .sdk_errors import Redactor, translate

__all__ = ["SpotRestCore", "SpotRestSettings", "TypedCall", "spot_translate"]

# The settings are product-neutral (URL, keys, timeouts); the shared class is reused as is.
SpotRestSettings = RestSettings


def spot_translate(exc: BaseException, redact: Redactor) -> ExchangeError:
    """:func:`translate`, with venue answers classified by the Spot rows of the shared table."""
    err = translate(exc, redact)
    if err.code is None and err.http_status is None:
        return err  # transport failures: product-neutral
    spot = error_for(Product.SPOT, err.msg, code=err.code, http_status=err.http_status)
    retry_after = getattr(err, "retry_after_s", None)
    if isinstance(spot, Transient) and retry_after is not None:
        spot.retry_after_s = retry_after
    return spot


class SpotRestCore(RestCore[SpotRestAPI]):
    """One Spot SDK REST client plus threads, clock offset and the error boundary."""

    product: ClassVar[str] = "spot"
    label: ClassVar[str] = "Spot"
    clock_codes: ClassVar[frozenset[int]] = frozenset({-1021})
    log: ClassVar[logging.Logger] = logging.getLogger("exitguard.adapters.spot")

    def _client(self, config: ConfigurationRestAPI) -> SpotRestAPI:
        return Spot(config_rest_api=config).rest_api

    def _server_time(self) -> ApiResponse[Any]:
        return self.rest.time()

    def _translate(self, exc: BaseException) -> ExchangeError:
        return spot_translate(exc, self.redact)
