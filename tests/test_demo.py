"""`exitguard demo` (the README's main command) does what it says, end to end."""

from __future__ import annotations

from exitguard.cli.demo_cmd import run_demo


async def test_demo_trailing_stop_fires_and_siblings_are_cleaned_up(tmp_path):
    result = await run_demo(tmp_path, step_s=0.02)
    assert result.position_closed
    by_role = {e["role"]: e for e in result.exits if e["product"] == "usdm"}
    assert by_role["trailing"]["status"] == "finished"
    # The reduce-only take-profit is cleaned up either by the manager (canceled) or, when the
    # trailing fill closes the position first, by the venue (expired: venue/usdm/closing.py).
    assert by_role["take_profit"]["status"] in ("expired", "canceled")
    assert by_role["stop_loss"]["status"] in ("expired", "canceled")
    fills = {slot.rsplit("/", 1)[-1]: price for _t, price, slot in result.fills}
    # Peak 61500, callbackRate 1 %: the trailing stop fires at or under 60885.
    assert fills["trailing"] <= 60885
    # Spot: one OCO whose take-profit leg (entry + 3 %) filled; the stop leg expired with it.
    (oco,) = [e for e in result.exits if e["product"] == "spot"]
    assert oco["role"] == "oco" and oco["status"] == "filled"
    assert fills["oco"] >= result.spot_entry * 103 / 100
    assert result.chart is not None and result.chart.stat().st_size > 10_000
