"""The exit plan's cross-field rules, one place for the config and the API. Pure.

Scalar ranges (a fraction in (0, 1], a percent) are the schema's (``config/schema.py``); these
are the rules between fields (docs/guide/exit-plans.md). Each problem is (field, rule), the
field named as in ``exitguard.toml`` (``stop_moves[0].to_level``, ``roi[1].after_minutes``).
"""

from __future__ import annotations

from decimal import Decimal

from exitguard.domain.enums import Product

from .policy import Distance, ProtectionPolicy

__all__ = ["plan_problems"]

_ONE = Decimal(1)


def _kind(d: Distance) -> str:
    return "percent" if d.percent is not None else "price" if d.price is not None else "level"


def _value(d: Distance) -> Decimal:
    value = d.percent if d.percent is not None else d.price if d.price is not None else d.level
    assert value is not None
    return value


def _ladder(policy: ProtectionPolicy) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    ladder = policy.ladder
    total = sum((lv.fraction for lv in ladder), Decimal(0))
    for i, lv in enumerate(ladder):
        if not 0 < lv.fraction <= _ONE:
            out.append((f"ladder[{i}].fraction", "must be greater than 0 and at most 1"))
    if total > _ONE:
        out.append(
            ("ladder", f"fractions sum to {total}; at most 1 (below 1 the rest is a runner)")
        )
    kinds = {_kind(lv.distance) for lv in ladder}
    if len(kinds) > 1:
        out.append(
            (
                "ladder",
                "every level uses the same kind of distance (all percent, all price or all "
                "absolute levels), so that their order can be checked",
            )
        )
        return out
    values = [_value(lv.distance) for lv in ladder]
    # Distances grow away from the entry; absolute levels run away from it either way (a
    # short's levels fall), in the direction the first two set.
    direction = 1
    if "level" in kinds and len(values) > 1 and values[1] < values[0]:
        direction = -1
    for i in range(1, len(values)):
        if (values[i] - values[i - 1]) * direction <= 0:
            out.append(
                (
                    f"ladder[{i}].distance",
                    f"levels go nearest-first: level {i + 1} ({values[i]}) is not farther from "
                    f"the entry than level {i} ({values[i - 1]})",
                )
            )
            break
    if policy.take_profit is not None:
        out.append(
            (
                "ladder",
                "set either ladder or take_profit, not both: each level is a take-profit "
                "(take_profit.enabled = false turns an inherited one off)",
            )
        )
    return out


def _stop_moves(policy: ProtectionPolicy) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    n = len(policy.ladder)
    if not n:
        out.append(("stop_moves", "needs a ladder: a move follows its levels"))
    if policy.stop_loss is None:
        out.append(("stop_moves", "needs a stop_loss to move"))
    previous = 0
    for i, move in enumerate(policy.stop_moves):
        where = f"stop_moves[{i}]"
        if n and not 1 <= move.after_level <= n:
            out.append((f"{where}.after_level", f"must be a ladder level, 1 to {n}"))
        if move.after_level <= previous:
            out.append(
                (f"{where}.after_level", "must be greater than the previous move's after_level")
            )
        previous = move.after_level
        if (move.break_even_offset_percent is None) == (move.to_level is None):
            out.append((where, "set exactly one of break_even_offset_percent or to_level"))
        elif move.to_level is not None and not 1 <= move.to_level <= move.after_level:
            out.append(
                (
                    f"{where}.to_level",
                    f"must be a level filled by then, 1 to {move.after_level} (a stop beyond "
                    "the market would fire at once)",
                )
            )
    return out


def _roi(policy: ProtectionPolicy) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if policy.take_profit is None:
        out.append(("roi", "needs take_profit: the table sets its distance over time"))
    previous = -1
    for i, step in enumerate(policy.roi):
        if step.after_ms < 0:
            out.append((f"roi[{i}].after_minutes", "must be 0 or more"))
        elif step.after_ms <= previous:
            out.append((f"roi[{i}].after_minutes", "must be greater than the previous step's"))
        previous = step.after_ms
    return out


def plan_problems(policy: ProtectionPolicy, product: Product) -> list[tuple[str, str]]:
    """Every cross-field problem of ``policy`` for ``product``; empty when it holds."""
    out: list[tuple[str, str]] = []
    spot = product is Product.SPOT
    if policy.ladder:
        out += _ladder(policy)
    if policy.stop_moves:
        out += _stop_moves(policy)
    if policy.roi:
        out += _roi(policy)
    ts = policy.time_stop
    if ts is not None:
        if ts.after_ms is None and ts.at_ms is None:
            out.append(("time_stop", "set after_minutes or at (with both, the earlier wins)"))
        if ts.after_ms is not None and ts.after_ms <= 0:
            out.append(("time_stop.after_minutes", "must be greater than 0"))
    if policy.liquidation_guard is not None and spot:
        out.append(("liquidation_guard", "USD-M only: a Spot balance has no liquidation price"))
    trailing = policy.trailing
    if trailing is not None and trailing.after_level is not None:
        n = len(policy.ladder)
        if spot and (policy.stop_loss is not None or n):
            out.append(
                (
                    "trailing.after_level",
                    "not on Spot with a stop or a ladder: a Spot balance backs one resting "
                    "exit per unit, and they take it",
                )
            )
        elif not n:
            out.append(("trailing.after_level", "needs a ladder: the level it starts after"))
        elif not 1 <= trailing.after_level <= n:
            out.append(("trailing.after_level", f"must be a ladder level, 1 to {n}"))
    return out
