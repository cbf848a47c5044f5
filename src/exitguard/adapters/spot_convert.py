"""Spot venue answers (plain JSON from :func:`.rest_core.plain`) → the port's snapshots.

Shapes (Spot ``rest-api.md``; checked against the paper venue): an order row has ``orderId``,
``clientOrderId``, ``status``, ``type``, ``side``, ``origQty``, ``executedQty``, ``price``,
``stopPrice`` (stops), ``orderListId`` and ``updateTime`` (queries) or ``transactTime``
(placement); a cancel answer carries the order's own id as ``origClientOrderId``. An order list
has ``orderListId``, ``contingencyType``, ``listStatusType``, ``listOrderStatus``,
``listClientOrderId``, ``transactionTime``, ``symbol``, ``orders`` and, on placement and
cancel, ``orderReports``. Anything unreadable raises :class:`ShapeError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .answer_fields import (
    ShapeError,
    as_list,
    as_mapping,
    side_field,
    text_field,
    to_decimal,
    to_int,
)
from .port import BalanceSnapshot, PriceSnapshot, SpotListSnapshot, SpotOrderSnapshot

__all__ = [
    "balance_snapshots",
    "last_price",
    "list_snapshot",
    "spot_order_snapshot",
]


def spot_order_snapshot(obj: object) -> SpotOrderSnapshot:
    row = as_mapping(obj)
    # A cancel answer: ``clientOrderId`` is the cancel request's id, the order's is ``orig...``.
    own_id = row.get("origClientOrderId") or text_field(row, "clientOrderId")
    when = row.get("updateTime") or row.get("transactTime") or row.get("time") or 0
    return SpotOrderSnapshot(
        order_id=to_int(row.get("orderId")),
        client_order_id=str(own_id),
        symbol=text_field(row, "symbol"),
        side=side_field(row),
        order_type=text_field(row, "type"),
        status=text_field(row, "status"),
        quantity=to_decimal(row.get("origQty", "0")),
        executed_quantity=to_decimal(row.get("executedQty", "0")),
        price=to_decimal(row.get("price", "0")),
        stop_price=to_decimal(row.get("stopPrice", "0")),
        order_list_id=to_int(row.get("orderListId"), -1),
        update_time_ms=to_int(when, 0),
        raw=dict(row),
    )


def list_snapshot(obj: object) -> SpotListSnapshot:
    row = as_mapping(obj)
    orders = tuple(
        (to_int(as_mapping(o).get("orderId")), str(as_mapping(o).get("clientOrderId", "")))
        for o in as_list(row.get("orders", []))
    )
    reports = tuple(
        spot_order_snapshot(r)
        for r in as_list(row.get("orderReports", []))
        # ACK reports carry ids only: not enough for a state.
        if isinstance(r, Mapping) and "status" in r
    )
    return SpotListSnapshot(
        order_list_id=to_int(row.get("orderListId")),
        list_client_order_id=text_field(row, "listClientOrderId"),
        symbol=text_field(row, "symbol"),
        contingency_type=str(row.get("contingencyType", "OCO")),
        list_status_type=text_field(row, "listStatusType"),
        list_order_status=text_field(row, "listOrderStatus"),
        orders=orders,
        transaction_time_ms=to_int(row.get("transactionTime"), 0),
        reports=reports,
        raw=dict(row),
    )


def balance_snapshots(answer: object) -> list[BalanceSnapshot]:
    """``GET /api/v3/account`` → one row per asset."""
    rows = as_list(as_mapping(answer).get("balances", []))
    out = []
    for r in rows:
        b = as_mapping(r)
        out.append(
            BalanceSnapshot(
                text_field(b, "asset"), to_decimal(b.get("free")), to_decimal(b.get("locked"))
            )
        )
    return out


def last_price(symbol: str, answer: object) -> PriceSnapshot:
    """``GET /api/v3/ticker/price`` (one row, or a list when the SDK wraps it). Spot has no mark
    price: ``mark`` repeats ``last`` so USD-M-shaped callers stay correct."""
    rows: list[Any] = answer if isinstance(answer, list) else [answer]
    for r in rows:
        row = as_mapping(r)
        if row.get("symbol") == symbol:
            price: Decimal = to_decimal(row.get("price"))
            return PriceSnapshot(symbol, price, price)
    raise ShapeError(f"no price for {symbol}")
