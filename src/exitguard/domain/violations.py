"""A violation: one broken rule in Binance's shape (``code``, ``msg``), plus field and rule."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Violation"]


@dataclass(frozen=True, slots=True)
class Violation:
    """One rule an order breaks.

    ``code`` is the Binance error code the venue would answer with, ``field`` the wire parameter at
    fault (``None`` for whole-order rules) and ``rule`` a short stable name such as
    ``"LOT_SIZE.stepSize"`` that tests and tools can match on. ``message`` names both.
    """

    code: int
    field: str | None
    rule: str
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "field": self.field, "rule": self.rule, "msg": self.message}
