"""``exitguard status``: is every position protected, are the scopes ready, which exits exist.

Read from an in-memory copy of the store (the real file is only read), in three forms: tables
readable at 80 columns, ``--json`` (the same content for machines) and ``--check`` (exit 0 only
when every position is protected, every configured scope is ready, no exit slot is held and a
run holds the store: the kernel drops a dead run's lock, so a crashed run's last "ready" does not
pass; exit 1 naming what is not: for cron and health checks). Exit 2: the store cannot be read.

Protection verdicts come from the supervisor (store table ``protection``: ``protected``, ``bare``
since when and why, ``degraded`` and why; design: protection supervisor). A position with open
exits but no verdict is reported as ``unknown``: never assumed protected.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from exitguard.cli.run_cmd import ConfigOption, load_or_exit, store_refusals
from exitguard.cli.tables import Col, Rows, at_step
from exitguard.config import Config
from exitguard.manager.exit_views import exit_view
from exitguard.planner.model import ExitStatus
from exitguard.store.exits import ExitRow, ExitStore
from exitguard.store.safety import read_only_copy, run_lock_holder

__all__ = [
    "gather_status",
    "protection_text",
    "render_status",
    "status_command",
    "status_problems",
]

FINISHED_SHOWN = 10  # finished exits listed by default (the newest): history, not state
NO_VERDICT = "no verdict from the supervisor yet"


def _clock(ms: int, now_ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    if now_ms - ms < 86_400_000:
        return moment.strftime("%H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")  # a time alone would name the wrong day


def _age(ms: int) -> str:
    s = max(0, ms // 1000)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 172_800:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def protection_text(state: str, since_ms: int | None, reason: str, now_ms: int) -> str:
    """``protected``, ``bare since HH:MM:SS UTC (35s) — reason``, ``degraded — reason``."""
    if state == "protected":
        return "protected"
    text = state
    if state == "bare" and since_ms:
        text += f" since {_clock(since_ms, now_ms)} ({_age(now_ms - since_ms)})"
    return f"{text} — {reason}" if reason else text


def _position_of(row: ExitRow) -> str:
    s = row.slot
    return "/".join((s.account, s.product.value, s.symbol, s.position_side.value))


def _shown_reason(row: ExitRow) -> str:
    """Why the exit is as it is now. An open exit: why it was placed (or why its outcome is
    unknown). A finished one keeps its placement reason in the store, which no longer applies:
    only a rejection's reason (written when it was rejected) is shown, else nothing."""
    if not row.status.terminal or row.status is ExitStatus.REJECTED:
        return row.reason
    return ""


def _exit_entry(row: ExitRow) -> dict[str, Any]:
    # The side of the exit says which position it protects: a SELL exit closes a long.
    view = exit_view(row, None, row.side.value == "SELL")
    return {
        "client_id": row.client_id,
        "position": _position_of(row),
        "role": row.slot.role.value,
        "kind": row.kind.value,
        "type": view["type"],
        "side": row.side.value,
        "quantity": view["quantity"],
        "close_position": view["close_position"],
        "trigger_price": view["trigger_price"],
        "limit_price": view["price"],
        "trailing": view["trailing"],
        "status": row.status.value,
        "reason": _shown_reason(row),
        "created_ms": row.created_ms,
        "updated_ms": row.updated_ms,
    }


