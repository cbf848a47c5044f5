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
  exit, ``planner.build``): such a trailing stop is left out, and the notes say so;
- exit plans (``issue14_semantics``): ladder levels → :class:`Level` (distance bps, fraction in
  whole parts per 10,000), stop moves → :class:`Move` (break-even offset in bps), ROI steps →
  :class:`Roi` (held ms → bps; a step at 0 minutes replaces the take-profit from the start), ``time_stop.after_minutes`` →
  ``time_stop_ms`` (a wall-clock ``at`` is refused: a backtest's trades have no common clock
  time; a limit close is backtested as a market close, noted), the liquidation guard → bps and
  parts (its liquidation price comes from the run's leverage, noted), ``trailing.after_level``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exitguard.domain.enums import Product, WorkingType
from exitguard.planner.policy import Distance, ProtectionPolicy

from .model import BPS, BacktestInputError, ExitPolicy, Level, Move, Roi

__all__ = [
    "ConfigPolicy",
    "exit_policy_from_config",
    "fraction_to_parts",
    "percent_to_bps",
    "policy_snippet",
]

_HUNDRED = Decimal(100)
_MINUTE_MS = 60_000


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


def fraction_to_parts(value: Decimal, field: str) -> int:
    """``0.25`` → ``2500`` parts per 10,000; a fraction of a part is refused, naming ``field``."""
    parts = value * BPS
    if parts != parts.to_integral_value():
        raise BacktestInputError(
            field, f"{value} is not a whole number of parts per 10,000 (the backtest's unit)"
        )
    return int(parts)


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
    notes: list[str] = []
    trailing = policy.trailing
    if (
        not usdm
        and trailing is not None
        and (policy.stop_loss or policy.take_profit or policy.ladder)
    ):
        notes.append(
            "trailing left out: a Spot balance backs one resting exit, and the stop-loss or "
            "take-profit takes it (the manager does not place it either)"
        )
        trailing = None
    if (
        policy.stop_loss is None
        and policy.take_profit is None
        and trailing is None
        and not policy.ladder
        and policy.time_stop is None
    ):
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
    plan = _plan(policy, path, notes)
    if trailing is not None and trailing.after_level is not None:
        plan["trail_after_level"] = trailing.after_level
    try:
        exit_policy = ExitPolicy(stop, tp, trail, act, chosen, stop_limit, **plan).validate()
    except BacktestInputError as exc:
        raise BacktestInputError(f"{path} ({exc.field})", exc.rule) from None
    return ConfigPolicy(exit_policy, tuple(notes))


def _plan(policy: ProtectionPolicy, path: str, notes: list[str]) -> dict[str, Any]:
    """The exit-plan fields of :class:`ExitPolicy` (module docstring)."""
    plan: dict[str, Any] = {
        "ladder": tuple(
            Level(
                _distance_bps(level.distance, f"{path}.ladder[{i}].distance"),
                fraction_to_parts(level.fraction, f"{path}.ladder[{i}].fraction"),
            )
            for i, level in enumerate(policy.ladder, 1)
        ),
        "stop_moves": tuple(
            Move(
                move.after_level,
                None
                if move.break_even_offset_percent is None
                else percent_to_bps(
                    move.break_even_offset_percent,
                    f"{path}.stop_moves[{i}].break_even_offset_percent",
                ),
                move.to_level,
            )
            for i, move in enumerate(policy.stop_moves, 1)
        ),
        "roi": tuple(
            Roi(step.after_ms, _distance_bps(step.distance, f"{path}.roi[{i}].distance"))
            for i, step in enumerate(policy.roi, 1)
        ),
    }
    if policy.ladder:
        notes.append(
            "ladder levels rest as LIMIT orders live; the backtest triggers each at its level "
            "and fills it at the next print"
        )
    ts = policy.time_stop
    if ts is not None:
        if ts.at_ms is not None:
            raise BacktestInputError(
                f"{path}.time_stop.at",
                "a wall-clock close has no meaning across a backtest's trades; use after_minutes",
            )
        plan["time_stop_ms"] = ts.after_ms or 0
        if ts.limit_offset_percent is not None:
            notes.append("the time stop's LIMIT close is backtested as a MARKET close")
    guard = policy.liquidation_guard
    if guard is not None:
        plan["liq_margin_bps"] = percent_to_bps(
            guard.margin_percent, f"{path}.liquidation_guard.margin_percent"
        )
        if guard.close_within_percent is not None:
            plan["liq_close_within_bps"] = percent_to_bps(
                guard.close_within_percent, f"{path}.liquidation_guard.close_within_percent"
            )
            plan["liq_close_parts"] = fraction_to_parts(
                guard.close_fraction, f"{path}.liquidation_guard.close_fraction"
            )
        notes.append(
            "the liquidation guard's liquidation price comes from --leverage and "
            "--maint-margin-bps (isolated margin, static per entry)"
        )
    return plan


def _percent(bps: int) -> str:
    """``150`` → ``1.5``: a TOML number the config reads back as the exact Decimal."""
    return f"{(Decimal(bps) / _HUNDRED).normalize():f}"


def _fraction(parts: int) -> str:
    return f"{(Decimal(parts) / BPS).normalize():f}"


def _minutes(ms: int, what: str) -> str:
    minutes = Decimal(ms) / _MINUTE_MS
    if int(minutes * _MINUTE_MS) != ms:
        raise BacktestInputError(
            "--emit-config", f"{what} of {ms} ms is not an exact number of minutes for the config"
        )
    return f"{minutes.normalize():f}"


def _plan_lines(policy: ExitPolicy, usdm: bool) -> list[str]:
    """The exit-plan keys, every one written (empty or disabled when unused) so that nothing
    is inherited from the product default (the config replaces these whole)."""
    field = "--emit-config"
    levels = ", ".join(
        f"{{ distance = {{ percent = {_percent(lv.bps)} }}, fraction = {_fraction(lv.parts)} }}"
        for lv in policy.ladder
    )
    moves = ", ".join(
        f"{{ after_level = {m.after_level}, "
        + (
            f"to_level = {m.to_level} }}"
            if m.to_level is not None
            else f"break_even_offset_percent = {_percent(m.be_offset_bps or 0)} }}"
        )
        for m in policy.stop_moves
    )
    roi = ", ".join(
        f"{{ after_minutes = {_minutes(r.after_ms, 'an ROI step')}, "
        f"distance = {{ percent = {_percent(r.tp_bps)} }} }}"
        for r in policy.roi
    )
    lines = [f"ladder = [{levels}]", f"stop_moves = [{moves}]", f"roi = [{roi}]"]
    if policy.time_stop_ms:
        after = _minutes(policy.time_stop_ms, "the time stop")
        lines.append(f"time_stop = {{ after_minutes = {after} }}")
    else:
        lines.append("time_stop = { enabled = false }")
    if policy.liq_margin_bps is not None:
        if not usdm:
            raise BacktestInputError(field, "the liquidation guard is USD-M only")
        guard = f"margin_percent = {_percent(policy.liq_margin_bps)}"
        if policy.liq_close_within_bps:
            guard += f", close_within_percent = {_percent(policy.liq_close_within_bps)}"
            guard += f", close_fraction = {_fraction(policy.liq_close_parts)}"
        lines.append(f"liquidation_guard = {{ {guard} }}")
    elif usdm:
        lines.append("liquidation_guard = { enabled = false }")
    return lines


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
        if policy.trail_bps and (policy.stop_bps or policy.take_profit_bps or policy.ladder):
            raise BacktestInputError(
                field, "a Spot balance backs one resting exit: the manager places no trailing "
                "stop beside a stop-loss or take-profit",
            )  # fmt: skip
    carried = policy.stop_bps or policy.trail_bps or policy.take_profit_bps
    if usdm and source is WorkingType.MARK_PRICE and not carried:
        raise BacktestInputError(
            field, "ladder levels and time stops name no trigger source in the config: a "
            "MARK_PRICE policy needs a stop, a trailing stop or a take-profit to carry it",
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
        if policy.trail_after_level:
            rate += f", after_level = {policy.trail_after_level}"
        lines.append(f"trailing = {{ {rate} }}")
    else:
        off("trailing")
    lines += _plan_lines(policy, usdm)
    return "\n".join(lines) + "\n"
