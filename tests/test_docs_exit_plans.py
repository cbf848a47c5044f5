"""docs/guide/exit-plans.md cannot drift: every worked example's exit listing is what the real
config loader and planner produce for its TOML and its position.

An example is an HTML comment naming the position and its progress, the ```toml block, and the
```text block listing the planner's actions. ``EXITGUARD_UPDATE_DOCS=1 pytest
tests/test_docs_exit_plans.py`` rewrites the listings after a deliberate change.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path

from exitguard.config import load_config
from exitguard.domain.enums import PositionSide, Product
from exitguard.planner.model import (
    Action,
    CancelExit,
    PlaceExit,
    Position,
    PositionProgress,
    ReplaceExit,
    SkipSlot,
)
from exitguard.planner.plan import plan_exits
from planner_support import MIN, apply, inp

PAGE = Path(__file__).resolve().parent.parent / "docs" / "guide" / "exit-plans.md"
EXAMPLE = re.compile(
    r"<!-- exit-plan: (?P<state>[^>]*?) -->\s*```toml\n(?P<toml>.*?)```(?P<between>.*?)"
    r"```text\n(?P<listing>.*?)```",
    re.S,
)
_SHOWN = (
    "quantity",
    "closePosition",
    "price",
    "triggerPrice",
    "stopPrice",
    "callbackRate",
    "activatePrice",
    "reduceOnly",
    "positionSide",
    "abovePrice",
    "belowStopPrice",
)


def _state(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split())


def _describe(action: Action) -> list[str]:
    slot = action.slot.text().split("/", 4)[-1]
    if isinstance(action, CancelExit):
        return [f"cancel   {slot}", f"         why: {action.reason}"]
    if isinstance(action, SkipSlot):
        return [f"skip     {slot}", f"         why: {action.reason}"]
    assert isinstance(action, PlaceExit | ReplaceExit)
    params = action.request.to_params()
    kind = params.get("type") or f"OCO {params['aboveType']} + {params['belowType']}"
    fields = " ".join(f"{k}={params[k]}" for k in _SHOWN if k in params)
    verb = "place   " if isinstance(action, PlaceExit) else "replace "
    tag = f" tag={action.policy_tag}" if action.policy_tag else ""
    return [
        f"{verb} {slot}: {kind} {params['side']} {fields}{tag}",
        f"         why: {action.reason}",
    ]


def _progress(pos: Position, st: dict[str, str], prefix: str = "") -> PositionProgress:
    def ints(key: str) -> frozenset[int]:
        raw = st.get(prefix + key, "")
        return frozenset(int(x) for x in raw.split(",") if x)

    fired = frozenset(x for x in st.get(prefix + "fired", "").split(",") if x)
    ref = Decimal(st.get(prefix + "ref", str(pos.size)))
    return PositionProgress(0, ref, ints("filled"), fired)


def _position(st: dict[str, str], prefix: str = "") -> Position:
    product = Product(st["product"])
    amount = Decimal(st.get(prefix + "amount", st["amount"]))
    liq = st.get(prefix + "liq", st.get("liq"))
    return Position(
        "acct",
        product,
        "BTCUSDT",
        PositionSide.BOTH,
        amount,
        Decimal(st["entry"]),
        None if liq is None else Decimal(liq),
    )


def render(state_text: str, toml: str, tmp: Path) -> str:
    st = _state(state_text)
    path = tmp / "exitguard.toml"
    path.write_text('[manager]\nproducts = ["usdm", "spot"]\n' + toml)
    product = Product(st["product"])
    policy = load_config(path, {}).policies[product].for_symbol("BTCUSDT")
    marks = {(product, "BTCUSDT"): Decimal(st["mark"])} if "mark" in st else {}
    exits: list = []
    if "before" in st:  # the state the example starts from: the exits planned then
        pos = _position(st, "before_")
        prog = _progress(pos, st, "before_")
        now = int(st.get("before_now_min", "0")) * MIN
        exits = apply((), plan_exits(inp([pos], policy, progress={pos.key: prog}, now_ms=now)))
        filled = _progress(pos, st).filled_levels
        exits = [e for e in exits if e.slot.level not in filled]  # those levels filled
    pos = _position(st)
    prog = _progress(pos, st)
    now = int(st.get("now_min", "0")) * MIN
    state = inp([pos], policy, exits, progress={pos.key: prog}, now_ms=now, marks=marks)
    lines = [line for a in plan_exits(state) for line in _describe(a)]
    return "\n".join(lines) + "\n"


def test_every_worked_example_lists_what_the_planner_produces(tmp_path: Path) -> None:
    text = PAGE.read_text(encoding="utf-8")
    examples = list(EXAMPLE.finditer(text))
    assert len(examples) >= 8, "one worked example per plan element"
    out, last, stale = [], 0, []
    for m in examples:
        listing = render(m["state"], m["toml"], tmp_path)
        if listing != m["listing"]:
            stale.append(m["state"])
        out.append(text[last : m.start("listing")] + listing)
        last = m.end("listing")
    out.append(text[last:])
    if os.environ.get("EXITGUARD_UPDATE_DOCS") == "1":
        PAGE.write_text("".join(out), encoding="utf-8")
        return
    assert not stale, f"stale listings in {PAGE.name} (EXITGUARD_UPDATE_DOCS=1 rewrites): {stale}"
