"""What ``exitguard backtest`` / ``sweep`` print: the policy table, the ranking notes and the
walk-forward table (:mod:`exitguard.cli.tables` keeps every number whole at any width)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from exitguard.cli.tables import Col, Rows

if TYPE_CHECKING:
    from exitguard.backtest.ranking import Ranking
    from exitguard.backtest.run import RunResult
    from exitguard.backtest.walk_forward import WalkForward

__all__ = ["finish", "policy_table", "print_notes", "print_walk_forward", "walk_forward_table"]

_SHORT = {
    "stop_bps": "stop",
    "take_profit_bps": "TP",
    "trail_bps": "trail",
    "activation_bps": "activ.",
    "stop_limit_bps": "limit",
    "source": "source",
    "stop_moves": "moves",
    "trail_after_level": "trail after",
    "time_stop_ms": "time stop",
    "liq_margin_bps": "liq. margin",
    "liq_close_within_bps": "liq. close",
    "liq_close_parts": "liq. parts",
}


def fmt(value: Any, digits: int = 2, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if pct:
        return f"{100 * float(value):.0f}%"
    return f"{float(value):,.{digits}f}"


def _param(name: str, value: Any) -> str:
    if name == "source":
        return "mark" if str(value) == "MARK_PRICE" else "contract"
    if name == "time_stop_ms" and isinstance(value, int):
        return "-" if not value else f"{value // 60_000}m" if not value % 60_000 else f"{value}ms"
    return "-" if value in ("", None) else str(value)


def policy_table(
    result: RunResult, ranking: Ranking, params: list[str], top: int, chosen: int
) -> Rows:
    """Ranked policies first (at most ``top``), then unranked ones, and the chosen one."""
    from exitguard.backtest.ranking import OBJECTIVE_LABELS, Objective

    s = result.summary
    objective = Objective(ranking.spec.objective)
    several = len(result.policies) > 1  # one policy (a backtest) has nothing to rank against
    columns = [Col("#", number=True)] + ([Col("rank", number=True)] if several else [])
    columns += [Col(_SHORT.get(p, p), number=True) for p in params]
    if objective is not Objective.NET:
        columns.append(Col(OBJECTIVE_LABELS[objective], number=True))
    pnl_name = "ranked PnL"
    columns += [Col(pnl_name, number=True), Col("DD", number=True)]
    columns += [Col("END", number=True), Col("END PnL", number=True)]
    # A time stop's and the liquidation guard's shares only when some policy has one.
    extra = [(k, n) for k, n in (("hit_time", "time"), ("hit_liq", "liq")) if s[k].any()]
    columns += [Col(n, number=True) for n in ("win", "SL", "TP", "trail")]
    columns += [Col(n, number=True) for _, n in extra]
    columns += [Col(n, number=True) for n in ("slip bps", "hold s")]
    n_pol, n_ent = len(result.policies), len(result.entries)
    title = (
        f"{result.command}: {n_pol} {'policy' if n_pol == 1 else 'policies'} x "
        f"{n_ent} {'entry' if n_ent == 1 else 'entries'}"
    )
    table = Rows(title, columns)
    order = list(ranking.order[:top])
    order += [i for i in sorted(ranking.unranked) if len(order) < top]
    if chosen not in order:
        order.append(chosen)
    for i in order:
        policy = result.policies[i].as_dict()
        cells = [f"{i}{'*' if i == chosen else ''}"]
        if several:
            cells.append(str(int(ranking.rank[i]) or "-"))
        cells += [_param(p, policy[p]) for p in params]
        if objective is not Objective.NET:
            cells.append(fmt(float(ranking.value[i])))
        cells += [fmt(ranking.pnl[i]), fmt(ranking.drawdown[i])]
        cells += [f"{int(s['open_trades'][i])}/{int(s['trades'][i])}", fmt(s["open_pnl"][i])]
        cells += [
            fmt(s["win_rate"][i], pct=True),
            fmt(s["hit_sl"][i], pct=True),
            fmt(s["hit_tp"][i], pct=True),
            fmt(s["hit_trail"][i], pct=True),
            *(fmt(s[k][i], pct=True) for k, _ in extra),
            fmt(s["mean_slippage_bps"][i]),
            fmt(s["mean_time_in_trade_s"][i], 0),
        ]
        table.add(*cells)
    return table


def print_notes(
    console: Console, result: RunResult, ranking: Ranking, notes: tuple[str, ...]
) -> None:
    """How the policies are ranked, what END means, why some policies are not ranked, and
    the mapping's notes."""
    s = result.summary
    if len(result.policies) > 1:
        console.print(f"{ranking.spec.describe().capitalize()}.")
    else:
        counted = ranking.spec.describe().split(" over ")[1].split(", min")[0]
        console.print(f"ranked PnL: over {counted}; net PnL {fmt(s['net_pnl'][0])}.")
    if int(s["open_trades"].sum()):
        from exitguard.backtest.ranking import OpenTrades

        counted = {
            OpenTrades.LOSSES: "the ranking counts their losses, not their gains",
            OpenTrades.EXCLUDE: "the ranking leaves them out",
            OpenTrades.INCLUDE: "the ranking counts them",
        }[OpenTrades(ranking.spec.open_trades)]
        console.print(
            "END: trades still open when the data ended (marked to market at the last print); "
            f"{counted} (--open-trades)."
        )
    if ranking.unranked:
        kinds = Counter(
            "too few trades" if "--min-trades" in why else "objective undefined"
            for why in ranking.unranked.values()
        )
        parts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        console.print(f"not ranked: {len(ranking.unranked)} ({parts}); see results.json")
    for note in notes:
        console.print(f"note: {note}")