def gather_status(
    cfg: Config,
    store: ExitStore | None,
    *,
    now_ms: int,
    run_pid: int | None,
    finished: int = FINISHED_SHOWN,
) -> dict[str, Any]:
    """The status as JSON-ready data; tables, ``--json`` and ``--check`` all read it."""
    account = cfg.account
    products = [p.value for p in cfg.products]
    state_db = str(cfg.state_db)
    report: dict[str, Any] = {
        "state_db": state_db if state_db == ":memory:" else os.path.abspath(state_db),
        "account": account,
        "exists": store is not None,
        "run": {"running": run_pid is not None, "pid": run_pid or None},
        "positions": [],
        "exits": [],
        "finished_not_shown": 0,
        "scopes": [],
        "holds": [],
    }
    if store is None:
        report["hint"] = f"no state yet at {report['state_db']}: run `exitguard run` first"
        return report
    positions: dict[str, dict[str, Any]] = {}
    for key, (state, since_ms, reason, updated_ms) in sorted(store.protection().items()):
        parts = key.split("/")
        if len(parts) != 4 or parts[0] != account or parts[1] not in products:
            continue
        positions[key] = {
            "position": key,
            "product": parts[1],
            "symbol": parts[2],
            "position_side": parts[3],
            "protection": state,
            "since_ms": since_ms,
            "reason": reason,
            "updated_ms": updated_ms,
            "open_exits": [],
        }
    rows = store.rows(account=account)
    open_rows = [r for r in rows if not r.status.terminal]
    for row in open_rows:
        key = _position_of(row)
        if key not in positions and row.slot.product.value in products:
            s = row.slot
            positions[key] = {
                "position": key,
                "product": s.product.value,
                "symbol": s.symbol,
                "position_side": s.position_side.value,
                "protection": "unknown",
                "since_ms": None,
                "reason": NO_VERDICT,
                "updated_ms": None,
                "open_exits": [],
            }
        if key in positions:
            positions[key]["open_exits"].append(f"{row.slot.role.value} {row.status.value}")
    for view in positions.values():
        view["text"] = protection_text(view["protection"], view["since_ms"], view["reason"], now_ms)
    report["positions"] = sorted(
        positions.values(), key=lambda v: (products.index(v["product"]), v["position"])
    )
    done = sorted((r for r in rows if r.status.terminal), key=lambda r: r.updated_ms)
    kept = done[-finished:] if finished > 0 else []
    report["finished_not_shown"] = len(done) - len(kept)
    shown = sorted(open_rows + kept, key=lambda r: (r.created_ms, r.client_id))
    report["exits"] = [_exit_entry(r) for r in shown]
    states = store.scope_states()
    report["scopes"] = [
        {"scope": f"{account}/{p}", "product": p, "state": states.get(f"{account}/{p}", "")}
        for p in products
    ]
    report["holds"] = [
        {"slot": slot, "reason": reason}
        for slot, (_fingerprint, reason) in sorted(store.holds().items())
        if slot.startswith(f"{account}/")
    ]
    return report


def status_problems(report: dict[str, Any]) -> list[str]:
    """What keeps ``--check`` from passing, one line each (empty: all is well)."""
    if not report["exists"]:
        return [report["hint"]]
    problems = []
    if not report["run"]["running"]:
        problems.append(
            f"no `exitguard run` holds {report['state_db']}: nothing is protecting positions "
            "now (its scope states and verdicts are from a run that stopped or crashed)"
        )
    for scope in report["scopes"]:
        if scope["state"] != "ready":
            problems.append(f"scope {scope['scope']} is {scope['state'] or 'not started'}")
    for view in report["positions"]:
        if view["protection"] != "protected":
            problems.append(f"{view['position']}: {view['text']}")
    for hold in report["holds"]:  # the manager stopped acting on this exit slot
        problems.append(f"{hold['slot']} is held: {hold['reason']}")
    return problems


def live_positions(cfg: Config, timeout_s: float = 2.0) -> tuple[list[dict[str, Any]] | None, str]:
    """The running manager's positions with sizes, prices and P&L, from its own API
    (``GET /api/v1/positions``; docs/service.md), or None and why not. The store holds exits
    and verdicts only: prices live in the running process."""
    import urllib.error
    import urllib.request

    from exitguard.service.auth import TOKEN_ENV, token_file_for, url_file_for

    api = cfg.api
    if not api.enabled:
        return None, "the API is disabled ([api] enabled = false)"
    try:  # the running service's own URL (right even with port = 0)
        base = url_file_for(cfg.state_db).read_text(encoding="utf-8").strip()
    except OSError:
        host = "127.0.0.1" if api.host in ("0.0.0.0", "::") else api.host
        base = f"http://{host}:{api.port}"
    url = f"{base}/api/v1/positions"
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        try:
            token = token_file_for(cfg.state_db).read_text().strip()
        except OSError:
            return None, "no API token (run `exitguard run` once, or set EXITGUARD_API_TOKEN)"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return None, f"{url} answered HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return None, f"no answer from {url} ({getattr(exc, 'reason', exc)})"
    positions = body.get("positions") if isinstance(body, dict) else body
    if not isinstance(positions, list):
        return None, f"{url} answered an unexpected shape"
    return positions, url


def _position_words(view: dict[str, Any]) -> str:
    side = view["position_side"]
    return f"{view['product']} {view['symbol']}" + ("" if side == "BOTH" else f" {side}")


def _stop_distance(live: dict[str, Any]) -> str:
    for e in live.get("exits", []):
        if e.get("role") in ("stop_loss", "oco", "trailing") and e.get("distance_pct") is not None:
            return f"{e['distance_pct']}%"
    return ""


