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
    LadderLevel,
    LiquidationGuard,
    ProtectionPolicy,
    RoiStep,
    StopLossPolicy,
    StopMove,
    TakeProfitPolicy,
    TimeStop,
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
        if r.after_level is not None:
            out["trailing"]["after_level"] = r.after_level
    _plan_to_dict(policy, out)
    return out


def _plan_to_dict(policy: ProtectionPolicy, out: dict[str, Any]) -> None:
    """The exit-plan fields, each only when set: a plan without them keeps the digest (and so
    the tag) it had before they existed, and its exits do not churn."""
    if policy.ladder:
        out["ladder"] = [
            {"distance": _distance(lv.distance), "fraction": str(lv.fraction)}
            for lv in policy.ladder
        ]
    if policy.stop_moves:
        out["stop_moves"] = [
            {
                "after_level": m.after_level,
                "break_even_offset_percent": _dec(m.break_even_offset_percent),
                "to_level": m.to_level,
            }
            for m in policy.stop_moves
        ]
    if policy.roi:
        out["roi"] = [
            {"after_ms": step.after_ms, "distance": _distance(step.distance)} for step in policy.roi
        ]
    if (ts := policy.time_stop) is not None:
        out["time_stop"] = {
            "after_ms": ts.after_ms,
            "at_ms": ts.at_ms,
            "limit_offset_percent": _dec(ts.limit_offset_percent),
        }
    if (lg := policy.liquidation_guard) is not None:
        out["liquidation_guard"] = {
            "margin_percent": str(lg.margin_percent),
            "close_within_percent": _dec(lg.close_within_percent),
            "close_fraction": str(lg.close_fraction),
        }


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
            after_level=_opt_int(r.get("after_level")),
        )
    policy = ProtectionPolicy(
        stop_loss=stop,
        take_profit=take,
        trailing=trail,
        on_immediate_trigger=ImmediateTriggerAction(raw["on_immediate_trigger"]),
        **_plan_from_dict(raw),
    )
    return tagged(policy)


def _opt_int(raw: Any) -> int | None:
    return None if raw is None else int(raw)


def _plan_from_dict(raw: dict[str, Any]) -> dict[str, Any]:
    parts: dict[str, Any] = {
        "ladder": tuple(
            LadderLevel(_read_distance(lv["distance"]), Decimal(str(lv["fraction"])))
            for lv in raw.get("ladder") or ()
        ),
        "stop_moves": tuple(
            StopMove(
                int(m["after_level"]),
                _opt_dec(m.get("break_even_offset_percent")),
                _opt_int(m.get("to_level")),
            )
            for m in raw.get("stop_moves") or ()
        ),
        "roi": tuple(
            RoiStep(int(step["after_ms"]), _read_distance(step["distance"]))
            for step in raw.get("roi") or ()
        ),
    }
    if (ts := raw.get("time_stop")) is not None:
        parts["time_stop"] = TimeStop(
            _opt_int(ts.get("after_ms")),
            _opt_int(ts.get("at_ms")),
            _opt_dec(ts.get("limit_offset_percent")),
        )
    if (lg := raw.get("liquidation_guard")) is not None:
        parts["liquidation_guard"] = LiquidationGuard(
            Decimal(str(lg["margin_percent"])),
            _opt_dec(lg.get("close_within_percent")),
            Decimal(str(lg["close_fraction"])),
        )
    return parts


def policy_tag(policy: ProtectionPolicy) -> str:
    """A short digest of the policy's canonical form (its current tag is ignored)."""
    text = json.dumps(policy_to_dict(policy), sort_keys=True, separators=(",", ":"))
    return "p" + hashlib.sha256(text.encode()).hexdigest()[:11]


def tagged(policy: ProtectionPolicy) -> ProtectionPolicy:
    """``policy`` with its tag set (a runtime plan's exits carry it)."""
    return replace(policy, tag=policy_tag(policy))