def walk_forward_table(wf: WalkForward) -> Rows:
    """One row per fold: the in-sample winner's figures in and out of sample."""
    from exitguard.backtest.ranking import OBJECTIVE_LABELS, Objective

    objective = Objective(wf.spec.objective)
    label = OBJECTIVE_LABELS[objective]
    ratio = objective is not Objective.NET  # net: the objective is the PnL column itself
    columns = [Col("fold", number=True), Col("OOS from", number=True), Col("winner", number=True)]
    if ratio:
        columns += [Col(f"IS {label}", number=True), Col(f"OOS {label}", number=True)]
    columns += [Col(n, number=True) for n in ("IS PnL", "OOS PnL", "OOS rank", "OOS END")]
    table = Rows("walk-forward: the in-sample (IS) winner out of sample (OOS)", columns)
    for fold in wf.as_dict()["folds"]:
        start = fold["out_of_sample"]["from"][:16].replace("T", " ")
        if fold["winner"] is None:
            table.add(fold["fold"], start, *["-"] * (len(columns) - 2))
            continue
        ins, oos = fold["in_sample_figures"], fold["out_of_sample_figures"]
        cells = [fold["fold"], start, fold["winner"]]
        if ratio:
            cells += [_value(ins["objective_value"]), _value(oos["objective_value"])]
        cells += [fmt(ins["ranked_pnl"]), fmt(oos["ranked_pnl"])]
        cells += [f"{oos['rank']}/{oos['of']}" if oos["rank"] else "-", str(oos["open_trades"])]
        table.add(*cells)
    return table


def _value(value: Any) -> str:
    return value if isinstance(value, str) else fmt(value)


def print_walk_forward(console: Console, wf: WalkForward) -> None:
    """The walk-forward table, and why a fold has no winner or no out-of-sample rank."""
    walk_forward_table(wf).print(console)
    for fold in wf.as_dict()["folds"]:
        if fold["winner"] is None:
            console.print(f"fold {fold['fold']}: {fold['note']}")
        elif (why := fold["out_of_sample_figures"]["not_ranked"]) is not None:
            console.print(f"fold {fold['fold']}: the winner is not ranked out of sample ({why})")


def finish(
    result: RunResult,
    console: Console,
    report: Path,
    chosen: int,
    params: list[str],
    top: int,
    heatmap: tuple[str, str] | None,
    ranking: Ranking,
    as_json: bool = False,
    notes: tuple[str, ...] = (),
    walk: WalkForward | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> None:
    """Write the report folder, then print the tables and notes (or the JSON with --json)."""
    replaced = (report / "results.json").exists()
    meta: dict[str, Any] = dict(extra_meta or {})
    if notes:
        meta["notes"] = list(notes)
    if walk is not None:
        meta["walk_forward"] = walk.as_dict()
    files = result.write(report, chosen, heatmap, meta, ranking)
    if as_json:
        typer.echo((report / "results.json").read_text(encoding="utf-8"))
        return
    policy_table(result, ranking, params, top, chosen).print(console)
    print_notes(console, result, ranking, notes)
    if walk is not None:
        print_walk_forward(console, walk)
    note = "; the previous report there was replaced" if replaced else ""
    console.print(f"report: {report} ({', '.join(p.name for p in files)}){note}")