def render_status(report: dict[str, Any], console: Console) -> None:
    """The tables (``tables.Rows``: numbers are never cut; narrow terminals fold or stack)."""
    account = report["account"]
    live = {
        f"{account}/{p['product']}/{p['symbol']}/{p['position_side']}": p
        for p in report.get("live") or []
    }
    if live:
        positions = Rows(
            f"positions (account {account}, live from {report['live_source']})",
            [
                Col("position"),
                Col("size", number=True),
                Col("entry", number=True),
                Col("mark", number=True),
                Col("uPnL", number=True),
                Col("to stop", number=True),
                Col("protection"),
            ],
        )
        for view in report["positions"]:
            lp = live.get(view["position"], {})
            positions.add(
                _position_words(view),
                at_step(lp.get("size")),
                at_step(lp.get("entry_price")),
                at_step(lp.get("mark_price") or lp.get("last_price")),
                at_step(lp.get("unrealized_pnl")),
                _stop_distance(lp),
                view["text"],
                style="" if view["protection"] == "protected" else "bold red",
            )
    else:
        positions = Rows(
            f"positions (account {account})",
            [Col("position"), Col("protection"), Col("open exits")],
        )
        for view in report["positions"]:
            positions.add(
                _position_words(view),
                view["text"],
                ", ".join(view["open_exits"]),
                style="" if view["protection"] == "protected" else "bold red",
            )
    if report["positions"]:
        positions.print(console)
        if not live:
            console.print(
                f"(size, entry, mark and P&L come from a running `exitguard run`: "
                f"{report.get('live_source') or 'none answered'})",
                highlight=False,
            )
    else:
        console.print("positions: none with a verdict or an open exit")
    exits = Rows(
        f"exits in {report['state_db']}",
        [
            Col("exit", min_width=18),
            Col("type"),
            Col("side qty", number=True),
            Col("trigger", number=True),
            Col("limit", number=True),
            Col("state"),
            Col("reason", min_width=24),
        ],
    )
    for e in report["exits"]:
        _account, product, symbol, side = e["position"].split("/")
        trigger = e["trigger_price"] or ""
        trailing = e.get("trailing")
        if trailing:
            start = trailing.get("activation_price")
            trigger = f"{trailing['callback_rate']}%" + (f" from {start}" if start else "")
        exits.add(
            # The id abbreviated (whole in --json): ten characters tell exits apart.
            f"{product} {symbol} {'' if side == 'BOTH' else side} {e['role']} "
            f"{e['client_id'][:10]}…",
            e["type"],
            f"{e['side']} {at_step(e['quantity']) or ('all' if e.get('close_position') else '')}",
            at_step(trigger),
            at_step(e["limit_price"]),
            e["status"].lower(),
            e["reason"],
        )
    if report["exits"]:
        exits.print(console)
    else:
        console.print("exits: none")
    if report["finished_not_shown"]:
        console.print(
            f"({report['finished_not_shown']} older finished exits not shown: --finished N)"
        )
    scopes = Rows("scopes", [Col("scope"), Col("state")])
    for scope in report["scopes"]:
        scopes.add(scope["scope"], scope["state"] or "not started (no run has started it yet)")
    scopes.print(console)
    run = report["run"]
    console.print(
        f"run: exitguard run is holding the store (pid {run['pid']})"
        if run["running"]
        else "run: no exitguard run holds the store: nothing is protecting these positions now"
    )
    if report["holds"]:
        held = Rows(
            "held slots (no action until the position changes)", [Col("slot"), Col("reason")]
        )
        for hold in report["holds"]:
            held.add(hold["slot"], hold["reason"])
        held.print(console)


def _read(cfg: Config, now_ms: int, finished: int) -> dict[str, Any]:
    run_pid = None if str(cfg.state_db) == ":memory:" else run_lock_holder(cfg.state_db)
    store = read_only_copy(cfg.state_db)
    if store is None:
        return gather_status(cfg, None, now_ms=now_ms, run_pid=run_pid)
    try:
        return gather_status(cfg, store, now_ms=now_ms, run_pid=run_pid, finished=finished)
    finally:
        store.close()


def status_command(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Exit 0 when every position is protected, every scope ready and a run holds "
            "the store; else exit 1 and say what is not (for cron and health checks).",
        ),
    ] = False,
    finished: Annotated[
        int, typer.Option("--finished", min=0, help="How many finished exits to list.")
    ] = FINISHED_SHOWN,
) -> None:
    """Positions' protection, their exits, the scopes' states, from a copy of the store."""
    cfg = load_or_exit(config)
    with store_refusals(cfg):
        report = _read(cfg, time.time_ns() // 1_000_000, finished)
    if report["exists"] and report["run"]["running"]:
        report["live"], report["live_source"] = live_positions(cfg)
    else:
        report["live"], report["live_source"] = None, "no run holds the store"
    problems = status_problems(report)
    report["check"] = {"ok": not problems, "problems": problems}
    if as_json:
        print(json.dumps(report, indent=2))
    elif check:
        for problem in problems:
            print(f"NOT OK {problem}")
        if not problems:
            print(
                f"OK {len(report['positions'])} position(s) protected; scopes ready: "
                + ", ".join(s["scope"] for s in report["scopes"])
                + f"; run pid {report['run']['pid']}"
            )
    elif not report["exists"]:
        print(report["hint"])
    else:
        render_status(report, Console())
    if check and problems:
        raise typer.Exit(1)
