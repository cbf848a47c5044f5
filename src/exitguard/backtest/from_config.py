"""``exitguard.toml`` policies ↔ backtest policies: backtest what runs, run what won.

:func:`exit_policy_from_config` maps the planner's :class:`ProtectionPolicy` (the effective
policy of one ``[policy.<product>.<SYMBOL>]``: the symbol's section over the product default)
to the backtest's :class:`ExitPolicy`; :func:`policy_snippet` writes an ``ExitPolicy`` back as a
section that ``exitguard config check`` accepts. The two are inverse for every policy the
snippet can express (tested).

Rules (each refusal is a :class:`BacktestInputError` naming the config field and why):

- distances: ``{ percent = p }`` → ``p * 100`` bps, which must be a whole number (the backtest
  works in integer bps, 0.01 %); an absolute ``price``/``level`` distance is refused: it has no
  fixed size in bps of an entry price that changes from trade to trade;
- trailing: USD-M ``callback_rate`` (percent) → ``callback_rate * 100`` bps; Spot
  ``trailing_delta_bips`` → the same number of bps (1 BIP = 0.01 % = 1 bps);
- Spot ``stop_loss.limit_offset_percent`` → ``stop_limit_bps``;
- the trigger source: the backtest runs every exit on one source, the ``working_type`` of the
  stop, else of the trailing stop, else of a conditional take-profit (Spot: always the last
  trade price). Triggered exits that disagree are refused unless ``source`` is given;
- a fixed USD-M take-profit (a resting reduce-only LIMIT live) is backtested as a take-profit
  that triggers at the level and fills at the next print (the replay's rule): the mapping says so
  in its notes;
- Spot places no trailing stop beside a stop-loss or take-profit (the balance backs one resting
  exit, ``planner.build``): such a trailing stop is left out, and the notes say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from exitguard.domain.enums import Product, WorkingType
from exitguard.planner.policy import Distance, ProtectionPolicy

from .model import BacktestInputError, ExitPolicy

__all__ = ["ConfigPolicy", "exit_policy_from_config", "percent_to_bps", "policy_snippet"]

_HUNDRED = Decimal(100)
# Plan elements the planner knows and this backtest mapping does not (yet): refused by name
# rather than silently dropped, so a backtest never reports a policy that is not the one run.
_NOT_MAPPED = ("ladder", "stop_moves", "roi", "time_stop", "liquidation_guard")


@dataclass(frozen=True, slots=True)
class ConfigPolicy:
    """A config policy as the backtest runs it, and what the mapping had to approximate."""

    policy: ExitPolicy
    notes: tuple[str, ...] = ()


def percent_to_bps(value: Decimal, field: str) -> int:
    """``1.5`` (percent) → ``150`` bps; a fraction of a bps is refused, naming ``field``."""
    bps = value * _HUNDRED
    if bps != bps.to_integral_value():
        raise BacktestInputError(
            field, f"{value} % is {bps.normalize():f} bps; the backtest works in whole bps (0.01 %)"
        )
    return int(bps)


def _distance_bps(distance: Distance, field: str) -> int:
    if distance.percent is None:
        kind = "price" if distance.price is not None else "level"
        raise BacktestInputError(
            f"{field}.{kind}",
            "an absolute price has no fixed size in bps of the entry (which changes from trade to "
            "trade); the backtest needs { percent = ... }",
        )
    return percent_to_bps(distance.percent, f"{field}.percent")


def _source(
    policy: ProtectionPolicy, usdm: bool, path: str, override: WorkingType | None, notes: list[str]
) -> WorkingType:
    triggered: list[tuple[str, WorkingType]] = []
    if usdm:
        if policy.stop_loss is not None:
            triggered.append(("stop_loss", policy.stop_loss.working_type))
        if policy.trailing is not None:
            triggered.append(("trailing", policy.trailing.working_type))
        if policy.take_profit is not None and policy.take_profit.conditional:
            triggered.append(("take_profit", policy.take_profit.working_type))
    else:  # Spot exits trigger on the last trade price
        triggered = [("stop_loss", WorkingType.CONTRACT_PRICE)]
    configured = {WorkingType(w) for _, w in triggered}
    if override is not None:
        if configured - {override}:
            says = ", ".join(f"{role}.working_type = {w}" for role, w in triggered)
            notes.append(f"every exit triggers on {override} (--source); the config says {says}")
        return override
    if len(configured) > 1:
        first, *others = triggered
        other = next(o for o in others if o[1] != first[1])
        raise BacktestInputError(
            f"{path}.{other[0]}.working_type",
            f"{other[1]} differs from {first[0]}.working_type {first[1]}; the backtest runs "
            "every exit on one trigger source: choose it with --source contract|mark",
        )
    return next(iter(configured)) if configured else WorkingType.CONTRACT_PRICE


def exit_policy_from_config(
    policy: ProtectionPolicy,
    product: Product,
    path: str,
    source: WorkingType | None = None,
) -> ConfigPolicy:
    """The backtest policy of config ``policy`` (rules in the module docstring).

    ``path`` names the section in messages (``policy.usdm.BTCUSDT``); ``source`` overrides the
    configured trigger source. Raises :class:`BacktestInputError` naming the field at fault.
    """
    usdm = Product(product) is Product.USDM
    for name in _NOT_MAPPED:
        if getattr(policy, name, None):
            raise BacktestInputError(
                f"{path}.{name}", "this plan element is not in the backtest's policies yet"
            )
    if policy.trailing is not None and getattr(policy.trailing, "after_level", None) is not None:
        raise BacktestInputError(
            f"{path}.trailing.after_level", "trailing after a ladder level is not backtested yet"
        )
    notes: list[str] = []
    trailing = policy.trailing
    if not usdm and trailing is not None and (policy.stop_loss or policy.take_profit):
        notes.append(
            "trailing left out: a Spot balance backs one resting exit, and the stop-loss or "
            "take-profit takes it (the manager does not place it either)"
        )
        trailing = None
    if policy.stop_loss is None and policy.take_profit is None and trailing is None:
        raise BacktestInputError(path, "no exit is enabled: nothing to backtest")
    stop = tp = trail = act = 0
    stop_limit: int | None = None
    if policy.stop_loss is not None:
        stop = _distance_bps(policy.stop_loss.distance, f"{path}.stop_loss.distance")
        if policy.stop_loss.limit_offset_percent is not None:
            stop_limit = percent_to_bps(
                policy.stop_loss.limit_offset_percent, f"{path}.stop_loss.limit_offset_percent"
            )
    if policy.take_profit is not None:
        tp = _distance_bps(policy.take_profit.distance, f"{path}.take_profit.distance")
        if usdm and not policy.take_profit.conditional:
            notes.append(
                "the take-profit rests as a reduce-only LIMIT live; the backtest triggers it at "
                "the level and fills it at the next print"
            )
    if trailing is not None:
        if trailing.callback_rate is not None:
            trail = percent_to_bps(trailing.callback_rate, f"{path}.trailing.callback_rate")
        elif trailing.trailing_delta_bips is not None:
            trail = int(trailing.trailing_delta_bips)
        if trailing.activation is not None:
            act = _distance_bps(trailing.activation, f"{path}.trailing.activation")
    chosen = _source(policy, usdm, path, source, notes)
    try:
        exit_policy = ExitPolicy(stop, tp, trail, act, chosen, stop_limit).validate()
    except BacktestInputError as exc:
        raise BacktestInputError(f"{path} ({exc.field})", exc.rule) from None
    return ConfigPolicy(exit_policy, tuple(notes))


def _percent(bps: int) -> str:
    """``150`` → ``1.5``: a TOML number the config reads back as the exact Decimal."""
    return f"{(Decimal(bps) / _HUNDRED).normalize():f}"


def policy_snippet(
    policy: ExitPolicy, product: Product, symbol: str, comments: tuple[str, ...] = ()
) -> str:
    """``[policy.<product>.<symbol>]`` for ``policy``; every role is written, the unused ones
    ``enabled = false``, so nothing is inherited from the product default.

    Raises :class:`BacktestInputError` (field ``--emit-config``) for a policy the config cannot
    express: a USD-M stop-limit, a USD-M callback rate outside 0.1–20 %, a Spot policy on the
    mark price, a Spot trailing stop beside a stop or take-profit, a zero Spot stop-limit offset.
    """
    policy.validate()
    usdm = Product(product) is Product.USDM
    source = WorkingType(policy.source)
    field = "--emit-config"
    lines = [f"# {c}" for c in comments]
    lines.append(f"[policy.{Product(product).value}.{symbol}]")

    def off(role: str) -> None:
        lines.append(f"{role} = {{ enabled = false }}")

    if not usdm:
        if source is not WorkingType.CONTRACT_PRICE:
            raise BacktestInputError(
                field, "Spot stops trigger on the last trade price: a MARK_PRICE policy has no "
                "Spot config",
            )  # fmt: skip
        if policy.trail_bps and (policy.stop_bps or policy.take_profit_bps):
            raise BacktestInputError(
                field, "a Spot balance backs one resting exit: the manager places no trailing "
                "stop beside a stop-loss or take-profit",
            )  # fmt: skip
    if policy.stop_bps:
        extra = f', working_type = "{source}"' if usdm else ""
        if policy.stop_limit_bps is not None:
            if usdm:
                raise BacktestInputError(
                    field, "a USD-M config stop is a STOP_MARKET: it has no stop-limit offset"
                )
            if policy.stop_limit_bps == 0:
                raise BacktestInputError(
                    field, "a Spot limit_offset_percent must be greater than 0 (stop_limit_bps 0)"
                )
            extra = f", limit_offset_percent = {_percent(policy.stop_limit_bps)}"
        lines.append(
            f"stop_loss = {{ distance = {{ percent = {_percent(policy.stop_bps)} }}{extra} }}"
        )
    else:
        off("stop_loss")
    if policy.take_profit_bps:
        extra = ""
        # A fixed USD-M take-profit has no trigger source; when nothing else carries the
        # source, a MARK_PRICE take-profit is written as the conditional one that has it.
        if usdm and source is WorkingType.MARK_PRICE and not (policy.stop_bps or policy.trail_bps):
            extra = ', conditional = true, working_type = "MARK_PRICE"'
        distance = f"{{ percent = {_percent(policy.take_profit_bps)} }}"
        lines.append(f"take_profit = {{ distance = {distance}{extra} }}")
    else:
        off("take_profit")
    if policy.trail_bps:
        if usdm:
            if not 10 <= policy.trail_bps <= 2000:
                raise BacktestInputError(
                    field, f"trail_bps {policy.trail_bps} is a callbackRate of "
                    f"{_percent(policy.trail_bps)} %; Binance accepts 0.1 to 20",
                )  # fmt: skip
            rate = f"callback_rate = {_percent(policy.trail_bps)}"
            rate += f', working_type = "{source}"'
        else:
            rate = f"trailing_delta_bips = {policy.trail_bps}"
        if policy.activation_bps:
            rate += f", activation = {{ percent = {_percent(policy.activation_bps)} }}"
        lines.append(f"trailing = {{ {rate} }}")
    else:
        off("trailing")
    return "\n".join(lines) + "\n"
