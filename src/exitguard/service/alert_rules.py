"""Which hub events become alerts, and what an alert says.

Hub events are the service contract's ``{"seq", "time_ms", "kind", "data"}`` dicts. The mapping:

- ``exit_placed`` ← ``placed``; ``exit_filled`` ← ``exit_status`` with status FILLED (with the
  price and quantity of the ``exit_fill`` events seen for that client id, when there were any);
  ``exit_refused`` ← ``rejected`` / ``exit_rejected``; ``fallback`` ← ``fallback``;
  ``scope_degraded`` ← ``scope_degraded``; ``scope_recovered`` ← ``scope_ok``;
  ``manager_started`` / ``manager_stopped`` as they are.
- ``position_bare`` is a timer: a ``position_bare`` notice starts it, ``position_protected`` or
  ``position_gone`` for the same position cancels it; it fires (from :meth:`AlertRules.due`) once
  the position has been bare ``bare_alert_ms``, saying for how long. A transient bare spell (a
  stop being replaced, a 429 retried) is normal and must not page anyone. ``position_still_bare``
  reminders re-alert (the notifier's dedupe decides whether each one is sent).

Not thread-safe: the notifier calls it under its lock.
"""

from __future__ import annotations

import math
import string
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

__all__ = [
    "RELEVANT_KINDS",
    "SEVERITY_RANK",
    "Alert",
    "AlertRules",
    "Severity",
    "render_template",
]

Severity = Literal["info", "warning", "error"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2}
_TITLE = "exitguard"
_MEMORY = 512  # client ids remembered for the placed/fill details of a later FILLED alert
_MAX_BARE = 4096  # positions tracked by the bare timer (a real account has a handful)

FieldValue = str | int | float | None


@dataclass(frozen=True, slots=True)
class Alert:
    event: str
    severity: Severity
    title: str
    text: str
    key: str  # dedupe key: the slot, position, scope or "manager"
    fields: Mapping[str, FieldValue] = field(default_factory=dict)
    time_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The alert as webhooks receive it (JSON-safe)."""
        return {
            "event": self.event,
            "severity": self.severity,
            "title": self.title,
            "text": self.text,
            "fields": dict(self.fields),
            "time_ms": self.time_ms,
        }

    def values(self) -> dict[str, FieldValue]:
        """Template values: the fields, then the alert's own keys (which win)."""
        return {
            **self.fields,
            "event": self.event,
            "severity": self.severity,
            "title": self.title,
            "text": self.text,
            "time_ms": self.time_ms,
        }

    def noting(self, note: str, **extra: FieldValue) -> Alert:
        return replace(self, text=f"{self.text} ({note})", fields={**self.fields, **extra})


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def render_template(template: str, alert: Alert) -> str:
    """``template`` with ``{name}`` filled from the alert (missing values render empty).

    Config validation allows plain names only (no ``{x.attr}``), so nothing but these values can
    be reached. A bad format spec (``{price:d}`` on a string) falls back to the alert's text.
    """
    values = _Blank({k: "" if v is None else v for k, v in alert.values().items()})
    try:
        return string.Formatter().vformat(template, (), values)
    except (ValueError, TypeError, IndexError, KeyError):
        return alert.text


# --- reading the contract's identifiers -------------------------------------------------------


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return None


def _slot_fields(slot: object) -> dict[str, FieldValue]:
    """``account/product/SYMBOL/positionSide/role`` (a position lacks the role)."""
    if not isinstance(slot, str):
        return {}
    parts = slot.split("/")
    out: dict[str, FieldValue] = {}
    if len(parts) >= 4:
        account, product, symbol, side = parts[:4]
        out |= {
            "account": account,
            "product": product,
            "symbol": symbol,
            "position_side": side,
            "position": "/".join(parts[:4]),
        }
    if len(parts) == 5:
        out |= {"role": parts[4], "slot": slot}
    return out


def _scope_fields(scope: object) -> dict[str, FieldValue]:
    if not isinstance(scope, str):
        return {}
    account, _, product = scope.partition("/")
    return {"scope": scope, "account": account, "product": product or None}


