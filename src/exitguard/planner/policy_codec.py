"""Protection policies as plain JSON-safe dicts, and their tags. Pure.

A plan handed over at runtime (a bot's protection for one position, a policy override for a
symbol) is kept in the store and must come back identical after a restart: this is its one
serialisation. Decimals travel as strings, enums as their values. The tag
(:attr:`ProtectionPolicy.tag`) is a short digest of the canonical form, so the same plan always
gets the same tag and a changed plan a different one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

from exitguard.domain.enums import WorkingType

from .policy import (
    Distance,
    ImmediateTriggerAction,
    ProtectionPolicy,
    StopLossPolicy,
    TakeProfitPolicy,
    TrailingPolicy,
)

__all__ = ["policy_from_dict", "policy_tag", "policy_to_dict", "tagged"]


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _distance(d: Distance | None) -> dict[str, str] | None:
    if d is None:
        return None
    for name in ("percent", "price", "level"):
        value = getattr(d, name)
        if value is not None:
            return {name: str(value)}
    raise AssertionError("a Distance always has one value")


def policy_to_dict(policy: ProtectionPolicy) -> dict[str, Any]:
    """The JSON-safe form (without the tag, which is derived from it)."""
    out: dict[str, Any] = {"on_immediate_trigger": policy.on_immediate_trigger.value}
    if policy.stop_loss is not None:
        s = policy.stop_loss
        out["stop_loss"] = {
            "distance": _distance(s.distance),
            "working_type": s.working_type.value,
            "price_protect": s.price_protect,
            "quantity_based": s.quantity_based,
            "limit_offset_percent": _dec(s.limit_offset_percent),
        }
    if policy.take_profit is not None:
        t = policy.take_profit
        out["take_profit"] = {
            "distance": _distance(t.distance),
            "conditional": t.conditional,
            "working_type": t.working_type.value,
            "price_protect": t.price_protect,
        }
    if policy.trailing is not None:
        r = policy.trailing
        out["trailing"] = {
            "callback_rate": _dec(r.callback_rate),
            "trailing_delta_bips": r.trailing_delta_bips,
            "activation": _distance(r.activation),
            "working_type": r.working_type.value,
        }
    return out


def _opt_dec(raw: Any) -> Decimal | None:
    return None if raw is None else Decimal(str(raw))


def _read_distance(raw: Any) -> Distance:
    return Distance(
        percent=_opt_dec(raw.get("percent")),
        price=_opt_dec(raw.get("price")),
        level=_opt_dec(raw.get("level")),
    )


def policy_from_dict(raw: dict[str, Any]) -> ProtectionPolicy:
    """The policy :func:`policy_to_dict` wrote, tagged. Raises ValueError/KeyError when not."""
    stop = take = trail = None
    if raw.get("stop_loss") is not None:
        s = raw["stop_loss"]
        stop = StopLossPolicy(
            distance=_read_distance(s["distance"]),
            working_type=WorkingType(s["working_type"]),
            price_protect=bool(s["price_protect"]),
            quantity_based=bool(s["quantity_based"]),
            limit_offset_percent=_opt_dec(s.get("limit_offset_percent")),
        )
    if raw.get("take_profit") is not None:
        t = raw["take_profit"]
        take = TakeProfitPolicy(
            distance=_read_distance(t["distance"]),
            conditional=bool(t["conditional"]),
            working_type=WorkingType(t["working_type"]),
            price_protect=bool(t["price_protect"]),
        )
    if raw.get("trailing") is not None:
        r = raw["trailing"]
        bips = r.get("trailing_delta_bips")
        trail = TrailingPolicy(
            callback_rate=_opt_dec(r.get("callback_rate")),
            trailing_delta_bips=None if bips is None else int(bips),
            activation=None if r.get("activation") is None else _read_distance(r["activation"]),
            working_type=WorkingType(r["working_type"]),
        )
    policy = ProtectionPolicy(
        stop_loss=stop,
        take_profit=take,
        trailing=trail,
        on_immediate_trigger=ImmediateTriggerAction(raw["on_immediate_trigger"]),
    )
    return tagged(policy)


def policy_tag(policy: ProtectionPolicy) -> str:
    """A short digest of the policy's canonical form (its current tag is ignored)."""
    text = json.dumps(policy_to_dict(policy), sort_keys=True, separators=(",", ":"))
    return "p" + hashlib.sha256(text.encode()).hexdigest()[:11]


def tagged(policy: ProtectionPolicy) -> ProtectionPolicy:
    """``policy`` with its tag set (a runtime plan's exits carry it)."""
    return replace(policy, tag=policy_tag(policy))
