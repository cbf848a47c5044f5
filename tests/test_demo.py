"""`exitguard demo` (the README's main command) does what it says, end to end."""

from __future__ import annotations

from exitguard.cli.demo_cmd import run_demo


async def test_demo_trailing_stop_fires_and_siblings_are_cleaned_up(tmp_path):
    result = await run_demo(tmp_path, step_s=0.02)
    assert result.position_closed
    by_role = {e["role"]: e for e in result.exits}
    assert by_role["trailing"]["status"] == "finished"
    assert by_role["take_profit"]["status"] == "canceled"  # sibling cancelled by the manager
    assert by_role["stop_loss"]["status"] in ("expired", "canceled")
    [(_t, price, role)] = result.fills
    # Peak 61500, callbackRate 1 %: the trailing stop fires at or under 60885.
    assert role == "trailing" and price <= 60885
    assert result.chart is not None and result.chart.stat().st_size > 10_000
