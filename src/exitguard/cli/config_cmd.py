"""``exitguard config check``: validate ``exitguard.toml`` + the environment, print every problem.

Exit status: 0 valid (prints a summary and the effective policy per symbol), 1 valid TOML but an
invalid configuration (every error with its path), 2 the file is missing, unreadable or not TOML
(with line and column). Credential values are never printed, only whether they are present.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from exitguard.cli.tables import Col, Rows, stdout_console
from exitguard.config import (
    Config,
    ConfigError,
    ConfigFileError,
    ExecutionMode,
    load_config,
)
from exitguard.domain.enums import Product
from exitguard.planner.policy import Distance, ProtectionPolicy

__all__ = ["app", "check_command"]

_EXIT_INVALID = 1
_EXIT_FILE = 2

app = typer.Typer(
    name="config",
    help="The configuration: exitguard.toml plus environment variables.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # click's plain help and one-line errors (cli/main.py)
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _config() -> None:
    """The configuration: exitguard.toml plus environment variables."""


def _dist(distance: Distance) -> str:
    # No sign: the side of the entry it lies on depends on the position (long or short).
    if distance.percent is not None:
        return f"{distance.percent}%"
    return f"{distance.price} (price)"


def _describe(product: Product, policy: ProtectionPolicy) -> list[str]:
    """Stop-loss, take-profit, trailing and fallback cells: what will actually be placed."""
    usdm = product is Product.USDM
    sl = tp = tr = "-"
    if (s := policy.stop_loss) is not None:
        if usdm:
            shape = "reduce-only qty" if s.quantity_based else "closePosition"
            protect = ", priceProtect" if s.price_protect else ""
            sl = f"STOP_MARKET {shape} at {_dist(s.distance)}, {s.working_type.value}{protect}"
        elif s.limit_offset_percent is not None:
            sl = f"STOP_LOSS_LIMIT at {_dist(s.distance)}, limit {s.limit_offset_percent}% beyond"
        else:
            sl = f"STOP_LOSS at {_dist(s.distance)}"
    if policy.ladder:
        tp = f"ladder of {len(policy.ladder)} levels (exit plan below)"
    if (t := policy.take_profit) is not None:
        if usdm and t.conditional:
            protect = ", priceProtect" if t.price_protect else ""
            tp = f"algo TAKE_PROFIT at {_dist(t.distance)}, {t.working_type.value}{protect}"
        elif usdm:
            tp = f"LIMIT reduce-only at {_dist(t.distance)}"
        else:
            kind = "OCO with the stop" if policy.stop_loss is not None else "TAKE_PROFIT"
            tp = f"{kind} at {_dist(t.distance)}"
    if (r := policy.trailing) is not None:
        start = f", from {_dist(r.activation)} profit" if r.activation is not None else ""
        if r.after_level is not None:
            start += f", after level {r.after_level}"
        if usdm:
            tr = f"TRAILING_STOP_MARKET {r.callback_rate}%{start}, {r.working_type.value}"
        elif policy.stop_loss is not None or policy.take_profit is not None or policy.ladder:
            tr = "not placed (the balance backs the exit to the left)"
        else:
            tr = f"trailingDelta {r.trailing_delta_bips} BIPS{start}"
    return [sl, tp, tr, policy.on_immediate_trigger.value]


def _plain(value: Decimal) -> str:
    """``value`` without trailing zeros and never in exponent form (50.0 -> 50, 240 -> 240)."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _pct(fraction: Decimal) -> str:
    return _plain(fraction * 100) + "%"


