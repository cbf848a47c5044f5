"""The USD-M Futures adapter: :class:`SdkUsdmReader` and :class:`SdkUsdmTrader` over the official
SDK ``binance-sdk-derivatives-trading-usds-futures`` (checked against 18.0.1, with
``binance-common`` 4.6.0).

Modules: :mod:`.usdm_rest` (the USD-M SDK client and clock error codes),
:mod:`.usdm_convert` (answers → snapshots), :mod:`.usdm_reader`, :mod:`.usdm_trader`,
:mod:`.usdm_stream` (private stream: listen key, keep-alive). Shared with Spot:
:mod:`.rest_core` (threads, clock offset, exact params), :mod:`.sdk_errors` (error boundary,
redaction), :mod:`.answer_fields` (reading answer fields), :mod:`.sdk_client` (reader/trader
wiring, stream bookkeeping) and :mod:`.stream_loop` (the reconnecting socket and its transport
events).

SDK surface used (``rest`` = ``DerivativesTradingUsdsFutures(config_rest_api=...).rest_api``, a
``DerivativesTradingUsdsFuturesRestAPI``; every typed call returns ``ApiResponse[<model>]``):

| SDK method / type | endpoint | response model | used by |
|---|---|---|---|
| ``rest.exchange_information()`` | GET /fapi/v1/exchangeInfo | ExchangeInformationResponse | exchange_info |
| ``rest.get_current_position_mode(recv_window)`` | GET /fapi/v1/positionSide/dual | GetCurrentPositionModeResponse | position_mode |
| ``rest.position_information_v3(recv_window)`` | GET /fapi/v3/positionRisk | PositionInformationV3Response | positions |
| ``rest.symbol_price_ticker(symbol)`` | GET /fapi/v1/ticker/price | SymbolPriceTickerResponse | prices (last) |
| ``rest.mark_price(symbol)`` | GET /fapi/v1/premiumIndex | MarkPriceResponse | prices (mark) |
| ``rest.current_all_algo_open_orders(symbol, recv_window)`` | GET /fapi/v1/openAlgoOrders | CurrentAllAlgoOpenOrdersResponse | open_algo_orders |
| ``rest.current_all_open_orders(symbol, recv_window)`` | GET /fapi/v1/openOrders | CurrentAllOpenOrdersResponse | open_orders |
| ``rest.query_algo_order(client_algo_id, recv_window)`` | GET /fapi/v1/algoOrder | QueryAlgoOrderResponse | query_algo_order, cancel_algo_order |
| ``rest.query_order(symbol, orig_client_order_id, recv_window)`` | GET /fapi/v1/order | QueryOrderResponse | query_order |
| ``rest.new_algo_order(algo_type, symbol, side, type, ...)`` | POST /fapi/v1/algoOrder | NewAlgoOrderResponse | place_algo_order |
| ``rest.cancel_algo_order(client_algo_id, recv_window)`` | DELETE /fapi/v1/algoOrder | CancelAlgoOrderResponse | cancel_algo_order |
| ``rest.new_order(symbol, side, type, ...)`` | POST /fapi/v1/order | NewOrderResponse | place_order |
| ``rest.cancel_order(symbol, orig_client_order_id, recv_window)`` | DELETE /fapi/v1/order | CancelOrderResponse | cancel_order |
| ``rest.check_server_time()`` | GET /fapi/v1/time | CheckServerTimeResponse | clock offset after -1021 |
| ``rest.start_user_data_stream()`` | POST /fapi/v1/listenKey | StartUserDataStreamResponse | user_stream |
| ``rest.keepalive_user_data_stream()`` | PUT /fapi/v1/listenKey | KeepaliveUserDataStreamResponse | user_stream |
| ``binance_common.utils.send_request(..., is_signed=True, signer=...)`` | the signed endpoints above | raw JSON | params a typed method lacks; clock offset |
| ``binance_common.configuration.ConfigurationRestAPI`` | - | - | api_key, api_secret / private_key (+ passphrase), base_path, timeout, retries=0 |
| ``binance_common.signature.Signers.get_signer`` | - | - | RSA/Ed25519 signer of the generic signed request |
| ``binance_common.utils.snake_to_camel`` | - | - | typed call puts the same names on the wire |
| ``binance_common.models.ApiResponse`` (``.data()``) | - | - | every typed result |
| ``binance_common.errors`` (base ``Error``): BadRequestError, UnauthorizedError, ForbiddenError, NotFoundError, TooManyRequestsError (``retry_after``), RateLimitBanError, ServerError, ClientError, NetworkError, RequiredError | - | - | error boundary (:mod:`.sdk_errors`) |

With ``[usdm] transport = "ws_api"`` the placements and cancels go over the WebSocket API
instead (:class:`.usdm_ws.WsUsdmTrader`: ``websocket_api.send_signed_message`` with
``order.place``, ``order.cancel``, ``algoOrder.place``, ``algoOrder.cancel``; queries stay REST).

Not used, on purpose: the SDK's ``websocket_streams`` client (the private stream uses aiohttp;
why in :mod:`.usdm_stream`), the rest client's ``send_signed_request`` (broken in 18.0.1, see
:mod:`.rest_core`), and SDK retries (``retries=0``).
"""

from __future__ import annotations

from .usdm_reader import SdkUsdmReader
from .usdm_rest import OFFSET_APPLY_MS, PrivateKey
from .usdm_stream import UserStreamSettings
from .usdm_trader import SdkUsdmTrader

__all__ = ["OFFSET_APPLY_MS", "PrivateKey", "SdkUsdmReader", "SdkUsdmTrader", "UserStreamSettings"]
