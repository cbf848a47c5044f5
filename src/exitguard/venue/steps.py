"""What a price feed produces and promises, shared by the synthetic, scripted and replay feeds."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

__all__ = ["Feed", "FeedError", "PriceStep"]


@dataclass(frozen=True, slots=True)
class PriceStep:
    """One price update of one symbol at venue time ``t_ms`` (epoch ms)."""

    t_ms: int
    symbol: str
    last: Decimal | None
    mark: Decimal | None
    qty: Decimal | None = None


@runtime_checkable
class Feed(Protocol):
    """What the venue needs from a price source."""

    def steps_until(self, t_ms: int) -> list[PriceStep]:
        """Every step with ``t_ms <= t_ms`` not returned before, in non-decreasing time."""
        ...


class FeedError(ValueError):
    """Feed input that cannot be used; the message names the file, the line and the rule."""

    def __init__(
        self,
        rule: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: str | None = None,
        value: str | None = None,
    ) -> None:
        parts = [p for p in (source, f"line {line}" if line is not None else None) if p]
        if column:
            parts.append(f"column {column!r}")
        got = f" (got {value[:60]!r})" if value is not None else ""
        super().__init__(": ".join([*parts, rule]) + got if parts else rule + got)
        self.rule = rule
        self.source = source
        self.line = line
        self.column = column
