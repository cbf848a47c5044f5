"""``[policy.<product>.<default|SYMBOL>]`` sections → the planner's :class:`ProtectionPolicy`.

Inheritance is field by field: a symbol section starts from its product's ``default`` section (or,
when the file has none, from the built-in default below) and replaces only the keys it sets. A
``distance`` / ``activation`` table is one value (replaced whole), so ``{ price = 250 }`` in a
symbol section never meets an inherited ``percent``. Mentioning a role table turns the role on
unless it says ``enabled = false``.

The exit-plan keys (``ladder``, ``stop_moves``, ``roi``, ``time_stop``, ``liquidation_guard``) are
replaced whole by a symbol section that sets them (``ladder = []`` drops an inherited ladder;
``time_stop = { enabled = false }`` an inherited time stop). Their rules between fields are the
planner's (:func:`exitguard.planner.checks.plan_problems`, shared with the API).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from exitguard.domain.enums import Product, WorkingType
from exitguard.planner.checks import plan_problems
from exitguard.planner.policy import (
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

from .errors import IssueList
from .schema import SYMBOL_RE, SpotPolicySection, UsdmPolicySection, validate_section

__all__ = ["BUILTIN_DEFAULTS", "ProductPolicies", "build_product_policies"]

_ROLES = ("stop_loss", "take_profit", "trailing")
_WHOLE = ("ladder", "stop_moves", "roi", "time_stop", "liquidation_guard")
_MINUTE_MS = 60_000

# Used as ``policy.<product>.default`` when the file has no such section: a 2 % stop-loss and
# nothing else, so a position is never left bare just because a section was forgotten.
BUILTIN_DEFAULTS: Mapping[Product, Mapping[str, Any]] = MappingProxyType(
    {
        Product.USDM: {"stop_loss": {"distance": {"percent": Decimal(2)}}},
        Product.SPOT: {"stop_loss": {"distance": {"percent": Decimal(2)}}},
    }
)


@dataclass(frozen=True, slots=True)
class ProductPolicies:
    """The effective policies of one product: the default and every symbol section."""

    default: ProtectionPolicy
    default_is_builtin: bool
    symbols: Mapping[str, ProtectionPolicy]

    def for_symbol(self, symbol: str) -> ProtectionPolicy:
        return self.symbols.get(symbol, self.default)


def _distance(raw: Mapping[str, Any] | None) -> Distance | None:
    if raw is None:
        return None
    return Distance(percent=raw.get("percent"), price=raw.get("price"))


def _merge(base: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for role in _ROLES:
        if role in own:
            role_own = own[role]
            merged[role] = {**base.get(role, {}), **role_own}
            merged[role]["enabled"] = role_own.get("enabled", True)
    if "on_immediate_trigger" in own:
        merged["on_immediate_trigger"] = own["on_immediate_trigger"]
    for key in _WHOLE:
        if key in own:
            merged[key] = own[key]
    return merged


def _minutes_ms(minutes: Decimal) -> int:
    return int(minutes * _MINUTE_MS)


def plan_parts(merged: Mapping[str, Any]) -> dict[str, Any]:
    """The exit-plan fields of :class:`ProtectionPolicy` from a validated section dict."""
    parts: dict[str, Any] = {}
    ladder = merged.get("ladder") or ()
    parts["ladder"] = tuple(
        LadderLevel(_distance(lv["distance"]), lv["fraction"])  # type: ignore[arg-type]
        for lv in ladder
    )
    parts["stop_moves"] = tuple(
        StopMove(m["after_level"], m.get("break_even_offset_percent"), m.get("to_level"))
        for m in merged.get("stop_moves") or ()
    )
    parts["roi"] = tuple(
        RoiStep(_minutes_ms(r["after_minutes"]), _distance(r["distance"]))  # type: ignore[arg-type]
        for r in merged.get("roi") or ()
    )
    ts = merged.get("time_stop")
    if ts is not None and ts.get("enabled", True) is not False:
        after = ts.get("after_minutes")
        parts["time_stop"] = TimeStop(
            after_ms=None if after is None else _minutes_ms(after),
            at_ms=ts.get("at"),
            limit_offset_percent=ts.get("limit_offset_percent"),
        )
    lg = merged.get("liquidation_guard")
    if lg is not None and lg.get("enabled", True) is not False:
        guard = LiquidationGuard()
        parts["liquidation_guard"] = LiquidationGuard(
            margin_percent=lg.get("margin_percent", guard.margin_percent),
            close_within_percent=lg.get("close_within_percent"),
            close_fraction=lg.get("close_fraction", guard.close_fraction),
        )
    return parts


class _Builder:
    """Builds one effective policy, reporting missing required keys at the section's own path."""

    def __init__(
        self,
        product: Product,
        path: str,
        own: Mapping[str, Any],
        base_name: str | None,
        issues: IssueList,
    ) -> None:
        self.product = product
        self.path = path
        self.own = own
        self.base_name = base_name
        self.issues = issues
        self.ok = True
        # The default section's own plan problems: a symbol inheriting them untouched does not
        # repeat them (they are reported once, at the default).
        self.inherited_problems: frozenset[tuple[str, str]] = frozenset()
        self.problems: list[tuple[str, str]] = []

    def _require(self, role: str, role_d: Mapping[str, Any], key: str, rule: str) -> Any:
        value = role_d.get(key)
        if value is None:
            self.ok = False
            # A role inherited untouched reports its problem once, at the section it came from.
            if role in self.own:
                where = f" (not set here nor in {self.base_name})" if self.base_name else ""
                self.issues.add(f"{self.path}.{role}.{key}", f"required{where}: {rule}")
        return value

    def _active(self, merged: Mapping[str, Any], role: str) -> Mapping[str, Any] | None:
        role_d = merged.get(role)
        if role_d is None or role_d.get("enabled", True) is False:
            return None
        return dict(role_d)

    def build(self, merged: Mapping[str, Any]) -> ProtectionPolicy | None:
        usdm = self.product is Product.USDM
        stop_loss = take_profit = trailing = None
        if (d := self._active(merged, "stop_loss")) is not None:
            distance = self._require("stop_loss", d, "distance", "the stop's distance from entry")
            if distance is not None:
                stop_loss = (
                    StopLossPolicy(
                        distance=_distance(distance),  # type: ignore[arg-type]
                        working_type=d.get("working_type") or WorkingType.MARK_PRICE,
                        price_protect=d.get("price_protect", True),
                        quantity_based=d.get("quantity_based", False),
                    )
                    if usdm
                    else StopLossPolicy(
                        distance=_distance(distance),  # type: ignore[arg-type]
                        # Spot stops trigger on the last trade price and have no priceProtect.
                        working_type=WorkingType.CONTRACT_PRICE,
                        price_protect=False,
                        limit_offset_percent=d.get("limit_offset_percent"),
                    )
                )
        if (d := self._active(merged, "take_profit")) is not None:
            distance = self._require("take_profit", d, "distance", "the target's distance")
            conditional = bool(d.get("conditional", False))
            if usdm and not conditional:
                self._conditional_only(d)
            if distance is not None:
                take_profit = TakeProfitPolicy(
                    distance=_distance(distance),  # type: ignore[arg-type]
                    conditional=conditional,
                    working_type=d.get("working_type")
                    or (WorkingType.MARK_PRICE if usdm else WorkingType.CONTRACT_PRICE),
                    price_protect=d.get("price_protect", usdm),
                )
        if (d := self._active(merged, "trailing")) is not None:
            if usdm:
                rate = self._require("trailing", d, "callback_rate", "percent, 0.1 to 20")
                if rate is not None:
                    trailing = TrailingPolicy(
                        callback_rate=rate,
                        activation=_distance(d.get("activation")),
                        working_type=d.get("working_type") or WorkingType.CONTRACT_PRICE,
                        after_level=d.get("after_level"),
                    )
            else:
                bips = self._require("trailing", d, "trailing_delta_bips", "1 BIP = 0.01 %")
                if bips is not None:
                    trailing = TrailingPolicy(
                        trailing_delta_bips=bips,
                        activation=_distance(d.get("activation")),
                        after_level=d.get("after_level"),
                    )
        if not self.ok:
            return None
        action = merged.get("on_immediate_trigger") or ImmediateTriggerAction.ALERT
        policy = ProtectionPolicy(
            stop_loss,
            take_profit,
            trailing,
            ImmediateTriggerAction(action),
            **plan_parts(merged),
        )
        for field, rule in plan_problems(policy, self.product):
            if (field, rule) not in self.inherited_problems:
                self.ok = False
                self.problems.append((field, rule))
                self.issues.add(f"{self.path}.{field}", rule)
        return policy if self.ok else None

    def _conditional_only(self, role_d: Mapping[str, Any]) -> None:
        # Only keys this section sets are errors; inherited ones are harmless leftovers.
        own_tp = self.own.get("take_profit", {})
        for key in ("working_type", "price_protect"):
            if key in own_tp:
                self.ok = False
                self.issues.add(
                    f"{self.path}.take_profit.{key}",
                    "applies only to a conditional take-profit (conditional = true); a fixed "
                    "take-profit is a regular reduce-only LIMIT order (seed 001)",
                )


