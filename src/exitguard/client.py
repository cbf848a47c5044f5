"""A small typed client for exitguard's HTTP API, for bots that hand their positions over.

Standard library only (``urllib``), synchronous, so it drops into any bot (freqtrade strategies,
python-binance scripts, cron jobs)::

    from exitguard.client import GuardClient

    guard = GuardClient("http://127.0.0.1:8737", token)
    guard.protect("usdm", "BTCUSDT", stop_price="61500", take_profit_price="68000",
                  request_id="trade-42")
    print(guard.health()["status"])          # ok / degraded / bare

Every refusal raises :class:`ApiError` with the HTTP status, the field and the rule the server
named. Amounts go as strings (never floats); pass ``Decimal`` or ``str``. The event stream is a
WebSocket at ``/api/v1/stream`` (see docs/service.md); this client covers the REST part.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from typing import Any, Literal, TypedDict

__all__ = ["ApiError", "GuardClient", "Health", "PositionView"]

Number = Decimal | str | int
ProductName = Literal["usdm", "spot"]


class Health(TypedDict):
    status: Literal["ok", "degraded", "bare"]
    ready: bool
    mode: str
    reasons: list[str]
    positions: list[dict[str, Any]]
    scopes: dict[str, dict[str, Any]]
    pending_confirmations: int
    time_ms: int


class ExitView(TypedDict):
    role: str
    client_id: str
    type: str
    side: str
    trigger_price: str | None
    price: str | None
    quantity: str | None
    close_position: bool
    state: str
    distance_pct: str | None
    trailing: dict[str, Any] | None
    plan: str


class PositionView(TypedDict):
    id: str
    product: str
    symbol: str
    position_side: str
    side: Literal["LONG", "SHORT"]
    size: str
    entry_price: str
    mark_price: str | None
    unrealized_pnl: str | None
    liquidation_price: str | None
    protection: dict[str, Any]
    override: bool
    exits: list[ExitView]


class ApiError(Exception):
    """The API refused a request: ``status`` and what it named (``field``: ``rule``)."""

    def __init__(self, status: int, message: str, errors: list[dict[str, str]]) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.errors = errors

    @property
    def field(self) -> str | None:
        return self.errors[0]["field"] if self.errors else None


def _text(value: Number | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        raise TypeError("pass prices as Decimal or str, never float (binary rounding)")
    return str(value)


def _level(price: Number | None, distance_pct: Number | None) -> dict[str, Any] | None:
    if price is not None and distance_pct is not None:
        raise ValueError("give a price or a distance, not both")
    if price is not None:
        return {"price": _text(price)}
    if distance_pct is not None:
        return {"distance": {"percent": _text(distance_pct)}}
    return None


class GuardClient:
    """The API at ``base_url`` with ``token`` (see the module docstring)."""

    def __init__(self, base_url: str, token: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout_s = timeout_s

    def __repr__(self) -> str:  # never the token
        return f"GuardClient({self.base_url!r})"

    def _call(
        self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None
    ) -> Any:
        url = self.base_url + "/api/v1" + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read() or b"{}")
            except ValueError:
                payload = {}
            raise ApiError(
                exc.code, payload.get("error", exc.reason), payload.get("errors", [])
            ) from None

    # -- reads ---------------------------------------------------------------------------

    def health(self) -> Health:
        result: Health = self._call("GET", "/health")
        return result

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/status")
        return result

    def positions(self, symbol: str | None = None) -> list[PositionView]:
        result: list[PositionView] = self._call("GET", "/positions", query={"symbol": symbol})[
            "positions"
        ]
        return result

    def exits(self, symbol: str | None = None, active: bool = True) -> list[dict[str, Any]]:
        query = {"symbol": symbol, "active": "true" if active else "false"}
        result: list[dict[str, Any]] = self._call("GET", "/exits", query=query)["exits"]
        return result

    def events(self, after: int = 0, limit: int = 100, **filters: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "GET", "/events", query={"after": after, "limit": limit, **filters}
        )
        return result

    # -- writes ----------------------------------------------------------------------------

    def protect(
        self,
        product: ProductName,
        symbol: str,
        *,
        stop_price: Number | None = None,
        stop_distance_pct: Number | None = None,
        take_profit_price: Number | None = None,
        take_profit_distance_pct: Number | None = None,
        trailing_callback_rate: Number | None = None,
        trailing_delta_bips: int | None = None,
        trailing_activation_price: Number | None = None,
        on_immediate_trigger: Literal["close_now", "widen", "alert"] | None = None,
        position_side: Literal["LONG", "SHORT"] | None = None,
        request_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Hand the live position's exit plan over (absolute prices or distances from entry).

        The answer lists the planned actions and the exits now resting. ``extra`` merges raw
        body fields (e.g. ``{"stop_loss": {"working_type": "CONTRACT_PRICE"}}``).
        """
        body: dict[str, Any] = {}
        if (stop := _level(stop_price, stop_distance_pct)) is not None:
            body["stop_loss"] = stop
        if (take := _level(take_profit_price, take_profit_distance_pct)) is not None:
            body["take_profit"] = take
        if trailing_callback_rate is not None or trailing_delta_bips is not None:
            trailing: dict[str, Any] = {}
            if trailing_callback_rate is not None:
                trailing["callback_rate"] = _text(trailing_callback_rate)
            if trailing_delta_bips is not None:
                trailing["trailing_delta_bips"] = trailing_delta_bips
            if trailing_activation_price is not None:
                trailing["activation_price"] = _text(trailing_activation_price)
            body["trailing"] = trailing
        if on_immediate_trigger is not None:
            body["on_immediate_trigger"] = on_immediate_trigger
        if request_id is not None:
            body["request_id"] = request_id
        for key, value in (extra or {}).items():
            body[key] = {**body.get(key, {}), **value} if isinstance(value, dict) else value
        side = f"/{position_side}" if position_side else ""
        result: dict[str, Any] = self._call(
            "PUT", f"/positions/{product}/{symbol}{side}/protection", body
        )
        return result

    def release(
        self, product: ProductName, symbol: str, position_side: str | None = None
    ) -> dict[str, Any]:
        """Drop the bot's plan: the config's policy applies again."""
        side = f"/{position_side}" if position_side else ""
        result: dict[str, Any] = self._call(
            "DELETE", f"/positions/{product}/{symbol}{side}/protection"
        )
        return result

    def set_policy(self, product: ProductName, symbol: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", f"/policies/{product}/{symbol}", body)
        return result

    def pause(self, product: ProductName) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/scopes/{product}/pause")
        return result

    def resume(self, product: ProductName) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/scopes/{product}/resume")
        return result

    def close(
        self, product: ProductName, symbol: str, position_side: str | None = None
    ) -> dict[str, Any]:
        """A reduce-only market close of the whole position."""
        side = f"/{position_side}" if position_side else ""
        result: dict[str, Any] = self._call("POST", f"/positions/{product}/{symbol}{side}/close")
        return result
