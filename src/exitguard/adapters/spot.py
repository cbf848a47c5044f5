"""The Spot adapter: :class:`SdkSpotReader` and :class:`SdkSpotTrader` over the official SDK
``binance-sdk-spot`` (checked against 13.2.0, with ``binance-common`` 4.6.0).

Modules: :mod:`.spot_rest` (the Spot SDK client, clock error code, Spot error classes),
:mod:`.spot_convert` (answers → snapshots), :mod:`.spot_reader`, :mod:`.spot_trader`,
:mod:`.spot_stream` (user data through the WebSocket API: ``session.logon`` or
``subscribe.signature``). Shared with USD-M: :mod:`.rest_core` (threads, clock offset, exact
params, error boundary), :mod:`.sdk_client` (reader/trader wiring, answers → snapshots, stream
bookkeeping), :mod:`.stream_loop` (the reconnecting socket and its transport events), and the
redaction and SDK-exception mapping of :mod:`.sdk_errors`.

SDK surface used (``rest`` = ``Spot(config_rest_api=...).rest_api``, a ``SpotRestAPI``; every
typed call returns ``ApiResponse[<model>]``):

| SDK method / type | endpoint | response model | used by |
|---|---|---|---|
| ``rest.exchange_info()`` | GET /api/v3/exchangeInfo | ExchangeInfoResponse | exchange_info |
| ``rest.get_account(recv_window)`` | GET /api/v3/account | GetAccountResponse | balances |
| ``rest.ticker_price(symbol)`` | GET /api/v3/ticker/price | TickerPriceResponse | prices (last) |
| ``rest.get_open_orders(symbol, recv_window)`` | GET /api/v3/openOrders | GetOpenOrdersResponse | open_orders |
| ``rest.open_order_list(recv_window)`` | GET /api/v3/openOrderList | OpenOrderListResponse | open_order_lists |
| ``rest.get_order(symbol, orig_client_order_id, recv_window)`` | GET /api/v3/order | GetOrderResponse | query_order |
| ``rest.get_order_list(orig_client_order_id, recv_window)`` | GET /api/v3/orderList | GetOrderListResponse | query_order_list |
| ``rest.new_order(symbol, side, type, ...)`` | POST /api/v3/order | NewOrderResponse | place_order |
| ``rest.order_list_oco(symbol, side, quantity, above_type, below_type, ...)`` | POST /api/v3/orderList/oco | OrderListOcoResponse | place_oco |
| ``rest.delete_order(symbol, orig_client_order_id, recv_window)`` | DELETE /api/v3/order | DeleteOrderResponse | cancel_order |
| ``rest.delete_order_list(symbol, list_client_order_id, recv_window)`` | DELETE /api/v3/orderList | DeleteOrderListResponse | cancel_order_list |
| ``rest.time()`` | GET /api/v3/time | TimeResponse | clock offset after -1021 |
| ``binance_common.utils.send_request(..., is_signed=True, signer=...)`` | the signed endpoints above | raw JSON | params a typed method lacks; clock offset |
| ``binance_common.utils.get_signature`` | WS API ``userDataStream.subscribe.signature``, ``session.logon`` | - | user_stream (HMAC hex / RSA / Ed25519; logon: Ed25519 only) |
| ``binance_common.configuration.ConfigurationRestAPI`` | - | - | api_key, api_secret / private_key, base_path, timeout, retries=0 |
| ``binance_common.signature.Signers.get_signer`` | - | - | RSA/Ed25519 signer |
| ``binance_common.errors`` | - | - | error boundary (:mod:`.sdk_errors`, reclassified for Spot) |

Not used, on purpose: the SDK's ``websocket_api`` and ``websocket_streams`` clients (the user
stream uses aiohttp; why in :mod:`.spot_stream`), the rest client's ``send_signed_request``
(broken like USD-M's), the deprecated ``order_oco`` (``POST /api/v3/order/oco``) and SDK
retries (``retries=0``).
"""

from __future__ import annotations

from .spot_reader import SdkSpotReader
from .spot_stream import SpotStreamSettings
from .spot_trader import SdkSpotTrader

__all__ = ["SdkSpotReader", "SdkSpotTrader", "SpotStreamSettings"]
