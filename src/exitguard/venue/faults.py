"""Fault injection for the venue's REST requests (``/fapi`` and ``/api``): latency, lost
responses, 429s, clock skew. Messages are the product's own (a lost ``/api/v3`` response gets
Spot's text)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exitguard.domain.enums import Product
from exitguard.domain.error_codes import lookup as lookup_error
from exitguard.domain.error_codes import message_for

from .errors import VenueError

__all__ = ["MAX_LATENCY_MS", "Faults", "LostResponse", "int_field", "lost_response"]

MAX_LATENCY_MS = 120_000


@dataclass(slots=True)
class LostResponse:
    path: str
    count: int = 1
    status: int = 503
    code: int = -1007
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return self.count > 0 and self.path == path and self.method in (None, method)

    def error(self) -> VenueError:
        product = Product.SPOT if self.path.startswith("/api/") else Product.USDM
        msg = "Unknown error, please check your request or try again later."
        if lookup_error(product, self.code) is not None:
            with contextlib.suppress(ValueError):  # a message with placeholders keeps the default
                msg = message_for(product, self.code)
        return VenueError(self.code, msg, http_status=self.status)

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "method": self.method,
            "count": self.count,
            "status": self.status,
            "code": self.code,
        }


@dataclass(slots=True)
class Faults:
    """Faults as data; :func:`_faults_middleware` applies them."""

    latency_ms: int = 0
    status_429: int = 0
    clock_skew_ms: int = 0
    lose_response: list[LostResponse] = field(default_factory=list)

    def clear(self) -> None:
        self.latency_ms = self.status_429 = self.clock_skew_ms = 0
        self.lose_response.clear()

    def to_json(self) -> dict[str, object]:
        return {
            "latency_ms": self.latency_ms,
            "status_429": self.status_429,
            "clock_skew_ms": self.clock_skew_ms,
            "lose_response": [lr.to_json() for lr in self.lose_response if lr.count > 0],
        }

    def forced_429(self, product: Product) -> VenueError:
        """The answer to a request the ``status_429`` fault refuses (not processed)."""
        if product is Product.SPOT:
            msg = message_for(Product.SPOT, -1003, "6000", "1 MINUTE")
        else:
            msg = message_for(Product.USDM, -1003, "2400")
        return VenueError(-1003, msg, http_status=429, headers={"Retry-After": "1"})

    def take_lost_response(self, method: str, path: str) -> VenueError | None:
        for lr in self.lose_response:
            if lr.matches(method, path):
                lr.count -= 1
                err = lr.error()
                self.lose_response = [x for x in self.lose_response if x.count > 0]
                return err
        return None


def int_field(body: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}]")
    return value


def lost_response(obj: object) -> LostResponse:
    if not isinstance(obj, dict):
        raise ValueError("lose_response must be an object (or a list of objects)")
    unknown = set(obj) - {"path", "method", "count", "status", "code"}
    if unknown:
        raise ValueError(f"lose_response: unknown key(s) {sorted(unknown)}")
    path = obj.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError("lose_response.path must be a path such as /fapi/v1/algoOrder")
    method = obj.get("method")
    if method is not None and (not isinstance(method, str) or not method.isalpha()):
        raise ValueError("lose_response.method must be an HTTP method")
    lr = LostResponse(path=path, method=method.upper() if method else None)
    if "count" in obj:
        lr.count = int_field(obj, "count", 1, 1_000_000)
    if "status" in obj:
        lr.status = int_field(obj, "status", 400, 599)
    if "code" in obj:
        lr.code = int_field(obj, "code", -99_999, -1)
    return lr