def build_product_policies(
    product: Product,
    raw: object,
    *,
    managed: list[str] | None,
    enabled: bool,
    issues: IssueList,
    warnings: IssueList,
) -> ProductPolicies | None:
    """Validate ``policy.<product>`` (``raw`` may be None: no section) and build its policies."""
    prefix = f"policy.{product.value}"
    model: type[UsdmPolicySection] | type[SpotPolicySection] = (
        UsdmPolicySection if product is Product.USDM else SpotPolicySection
    )
    sections: dict[str, dict[str, Any]] = {}
    failed = False
    if raw is not None and not isinstance(raw, dict):
        issues.add(prefix, "must be a table of sections ([policy.usdm.default], ...)")
        return None
    for name, value in (raw or {}).items():
        if name != "default" and not SYMBOL_RE.fullmatch(name):
            issues.add(
                f"{prefix}.{name}",
                "section name must be 'default' or an upper-case symbol such as BTCUSDT",
            )
            failed = True
            continue
        section = validate_section(model, value, ("policy", product.value, name), issues)
        if section is None:
            failed = True
            continue
        sections[name] = section.model_dump(exclude_unset=True)
    if enabled and managed is not None:
        for name in sections:
            if name != "default" and name not in managed:
                issues.add(
                    f"{prefix}.{name}",
                    f"{name} is not in manager.symbols.{product.value} "
                    "(add it there or remove this section)",
                )
                failed = True
    if not enabled and raw:
        warnings.add(prefix, f"product {product.value} is not in manager.products; ignored")

    builtin = "default" not in sections and "default" not in (raw or {})
    base = dict(BUILTIN_DEFAULTS[product]) if builtin else sections.get("default")
    if base is None:  # the file's default section is broken; its errors are already listed
        return None
    default_path = f"{prefix}.default"
    default_builder = _Builder(product, default_path, base, None, issues)
    default = default_builder.build(_merge({}, base))
    symbols: dict[str, ProtectionPolicy] = {}
    base_name = "the built-in default" if builtin else default_path
    for name, own in sections.items():
        if name == "default":
            continue
        builder = _Builder(product, f"{prefix}.{name}", own, base_name, issues)
        builder.inherited_problems = frozenset(default_builder.problems)
        built = builder.build(_merge(_merge({}, base), own))
        if built is None:
            failed = True
        else:
            symbols[name] = built
    for name, policy in [("default", default), *symbols.items()]:
        if policy is not None and not (
            policy.stop_loss or policy.take_profit or policy.trailing or policy.ladder
        ):
            warnings.add(f"{prefix}.{name}", "no exit is enabled: these positions stay unprotected")
        if product is Product.SPOT and policy is not None and policy.trailing is not None:
            _warn_spot_trailing(f"{prefix}.{name}", policy, warnings)
    if default is None or failed:
        return None
    return ProductPolicies(default, builtin, MappingProxyType(symbols))


def _warn_spot_trailing(path: str, policy: ProtectionPolicy, warnings: IssueList) -> None:
    """A Spot balance backs one resting SELL: beside a stop or take-profit the trailing stop
    is never placed. Say so at load time, naming what is placed instead (planner.build)."""
    if policy.stop_loss is None and policy.take_profit is None and not policy.ladder:
        return
    if policy.ladder:
        placed, them = "the ladder's levels", "the ladder"
    elif policy.stop_loss is not None and policy.take_profit is not None:
        placed, them = "the stop-loss and take-profit as one OCO", "them"
    elif policy.stop_loss is not None:
        placed, them = "the stop-loss", "it"
    else:
        placed, them = "the take-profit", "it"
    warnings.add(
        f"{path}.trailing",
        f"not placed: a Spot balance backs one resting exit and {placed} takes it; disable "
        f"{them} to trail instead",
    )
