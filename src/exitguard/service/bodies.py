"""Request bodies of the API's write endpoints, validated with the config's own rules.

A bot's exit plan names each level either at an absolute ``price`` or at a ``distance`` from the
entry price (``{"percent": 1.5}`` or ``{"price": 250}``), exactly like ``[policy.*]`` in
exitguard.toml; the scalar rules (positive prices, percent ranges, Binance's callbackRate range,
BIPS) are the config's (:mod:`exitguard.config.schema`), and errors come out the same way: one
line per problem naming the field and the rule. Unknown fields are errors (a typo is never a
silently ignored setting).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import PlainValidator, StrictBool, model_validator
from pydantic_core import PydanticCustomError

from exitguard.config.errors import IssueList
from exitguard.config.schema import (
    Bips,
    CallbackRate,
    DistanceModel,
    Fraction,
    LevelNumber,
    LiquidationGuardModel,
    Percent,
    PositiveDec,
    RoiStepModel,
    StopMoveModel,
    TimeStopModel,
    _Section,
    validate_section,
)
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
from exitguard.planner.policy_codec import tagged

__all__ = ["BodyError", "ProtectionBody", "parse_plan"]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _request_id(value: object) -> str:
    if not isinstance(value, str) or not _REQUEST_ID.fullmatch(value):
        raise PydanticCustomError(
            "string", "{text}", {"text": "must be 1-64 characters of A-Z a-z 0-9 . _ : -"}
        )
    return value


RequestId = Annotated[str, PlainValidator(_request_id)]


def _one_level(model: Any, what: str) -> None:
    if (model.price is None) == (model.distance is None):
        raise PydanticCustomError(
            "distance",
            "{text}",
            {"text": f"set exactly one of price (absolute) or distance (from entry) for {what}"},
        )


class StopLossBody(_Section):
    price: PositiveDec | None = None
    distance: DistanceModel | None = None
    working_type: WorkingType | None = None  # USD-M
    price_protect: StrictBool | None = None  # USD-M
    quantity_based: StrictBool | None = None  # USD-M
    limit_offset_percent: Percent | None = None  # Spot: STOP_LOSS_LIMIT

    @model_validator(mode="after")
    def _level(self) -> StopLossBody:
        _one_level(self, "the stop")
        return self


class TakeProfitBody(_Section):
    price: PositiveDec | None = None
    distance: DistanceModel | None = None
    conditional: StrictBool | None = None  # USD-M: algo TAKE_PROFIT instead of a LIMIT
    working_type: WorkingType | None = None  # USD-M, conditional only
    price_protect: StrictBool | None = None  # USD-M, conditional only

    @model_validator(mode="after")
    def _level(self) -> TakeProfitBody:
        _one_level(self, "the take-profit")
        return self


class TrailingBody(_Section):
    callback_rate: CallbackRate | None = None  # USD-M, percent
    trailing_delta_bips: Bips | None = None  # Spot
    activation_price: PositiveDec | None = None
    activation: DistanceModel | None = None
    working_type: WorkingType | None = None  # USD-M
    after_level: LevelNumber | None = None  # start once this ladder level filled

    @model_validator(mode="after")
    def _activation(self) -> TrailingBody:
        if self.activation_price is not None and self.activation is not None:
            raise PydanticCustomError(
                "distance", "{text}", {"text": "set at most one of activation_price or activation"}
            )
        return self


class LadderLevelBody(_Section):
    """One take-profit level of a scale-out ladder, at an absolute ``price`` or a
    ``distance`` from the entry, closing ``fraction`` of the position."""

    price: PositiveDec | None = None
    distance: DistanceModel | None = None
    fraction: Fraction

    @model_validator(mode="after")
    def _level(self) -> LadderLevelBody:
        _one_level(self, "a ladder level")
        return self


class ProtectionBody(_Section):
    request_id: RequestId | None = None
    stop_loss: StopLossBody | None = None
    take_profit: TakeProfitBody | None = None
    trailing: TrailingBody | None = None
    on_immediate_trigger: ImmediateTriggerAction | None = None
    ladder: tuple[LadderLevelBody, ...] = ()  # scale-out take-profit levels, nearest first
    stop_moves: tuple[StopMoveModel, ...] = ()  # the stop follows the ladder
    roi: tuple[RoiStepModel, ...] = ()  # take-profit distance by time held
    time_stop: TimeStopModel | None = None
    liquidation_guard: LiquidationGuardModel | None = None  # USD-M

    @model_validator(mode="after")
    def _something(self) -> ProtectionBody:
        if not (
            self.stop_loss or self.take_profit or self.trailing or self.ladder or self.time_stop
        ):
            raise PydanticCustomError(
                "distance",
                "{text}",
                {"text": "set at least one of stop_loss, take_profit, trailing, ladder, time_stop"},
            )
        return self


class BodyError(ValueError):
    """A body that does not validate: every problem as (field, rule)."""

    def __init__(self, issues: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in issues))
        self.issues = issues


def _distance(price: Any, model: DistanceModel | None) -> Distance:
    if price is not None:
        return Distance(level=price)
    assert model is not None
    return Distance(percent=model.percent, price=model.price)


# Settings of one product that the other does not have: named in the error.
_USDM_ONLY = {
    "stop_loss": ("working_type", "price_protect", "quantity_based"),
    "take_profit": ("conditional", "working_type", "price_protect"),
    "trailing": ("callback_rate", "working_type"),
}
_SPOT_ONLY = {"stop_loss": ("limit_offset_percent",), "trailing": ("trailing_delta_bips",)}


def _product_issues(body: ProtectionBody, product: Product) -> list[tuple[str, str]]:
    issues = []
    for name in ("time_stop", "liquidation_guard"):
        section = getattr(body, name)
        if section is not None and section.enabled is not None:
            issues.append(
                (f"{name}.enabled", "only in a config section (to turn an inherited one off)")
            )
    other, name = (_SPOT_ONLY, "Spot") if product is Product.USDM else (_USDM_ONLY, "USD-M")
    here = "USD-M" if product is Product.USDM else "Spot"
    for role, keys in other.items():
        section = getattr(body, role)
        for key in keys:
            if section is not None and getattr(section, key) is not None:
                issues.append((f"{role}.{key}", f"is a {name} setting, not used on {here}"))
    trailing = body.trailing
    if trailing is not None:
        if product is Product.USDM and trailing.callback_rate is None:
            issues.append(("trailing.callback_rate", "required on USD-M (percent, 0.1 to 20)"))
        if product is Product.SPOT and trailing.trailing_delta_bips is None:
            issues.append(("trailing.trailing_delta_bips", "required on Spot (1 to 10000 BIPS)"))
    return issues


def parse_plan(raw: object, product: Product) -> tuple[ProtectionPolicy, str]:
    """(the tagged policy, the request id or "") for ``raw``; BodyError naming every problem."""
    issues = IssueList()
    body = validate_section(ProtectionBody, raw, [], issues)
    if body is None:
        raise BodyError([(i.path or "body", i.message) for i in issues])
    problems = _product_issues(body, product)
    if problems:
        raise BodyError(problems)
    stop = take = trail = None
    if (s := body.stop_loss) is not None:
        stop = StopLossPolicy(
            distance=_distance(s.price, s.distance),
            working_type=s.working_type or WorkingType.MARK_PRICE,
            price_protect=True if s.price_protect is None else s.price_protect,
            quantity_based=bool(s.quantity_based),
            limit_offset_percent=s.limit_offset_percent,
        )
    if (t := body.take_profit) is not None:
        take = TakeProfitPolicy(
            distance=_distance(t.price, t.distance),
            conditional=bool(t.conditional),
            working_type=t.working_type or WorkingType.MARK_PRICE,
            price_protect=True if t.price_protect is None else t.price_protect,
        )
    if (r := body.trailing) is not None:
        activation = None
        if r.activation_price is not None or r.activation is not None:
            activation = _distance(r.activation_price, r.activation)
        trail = TrailingPolicy(
            callback_rate=r.callback_rate,
            trailing_delta_bips=r.trailing_delta_bips,
            activation=activation,
            working_type=r.working_type or WorkingType.CONTRACT_PRICE,
            after_level=r.after_level,
        )
    policy = ProtectionPolicy(
        stop_loss=stop,
        take_profit=take,
        trailing=trail,
        on_immediate_trigger=body.on_immediate_trigger or ImmediateTriggerAction.ALERT,
        **_plan_parts(body),
    )
    problems = plan_problems(policy, product)
    if problems:
        raise BodyError(problems)
    return tagged(policy), body.request_id or ""


_MINUTE_MS = 60_000


def _plan_parts(body: ProtectionBody) -> dict[str, Any]:
    """The exit-plan fields of the policy (the config's meanings, minutes as ms)."""
    parts: dict[str, Any] = {
        "ladder": tuple(
            LadderLevel(_distance(lv.price, lv.distance), lv.fraction) for lv in body.ladder
        ),
        "stop_moves": tuple(
            StopMove(m.after_level, m.break_even_offset_percent, m.to_level)
            for m in body.stop_moves
        ),
        "roi": tuple(
            RoiStep(int(step.after_minutes * _MINUTE_MS), _distance(None, step.distance))
            for step in body.roi
        ),
    }
    if (ts := body.time_stop) is not None:
        after = ts.after_minutes
        parts["time_stop"] = TimeStop(
            None if after is None else int(after * _MINUTE_MS), ts.at, ts.limit_offset_percent
        )
    if (lg := body.liquidation_guard) is not None:
        default = LiquidationGuard()
        parts["liquidation_guard"] = LiquidationGuard(
            lg.margin_percent if lg.margin_percent is not None else default.margin_percent,
            lg.close_within_percent,
            lg.close_fraction if lg.close_fraction is not None else default.close_fraction,
        )
    return parts
