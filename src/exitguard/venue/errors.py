"""Errors the venue answers with: always ``{"code": ..., "msg": ...}`` and an HTTP status."""

from __future__ import annotations

from exitguard.domain.violations import Violation

__all__ = ["VenueError"]


class VenueError(Exception):
    """A Binance-shaped refusal. ``http_status`` is 400 unless Binance uses another for the case
    (401 bad key/signature on some paths, 429/418 rate limits, 503 unknown outcome)."""

    def __init__(
        self,
        code: int,
        msg: str,
        http_status: int = 400,
        headers: dict[str, str] | None = None,
        data: dict[str, object] | None = None,
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.headers = headers or {}
        self.data = data  # Spot cancelReplace failures carry both halves' results here

    @classmethod
    def from_violation(cls, v: Violation) -> VenueError:
        return cls(v.code, v.message)

    def body(self) -> dict[str, object]:
        if self.data is not None:
            return {"code": self.code, "msg": self.msg, "data": self.data}
        return {"code": self.code, "msg": self.msg}