def _minutes(ms: int) -> str:
    return _plain(Decimal(ms) / 60_000) + " min"


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _plan_rows(product: Product, policy: ProtectionPolicy) -> list[tuple[str, str]]:
    """(element, what it does) for every exit-plan element of ``policy``, one line each."""
    rows: list[tuple[str, str]] = []
    usdm = product is Product.USDM
    each = (
        "LIMIT reduce-only"
        if usdm
        else ("OCO with the stop" if policy.stop_loss is not None else "LIMIT SELL")
    )
    for i, lv in enumerate(policy.ladder, start=1):
        rows.append(("ladder", f"level {i}: {_pct(lv.fraction)} at {_dist(lv.distance)}, {each}"))
    runner = 1 - sum((lv.fraction for lv in policy.ladder), Decimal(0))
    if policy.ladder and runner > 0:
        rows.append(("ladder", f"runner: {_pct(runner)} left to the stop / trailing stop"))
    for m in policy.stop_moves:
        if m.to_level is not None:
            rows.append(("stop moves", f"after level {m.after_level}: stop to level {m.to_level}"))
        else:
            offset = m.break_even_offset_percent or Decimal(0)
            rows.append(
                ("stop moves", f"after level {m.after_level}: stop to break-even +{offset}%")
            )
    for step in policy.roi:
        rows.append(
            ("ROI", f"from {_minutes(step.after_ms)} held: take-profit at {_dist(step.distance)}")
        )
    if (tr := policy.trailing) is not None and tr.after_level is not None:
        rows.append(("trailing", f"starts after level {tr.after_level} filled"))
    if (ts := policy.time_stop) is not None:
        when = " or ".join(
            w
            for w in (
                f"after {_minutes(ts.after_ms)} held" if ts.after_ms is not None else "",
                f"at {_utc(ts.at_ms)}" if ts.at_ms is not None else "",
            )
            if w
        )
        how = (
            "MARKET close"
            if ts.limit_offset_percent is None
            else f"LIMIT {ts.limit_offset_percent}% beyond the mark"
        )
        rows.append(("time stop", f"{when}: {how}"))
    if (lg := policy.liquidation_guard) is not None:
        rows.append(("liquidation", f"stop kept {lg.margin_percent}% inside liquidation"))
        if lg.close_within_percent is not None:
            rows.append(
                (
                    "liquidation",
                    f"close {_pct(lg.close_fraction)} when the mark is within "
                    f"{lg.close_within_percent}% of it, once",
                )
            )
    return rows


def _plan_table(config: Config) -> Rows:
    table = Rows(
        "Exit plan per symbol", [Col("product"), Col("symbol"), Col("element"), Col("what")]
    )
    for product in config.products:
        policies = config.policies[product]
        for name, policy in [("default", policies.default), *sorted(policies.symbols.items())]:
            for element, what in _plan_rows(product, policy):
                table.add(product.value, name, element, what)
    return table


def _policy_table(config: Config) -> Rows:
    table = Rows(
        "Effective policy per symbol",
        [
            Col(name)
            for name in (
                "product",
                "symbol",
                "stop-loss",
                "take-profit",
                "trailing",
                "if already past",
            )
        ],
    )
    for product in config.products:
        policies = config.policies[product]
        label = "default (built-in)" if policies.default_is_builtin else "default"
        table.add(product.value, label, *_describe(product, policies.default))
        listed = config.symbols.get(product)
        names = sorted(set(policies.symbols) | set(listed or ()))
        for name in names:
            own = name in policies.symbols
            table.add(
                product.value,
                name if own else f"{name} (default)",
                *_describe(product, policies.for_symbol(name)),
            )
    return table


