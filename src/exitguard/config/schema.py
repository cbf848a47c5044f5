"""The ``exitguard.toml`` schema as pydantic v2 models, and their errors as ``(path, message)``.

Each top-level section (and each policy section) is validated on its own, so one broken section
never hides the problems of another. Every model forbids unknown keys: a typo is an error that
names the path and the allowed keys, never a silently ignored setting.

Numbers: TOML integers, floats and numeric strings are accepted and become ``Decimal`` through
their text (``0.1`` stays ``Decimal("0.1")``); booleans are never numbers, and ``true``/``false``
are the only booleans (no "yes", no 1).
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainValidator,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from exitguard.domain.dialect import DIALECTS
from exitguard.domain.enums import Product, WorkingType
from exitguard.planner.policy import ImmediateTriggerAction

from .errors import IssueList
from .modes import UrlKey

# The scalar types live in .scalars; these names stay importable from here.
from .scalars import (
    SYMBOL_RE,
    AccountName,
    Asset,
    Bips,
    CallbackRate,
    Fraction,
    LevelNumber,
    Mode,
    NonEmptyStr,
    NonNegativeDec,
    OffsetPercent,
    Percent,
    PositiveDec,
    Symbol,
    UtcMs,
    _err,
    _got,
    _url_validator,
    check_url,
)

__all__ = [
    "SYMBOL_RE",
    "Bips",
    "CallbackRate",
    "DistanceModel",
    "Fraction",
    "LadderLevelModel",
    "LevelNumber",
    "LiquidationGuardModel",
    "ManagerSection",
    "NonNegativeDec",
    "Percent",
    "PositiveDec",
    "RoiStepModel",
    "SpotPolicySection",
    "StopMoveModel",
    "TimeStopModel",
    "UrlsSection",
    "UsdmPolicySection",
    "VenueSection",
    "_err",
    "check_port",
    "check_url",
    "format_path",
    "validate_section",
]

_M = TypeVar("_M", bound=BaseModel)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _unique(items: Sequence[object], what: str) -> None:
    seen: set[object] = set()
    for item in items:
        if item in seen:
            raise _err("unique", f"lists {item} twice; each {what} at most once", echo=False)
        seen.add(item)


def _dialect_name(value: object) -> str:
    if not isinstance(value, str) or value not in DIALECTS:
        raise _err("dialect", f"must be one of {', '.join(sorted(DIALECTS))}", echo=False)
    return value


DialectName = Annotated[str, PlainValidator(_dialect_name)]


# --- [manager], [urls], [venue] ---------------------------------------------------------------


class SymbolsSection(_Section):
    """Symbols to manage per product; a product left out manages every position it has."""

    usdm: list[Symbol] | None = None
    spot: list[Symbol] | None = None

    @field_validator("usdm", "spot")
    @classmethod
    def _no_duplicates(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            _unique(value, "symbol")
        return value


class ManagerSection(_Section):
    account: AccountName = "default"
    mode: Mode | None = None  # EXECUTION_MODE in the environment wins
    products: list[Product] = [Product.USDM, Product.SPOT]
    symbols: SymbolsSection = SymbolsSection()
    state_db: NonEmptyStr = "exitguard.db"
    notional_cap: PositiveDec | None = None  # per request, quote currency
    venue: Literal["embedded", "external", "binance"] | None = None
    # Spot user data over the WebSocket API: "logon" = session.logon (Ed25519 keys only),
    # "signature" = userDataStream.subscribe.signature (any key), "auto" = logon for Ed25519.
    spot_stream_auth: Literal["auto", "signature", "logon"] = "auto"
    # The venue's rules the local pre-send checks use: the manager validates against the venue
    # it talks to (domain/dialect.py; "primit" is seed 003's venue).
    dialect: DialectName = "binance"

    @field_validator("products")
    @classmethod
    def _products(cls, value: list[Product]) -> list[Product]:
        if not value:
            raise _err("products", "must name at least one product (usdm, spot)", echo=False)
        _unique(value, "product")
        return value


class UrlsSection(_Section):
    usdm_rest: Annotated[str, _url_validator(UrlKey.USDM_REST)] | None = None
    usdm_ws: Annotated[str, _url_validator(UrlKey.USDM_WS)] | None = None
    spot_rest: Annotated[str, _url_validator(UrlKey.SPOT_REST)] | None = None
    spot_ws_api: Annotated[str, _url_validator(UrlKey.SPOT_WS_API)] | None = None
    spot_ws_streams: Annotated[str, _url_validator(UrlKey.SPOT_WS_STREAMS)] | None = None
    usdm_ws_api: Annotated[str, _url_validator(UrlKey.USDM_WS_API)] | None = None


class UsdmSection(_Section):
    """``[usdm]``: how USD-M exits are placed and cancelled. ``"rest"`` (``/fapi/v1``) or
    ``"ws_api"`` (the WebSocket API, ``urls.usdm_ws_api``); queries stay REST either way."""

    transport: Literal["rest", "ws_api"] = "rest"


class VenueSection(_Section):
    """Options of the embedded paper venue (used when the venue is ``embedded``)."""

    seed: StrictInt = 0
    feed: Literal["synthetic", "none"] = "synthetic"
    port: StrictInt = 0  # 0 = any free port; the host is always 127.0.0.1
    balances: dict[Asset, NonNegativeDec] = {"USDT": Decimal(10_000)}
    start_prices: dict[Symbol, PositiveDec] = {}
    dialect: DialectName = "binance"  # which dialect the embedded paper venue speaks

    @field_validator("seed")
    @classmethod
    def _seed(cls, value: int) -> int:
        if value < 0:
            raise _err("range", "must be 0 or more", value)
        return value

    @field_validator("port")
    @classmethod
    def _port(cls, value: int) -> int:
        return check_port(value)


def check_port(value: int) -> int:
    """A TCP port to listen on; 0 lets the system pick a free one."""
    if not 0 <= value <= 65535:
        raise _err("range", "must be between 0 and 65535 (0 = any free port)", value)
    return value


# --- [policy.<product>.<symbol|default>] ------------------------------------------------------


class DistanceModel(_Section):
    """``{ percent = 1.5 }`` (of the entry price) or ``{ price = 250 }`` (absolute), never both."""

    percent: Percent | None = None
    price: PositiveDec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DistanceModel:
        if (self.percent is None) == (self.price is None):
            raise _err(
                "distance",
                "set exactly one of percent or price, e.g. { percent = 1.5 } or { price = 250 }",
                echo=False,
            )
        return self


# ``enabled`` defaults to "on when the table is present": a symbol section that mentions a role
# turns it on even if the product default turned it off; ``enabled = false`` turns it off.


class UsdmStopLoss(_Section):
    enabled: StrictBool | None = None
    distance: DistanceModel | None = None
    working_type: WorkingType | None = None
    price_protect: StrictBool | None = None
    quantity_based: StrictBool | None = None  # reduce-only quantity stop instead of closePosition


class SpotStopLoss(_Section):
    enabled: StrictBool | None = None
    distance: DistanceModel | None = None
    limit_offset_percent: Percent | None = None  # set = STOP_LOSS_LIMIT, unset = STOP_LOSS


class UsdmTakeProfit(_Section):
    enabled: StrictBool | None = None
    distance: DistanceModel | None = None
    conditional: StrictBool | None = None  # algo TAKE_PROFIT instead of a reduce-only LIMIT
    working_type: WorkingType | None = None  # conditional only
    price_protect: StrictBool | None = None  # conditional only


class SpotTakeProfit(_Section):
    enabled: StrictBool | None = None
    distance: DistanceModel | None = None


class UsdmTrailing(_Section):
    enabled: StrictBool | None = None
    callback_rate: CallbackRate | None = None
    activation: DistanceModel | None = None
    working_type: WorkingType | None = None
    after_level: LevelNumber | None = None  # start once this ladder level filled


class SpotTrailing(_Section):
    enabled: StrictBool | None = None
    trailing_delta_bips: Bips | None = None
    activation: DistanceModel | None = None
    after_level: LevelNumber | None = None  # refused beside a stop or ladder (one exit per unit)


# --- exit plans: ladder, stop moves, ROI table, time stop, liquidation guard -------------------
# Lists and these tables are replaced whole by a symbol section (never merged item by item).


class LadderLevelModel(_Section):
    """One take-profit level: ``{ distance = { percent = 1 }, fraction = 0.5 }``."""

    distance: DistanceModel  # from the entry price (levels nearest first)
    fraction: Fraction  # of the position when the plan started (fractions sum to 1 at most)


class StopMoveModel(_Section):
    """After level ``after_level`` fills, the stop moves to break-even (+ the offset) or to
    the price of level ``to_level``."""

    after_level: LevelNumber  # the ladder level whose fill moves the stop
    break_even_offset_percent: OffsetPercent | None = None  # entry + this, into profit (fees)
    to_level: LevelNumber | None = None  # or: the price of this (filled) level

    @model_validator(mode="after")
    def _one_target(self) -> StopMoveModel:
        if (self.break_even_offset_percent is None) == (self.to_level is None):
            raise _err(
                "plan", "set exactly one of break_even_offset_percent or to_level", echo=False
            )
        return self


class RoiStepModel(_Section):
    """From ``after_minutes`` of holding time on, the take-profit sits at ``distance``."""

    after_minutes: NonNegativeDec  # of holding time (steps in increasing order)
    distance: DistanceModel  # the take-profit's distance from then on


class TimeStopModel(_Section):
    """Close after ``after_minutes`` held and/or at ``at`` (the earlier wins): MARKET, or a
    LIMIT ``limit_offset_percent`` beyond the mark."""

    enabled: StrictBool | None = None  # config: false turns an inherited time stop off
    after_minutes: PositiveDec | None = None  # of holding time
    at: UtcMs | None = None  # an absolute time (the earlier of the two wins)
    limit_offset_percent: Percent | None = None  # unset: MARKET; set: LIMIT this far past the mark

    @model_validator(mode="after")
    def _when(self) -> TimeStopModel:
        if self.after_minutes is None and self.at is None and self.enabled is not False:
            raise _err("plan", "set after_minutes or at (with both, the earlier wins)", echo=False)
        return self


class LiquidationGuardModel(_Section):
    """USD-M: keep the stop ``margin_percent`` inside the liquidation price; with
    ``close_within_percent``, close ``close_fraction`` once when the mark comes that near."""

    enabled: StrictBool | None = None  # config: false turns an inherited guard off
    margin_percent: OffsetPercent | None = None  # the stop stays this far inside (default 0.5)
    close_within_percent: Percent | None = None  # close when the mark is this near; unset: never
    close_fraction: Fraction | None = None  # of the position to close (default 1: all)


class UsdmPolicySection(_Section):
    stop_loss: UsdmStopLoss | None = None
    take_profit: UsdmTakeProfit | None = None
    trailing: UsdmTrailing | None = None
    on_immediate_trigger: ImmediateTriggerAction | None = None
    ladder: list[LadderLevelModel] = []  # scale-out take-profit levels, reduce-only LIMITs
    stop_moves: list[StopMoveModel] = []  # the stop follows the ladder
    roi: list[RoiStepModel] = []  # take-profit distance by time held (freqtrade's ROI table)
    time_stop: TimeStopModel | None = None  # close after a holding time or at a time
    liquidation_guard: LiquidationGuardModel | None = None  # stop inside liquidation, close


class SpotPolicySection(_Section):
    stop_loss: SpotStopLoss | None = None
    take_profit: SpotTakeProfit | None = None
    trailing: SpotTrailing | None = None
    on_immediate_trigger: ImmediateTriggerAction | None = None
    ladder: list[LadderLevelModel] = []  # with a stop: one OCO per level, else LIMIT SELLs
    stop_moves: list[StopMoveModel] = []  # the stop follows the ladder
    roi: list[RoiStepModel] = []  # take-profit distance by time held
    time_stop: TimeStopModel | None = None  # resting exits cancelled first, then the SELL
    liquidation_guard: LiquidationGuardModel | None = None  # refused: USD-M only


# A key that belongs to the other product gets a hint instead of only "unknown key".
_COUNTERPARTS: dict[type[BaseModel], tuple[type[BaseModel], str, str]] = {
    UsdmStopLoss: (SpotStopLoss, "Spot", "USD-M"),
    SpotStopLoss: (UsdmStopLoss, "USD-M", "Spot"),
    UsdmTakeProfit: (SpotTakeProfit, "Spot", "USD-M"),
    SpotTakeProfit: (UsdmTakeProfit, "USD-M", "Spot"),
    UsdmTrailing: (SpotTrailing, "Spot", "USD-M"),
    SpotTrailing: (UsdmTrailing, "USD-M", "Spot"),
}

_SPOT_HINTS = {"working_type": "Spot stops trigger on the last trade price"}


# --- error translation ------------------------------------------------------------------------


def format_path(parts: Sequence[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin is Union or origin is types.UnionType:
            rest = [a for a in get_args(tp) if a is not type(None)]
            if len(rest) != 1:
                return tp
            tp = rest[0]
        else:
            return tp


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class a (relative) error location points into, for its allowed keys."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        origin = get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp = field.annotation
        elif origin is dict:
            tp = get_args(tp)[1]
        elif origin is list:
            tp = get_args(tp)[0]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _unknown_key_message(owner: type[BaseModel] | None, key: str) -> str:
    if owner is None:
        return "unknown key"
    allowed = ", ".join(owner.model_fields)
    message = f"unknown key; allowed keys: {allowed}"
    other = _COUNTERPARTS.get(owner)
    if other is not None and key in other[0].model_fields:
        hint = _SPOT_HINTS.get(key) if other[2] == "Spot" else None
        message += f" ({key} is a {other[1]} setting, not used on {other[2]}"
        message += f"; {hint})" if hint else ")"
    return message


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind in ("enum", "literal_error"):
        return f"must be {ctx.get('expected', 'one of the allowed values')}, got {_got(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {_got(value)}"
    if kind.startswith("int_"):
        return f"must be an integer, got {_got(value)}"
    if kind.startswith("string_"):
        return f"must be a string, got {_got(value)}"
    if kind == "list_type":
        return f"must be a list, got {_got(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a table, got {_got(value)}"
    if kind == "frozen_set_type" or kind == "set_type":
        return f"must be a list, got {_got(value)}"
    msg = str(error["msg"])
    if kind.startswith(("value_error", "assertion_error")):
        return msg.split(", ", 1)[-1]
    # Our own PydanticCustomError messages are complete sentences already.
    return msg if kind in _CUSTOM_KINDS else f"{msg[:1].lower()}{msg[1:]}, got {_got(value)}"


_CUSTOM_KINDS = frozenset(
    {
        "number",
        "range",
        "int",
        "symbol",
        "asset",
        "account",
        "mode",
        "string",
        "url",
        "unique",
        "products",
        "distance",
        "time",
        "plan",
    }
)


def validate_section(
    model: type[_M], raw: object, prefix: Sequence[str | int], issues: IssueList
) -> _M | None:
    """Validate one section; on failure append every error (with its full path) and return None."""
    if not isinstance(raw, dict):
        issues.add(format_path(prefix), f"must be a table, got {_got(raw)}")
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc: list[str | int] = list(error["loc"])
            if loc and loc[-1] == "[key]":
                # A bad dict key: the path is the key itself.
                loc.pop()
            if error["type"] == "extra_forbidden":
                owner = _model_at(model, loc[:-1])
                issues.add(format_path([*prefix, *loc]), _unknown_key_message(owner, str(loc[-1])))
            else:
                issues.add(format_path([*prefix, *loc]), _message(error))
        return None