def _where(f: Mapping[str, FieldValue]) -> str:
    """``usdm BTCUSDT BOTH`` for messages (a one-way position's BOTH is still said)."""
    parts = [f.get("product"), f.get("symbol"), f.get("position_side")]
    return " ".join(str(p) for p in parts if p) or str(f.get("slot") or "?")


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@dataclass(slots=True)
class _Bare:
    since_ms: int
    state: str
    reason: str
    fields: dict[str, FieldValue]
    alerted: bool = False


class AlertRules:
    """Hub events in, alerts out (before dedupe and rate limiting, which the notifier does)."""

    def __init__(self, events: frozenset[str], bare_alert_ms: int) -> None:
        self.events = events
        self.bare_alert_ms = bare_alert_ms
        self._placed: OrderedDict[str, dict[str, FieldValue]] = OrderedDict()
        self._fills: OrderedDict[str, tuple[Decimal, str]] = OrderedDict()
        self._bare: dict[str, _Bare] = {}

    # -- the one entry point for hub events --------------------------------------------------

    def feed(self, event: Mapping[str, Any], now_ms: int) -> list[Alert]:
        kind = event.get("kind")
        data = event.get("data")
        if not isinstance(kind, str) or not isinstance(data, Mapping):
            return []
        time_ms = event.get("time_ms")
        at = time_ms if isinstance(time_ms, int) and not isinstance(time_ms, bool) else now_ms
        handler = _HANDLERS.get(kind)
        if handler is None:
            return []
        alert = handler(self, data, at, now_ms)
        if alert is None or alert.event not in self.events:
            return []
        return [alert]

    def tracking_bare(self) -> bool:
        return bool(self._bare)

    def due(self, now_ms: int) -> list[Alert]:
        """``position_bare`` alerts whose timer ran out (each position once per bare spell)."""
        if "position_bare" not in self.events:
            return []
        out: list[Alert] = []
        for position, bare in self._bare.items():
            if not bare.alerted and now_ms - bare.since_ms >= self.bare_alert_ms:
                bare.alerted = True
                out.append(self._bare_alert(position, bare, now_ms, now_ms - bare.since_ms))
        return out

    # -- exits ---------------------------------------------------------------------------------

    def _remember(self, table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > _MEMORY:
            table.popitem(last=False)

    def _placed_alert(self, data: Mapping[str, Any], at: int, now: int) -> Alert:
        f = _slot_fields(data.get("slot"))
        details = {
            "client_id": _text(data.get("client_id")),
            "type": _text(data.get("type")),
            "side": _text(data.get("side")),
            "trigger_price": _text(data.get("trigger_price")),
            "price": _text(data.get("price")),
            "qty": _text(data.get("quantity")),
            "reason": _text(data.get("reason")),
        }
        f |= {k: v for k, v in details.items() if v is not None}
        f.setdefault("product", _text(data.get("product")))
        client_id = details["client_id"]
        if isinstance(client_id, str):
            self._remember(self._placed, client_id, dict(f))
        words = [str(f.get("role", "exit")), str(f.get("type") or ""), str(f.get("side") or "")]
        if f.get("trigger_price"):
            words.append(f"trigger {f['trigger_price']}")
        if f.get("price"):
            words.append(f"price {f['price']}")
        words.append(f"qty {f['qty']}" if f.get("qty") else "close position")
        text = f"{_where(f)}: {' '.join(w for w in words if w)}"
        if f.get("reason"):
            text += f" ({f['reason']})"
        return Alert(
            "exit_placed",
            "info",
            f"{_TITLE}: {f.get('symbol', '?')} {f.get('role', 'exit')} placed",
            text,
            key=str(f.get("slot") or client_id or "?"),
            fields=f,
            time_ms=at,
        )

    def _fill(self, data: Mapping[str, Any], at: int, now: int) -> None:
        client_id = data.get("client_id")
        if not isinstance(client_id, str):
            return None
        try:
            qty = Decimal(str(data.get("qty")))
        except InvalidOperation:
            qty = Decimal(0)
        price = _text(data.get("price")) or ""
        before = self._fills.get(client_id)
        total = (before[0] if before is not None else Decimal(0)) + (qty if qty.is_finite() else 0)
        self._remember(self._fills, client_id, (total, price))
        return None

    def _status(self, data: Mapping[str, Any], at: int, now: int) -> Alert | None:
        if data.get("filled") is not True and str(data.get("status", "")).upper() != "FILLED":
            return None
        client_id = _text(data.get("client_id"))
        f = _slot_fields(data.get("slot"))
        if client_id is not None:
            f = {**self._placed.pop(client_id, {}), **f, "client_id": client_id}
            fill = self._fills.pop(client_id, None)
            if fill is not None:
                f["qty"] = str(fill[0]) if fill[0] else f.get("qty")
                f["price"] = fill[1] or f.get("price")
        f["status"] = "FILLED"
        f.setdefault("product", _text(data.get("product")))
        text = f"{_where(f)}: {f.get('role', 'exit')} filled"
        if f.get("qty"):
            text += f" {f['qty']}"
        if f.get("price"):
            text += f" at {f['price']}"
        return Alert(
            "exit_filled",
            "info",
            f"{_TITLE}: {f.get('symbol', '?')} {f.get('role', 'exit')} filled",
            text,
            key=str(f.get("slot") or client_id or "?"),
            fields=f,
            time_ms=at,
        )

    def _refused(self, data: Mapping[str, Any], at: int, now: int) -> Alert:
        f = _slot_fields(data.get("slot"))
        f.setdefault("product", _text(data.get("product")))
        reason = _text(data.get("error")) or _text(data.get("reason")) or "no reason given"
        code = _text(data.get("code"))
        f |= {"client_id": _text(data.get("client_id")), "reason": reason, "code": code}
        said = f"code {code}: {reason}" if code else reason
        return Alert(
            "exit_refused",
            "error",
            f"{_TITLE}: {f.get('symbol', '?')} {f.get('role', 'exit')} refused",
            f"{_where(f)}: the venue refused the {f.get('role', 'exit')} ({said})",
            key=str(f.get("slot") or "?"),
            fields=f,
            time_ms=at,
        )

    def _fallback(self, data: Mapping[str, Any], at: int, now: int) -> Alert:
        f = _slot_fields(data.get("slot"))
        f.setdefault("product", _text(data.get("product")))
        action = _text(data.get("action")) or "?"
        code = _text(data.get("code"))
        f |= {"action": action, "code": code}
        because = f" after code {code}" if code else ""
        return Alert(
            "fallback",
            "warning",
            f"{_TITLE}: {f.get('symbol', '?')} {f.get('role', 'exit')} fallback {action}",
            f"{_where(f)}: {f.get('role', 'exit')} refused{because}; fallback {action}",
            key=str(f.get("slot") or "?"),
            fields=f,
            time_ms=at,
        )

    # -- health ----------------------------------------------------------------------------------

    def _bare_start(self, data: Mapping[str, Any], at: int, now: int) -> None:
        position = data.get("position")
        if not isinstance(position, str):
            return None
        state = _text(data.get("state")) or "bare"
        reason = _text(data.get("reason")) or ""
        current = self._bare.get(position)
        if current is None:
            if len(self._bare) >= _MAX_BARE:
                self._bare.pop(next(iter(self._bare)))
            fields = _slot_fields(position)
            fields.setdefault("product", _text(data.get("product")))
            self._bare[position] = _Bare(now, state, reason, fields)
        else:
            # bare -> degraded (or back) is still one spell without full protection.
            current.state, current.reason = state, reason
        return None

    def _bare_end(self, data: Mapping[str, Any], at: int, now: int) -> None:
        position = data.get("position")
        if isinstance(position, str):
            self._bare.pop(position, None)
        return None

    def _still_bare(self, data: Mapping[str, Any], at: int, now: int) -> Alert | None:
        position = data.get("position")
        if not isinstance(position, str):
            return None
        bare_s = _seconds(data.get("bare_s"))
        current = self._bare.get(position)
        if current is None:
            # Started before we listened: the reminder says since when.
            since = now - int((bare_s or 0) * 1000)
            self._bare_start(data, at, now)
            current = self._bare[position]
            current.since_ms = since
        else:
            current.state = _text(data.get("state")) or current.state
            current.reason = _text(data.get("reason")) or current.reason
        bare_ms = int(bare_s * 1000) if bare_s is not None else now - current.since_ms
        if bare_ms < self.bare_alert_ms:
            return None  # the board's threshold is lower than ours: the timer will say it
        current.alerted = True
        return self._bare_alert(position, current, at, bare_ms)

    def _bare_alert(self, position: str, bare: _Bare, at: int, bare_ms: int) -> Alert:
        f = dict(bare.fields)
        bare_s = round(bare_ms / 1000, 1)
        f |= {"state": bare.state, "reason": bare.reason, "bare_s": bare_s}
        why = f": {bare.reason}" if bare.reason else ""
        return Alert(
            "position_bare",
            "error" if bare.state == "bare" else "warning",
            f"{_TITLE}: {f.get('symbol', position)} {bare.state} for {bare_s}s",
            f"{position} has been {bare.state} (not fully protected) for {bare_s}s{why}",
            key=position,
            fields=f,
            time_ms=at,
        )

    def _scope_degraded(self, data: Mapping[str, Any], at: int, now: int) -> Alert:
        f = _scope_fields(data.get("scope"))
        reason = _text(data.get("reason")) or ""
        f["reason"] = reason
        scope = f.get("scope") or "?"
        return Alert(
            "scope_degraded",
            "error",
            f"{_TITLE}: {f.get('product') or scope} degraded",
            f"{scope} degraded: {reason}" if reason else f"{scope} degraded",
            key=str(scope),
            fields=f,
            time_ms=at,
        )

    def _scope_ok(self, data: Mapping[str, Any], at: int, now: int) -> Alert:
        f = _scope_fields(data.get("scope"))
        took = _seconds(data.get("degraded_s"))
        f["degraded_s"] = took
        scope = f.get("scope") or "?"
        after = f" after {took}s" if took is not None else ""
        return Alert(
            "scope_recovered",
            "info",
            f"{_TITLE}: {f.get('product') or scope} recovered",
            f"{scope} recovered{after}",
            key=str(scope),
            fields=f,
            time_ms=at,
        )

    # -- the manager -----------------------------------------------------------------------------

    def _started(self, data: Mapping[str, Any], at: int, now: int) -> Alert:
        products = data.get("products")
        listed = (
            ", ".join(str(p) for p in products)
            if isinstance(products, list)
            else _text(products) or ""
        )
        f: dict[str, FieldValue] = {
            "mode": _text(data.get("mode")),
            "venue": _text(data.get("venue")),
            "products": listed,
        }
        return Alert(
            "manager_started",
            "info",
            f"{_TITLE}: started",
            f"exitguard started: mode {f['mode']}, products {listed or '-'}, venue {f['venue']}",
            key="manager",
            fields=f,
            time_ms=at,
        )

    def _stopped(self, data: Mapping[str, Any], at: int, now: int) -> Alert:
        reason = _text(data.get("reason")) or ""
        return Alert(
            "manager_stopped",
            "warning",
            f"{_TITLE}: stopped",
            f"exitguard stopped: {reason}" if reason else "exitguard stopped",
            key="manager",
            fields={"reason": reason},
            time_ms=at,
        )


_Handler = Callable[[AlertRules, Mapping[str, Any], int, int], Alert | None]
_HANDLERS: dict[str, _Handler] = {
    "placed": AlertRules._placed_alert,
    "exit_fill": AlertRules._fill,
    "exit_status": AlertRules._status,
    "rejected": AlertRules._refused,
    "exit_rejected": AlertRules._refused,
    "fallback": AlertRules._fallback,
    "position_bare": AlertRules._bare_start,
    "position_still_bare": AlertRules._still_bare,
    "position_protected": AlertRules._bare_end,
    "position_gone": AlertRules._bare_end,
    "scope_degraded": AlertRules._scope_degraded,
    "scope_ok": AlertRules._scope_ok,
    "manager_started": AlertRules._started,
    "manager_stopped": AlertRules._stopped,
}
# Hub kinds worth looking at: the notifier drops every other kind (prices, plans...) at once.
RELEVANT_KINDS = frozenset(_HANDLERS)