def _summary(config: Config, console: Console) -> None:
    gate = config.mutation_gate().preflight()
    source = {"env": "from EXECUTION_MODE", "file": "from the file", "default": "default"}
    venue: str = config.venue
    if venue == "embedded":
        ev = config.embedded_venue
        venue += f" paper venue (seed {ev.seed}, feed {ev.feed})"
    creds = config.credentials
    rows = [
        ("mode", f"{config.mode.value} ({source[config.mode_source]})"),
        ("account", config.account),
        ("products", ", ".join(p.value for p in config.products)),
        (
            "symbols",
            "; ".join(
                f"{p.value}: {', '.join(s) if (s := config.symbols.get(p)) else 'every position'}"
                for p in config.products
            ),
        ),
        ("venue", venue),
        *((f"  {key.value}", url) for key, url in config.endpoints.items()),
        ("state db", str(config.state_db)),
        (
            "notional cap",
            f"{config.notional_cap} per request (quote currency)"
            if config.notional_cap is not None
            else "none",
        ),
        ("credentials", f"present ({creds.kind}, from the environment)" if creds else "none"),
        ("mutations", f"{'allowed' if gate.allowed else 'refused'}: {gate.reason}"),
    ]
    if config.mode is ExecutionMode.LIVE:
        rows.append(("LIVE confirmation", "given" if config.live_confirmed else "missing"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        console.print(f"{key:<{width}}  {value}", markup=False, highlight=False)
    for issue in config.warnings:
        console.print(f"warning: {issue}", markup=False, highlight=False)
    _policy_table(config).print(console)
    _plan_table(config).print(console)


def _as_json(config: Config, label: str, problems: tuple[Any, ...]) -> dict[str, Any]:
    """The same facts as the text summary, for scripts (credentials: only whether present)."""
    gate = config.mutation_gate().preflight()
    policies = []
    for product in config.products:
        per = config.policies[product]
        listed = config.symbols.get(product)
        for name in ["default", *sorted(set(per.symbols) | set(listed or ()))]:
            policy = per.default if name == "default" else per.for_symbol(name)
            sl, tp, tr, fallback = _describe(product, policy)
            policies.append(
                {
                    "product": product.value,
                    "symbol": name,
                    "stop_loss": sl,
                    "take_profit": tp,
                    "trailing": tr,
                    "on_immediate_trigger": fallback,
                    "plan": [f"{e}: {w}" for e, w in _plan_rows(product, policy)],
                }
            )
    return {
        "config": label,
        "ready": not problems,
        "problems": [str(p) for p in problems],
        "warnings": [str(w) for w in config.warnings],
        "mode": config.mode.value,
        "mode_source": config.mode_source,
        "account": config.account,
        "products": [p.value for p in config.products],
        "venue": config.venue,
        "endpoints": {key.value: url for key, url in config.endpoints.items()},
        "state_db": str(config.state_db),
        "notional_cap": None if config.notional_cap is None else str(config.notional_cap),
        "credentials": config.credentials.kind if config.credentials else None,
        "mutations": {"allowed": gate.allowed, "reason": gate.reason},
        "policies": policies,
    }


def init_command(
    path: Annotated[
        Path, typer.Argument(help="Where to write the starter config.", show_default=True)
    ] = Path("exitguard.toml"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write a commented starter config (the bundled example: PAPER-ready policies)."""
    from importlib.resources import files

    if path.exists() and not force:
        typer.echo(f"exitguard config init: {path} exists; --force replaces it", err=True)
        raise typer.Exit(_EXIT_FILE)
    text = (files("exitguard") / "examples" / "exitguard.toml").read_text(encoding="utf-8")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        typer.echo(f"exitguard config init: {path}: {exc.strerror or exc}", err=True)
        raise typer.Exit(_EXIT_FILE) from None
    typer.echo(
        f"wrote {path}: read its comments, then `exitguard config check -c {path}` and "
        f"`exitguard run -c {path}` (DRY_RUN_PRIVATE until EXECUTION_MODE says otherwise)"
    )


def check_command(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar="EXITGUARD_CONFIG",
            help="The TOML file to check (default: exitguard.toml in the current directory, "
            "else the built-in defaults, as `run` does).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Validate the config file and the environment; print every error with its path."""
    if config is None and Path("exitguard.toml").exists():
        config = Path("exitguard.toml")
    label = str(config) if config is not None else "built-in defaults (no exitguard.toml here)"
    try:
        loaded = load_config(config, os.environ)
    except ConfigFileError as exc:
        # The TOML message already carries "(at line L, column C)".
        typer.echo(f"exitguard config check: {exc.issues[0]}", err=True)
        raise typer.Exit(_EXIT_FILE) from None
    except ConfigError as exc:
        count = len(exc.issues)
        typer.echo(
            f"exitguard config check: {count} error{'s' if count != 1 else ''} in {label}",
            err=True,
        )
        for issue in exc.issues:
            typer.echo(f"  {issue.path}: {issue.message}", err=True)
        raise typer.Exit(_EXIT_INVALID) from None
    console = stdout_console()
    problems = loaded.run_problems()
    if as_json:
        typer.echo(json.dumps(_as_json(loaded, label, problems), indent=2))
    else:
        console.print(
            f"{'NOT READY' if problems else 'OK'}: {label}", markup=False, highlight=False
        )
        _summary(loaded, console)
    if problems:
        # Valid TOML, but `run` would refuse to start (or would send nothing): checked, invalid.
        for issue in problems:
            typer.echo(f"exitguard config check: run would refuse: {issue}", err=True)
        raise typer.Exit(_EXIT_INVALID)


app.command("check")(check_command)
app.command("init")(init_command)
