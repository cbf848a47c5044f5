"""Exit plans in exitguard.toml: ladder, stop moves, ROI table, time stop, liquidation guard,
trailing after a level; validation errors naming field and rule; inheritance; config check."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exitguard.cli.config_cmd import app
from exitguard.config import Config, ConfigError, load_config
from exitguard.domain.enums import Product
from exitguard.planner.policy import (
    Distance,
    LadderLevel,
    LiquidationGuard,
    RoiStep,
    StopMove,
    TimeStop,
)

D = Decimal
HEAD = """
[manager]
products = ["usdm", "spot"]
"""

PLAN = """
[policy.usdm.default]
stop_loss = { distance = { percent = 2 } }
ladder = [
  { distance = { percent = 1 }, fraction = 0.5 },
  { distance = { percent = 2 }, fraction = 0.3 },
  { distance = { percent = 3 }, fraction = 0.2 },
]
stop_moves = [
  { after_level = 1, break_even_offset_percent = 0.1 },
  { after_level = 2, to_level = 1 },
]
trailing = { callback_rate = 1, after_level = 2 }
time_stop = { after_minutes = 240, limit_offset_percent = 0.1 }
liquidation_guard = { margin_percent = 0.5, close_within_percent = 2, close_fraction = 0.5 }
"""


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("BINANCE_", "EXITGUARD_")) or name == "EXECUTION_MODE":
            monkeypatch.delenv(name)


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "exitguard.toml"
    path.write_text(HEAD + text)
    return load_config(path, {})


def errors(tmp_path: Path, text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return {issue.path: issue.message for issue in info.value.issues}


def test_every_plan_element_is_read(tmp_path: Path) -> None:
    policy = load(tmp_path, PLAN).policies[Product.USDM].default
    assert policy.ladder == (
        LadderLevel(Distance(percent=D(1)), D("0.5")),
        LadderLevel(Distance(percent=D(2)), D("0.3")),
        LadderLevel(Distance(percent=D(3)), D("0.2")),
    )
    assert policy.stop_moves == (
        StopMove(1, break_even_offset_percent=D("0.1")),
        StopMove(2, to_level=1),
    )
    assert policy.trailing is not None and policy.trailing.after_level == 2
    assert policy.time_stop == TimeStop(after_ms=240 * 60_000, limit_offset_percent=D("0.1"))
    assert policy.liquidation_guard == LiquidationGuard(D("0.5"), D(2), D("0.5"))
    assert policy.take_profit is None and policy.tag == ""


def test_roi_table_and_an_absolute_time_stop(tmp_path: Path) -> None:
    text = """
[policy.usdm.default]
stop_loss = { distance = { percent = 2 } }
take_profit = { distance = { percent = 4 } }
roi = [
  { after_minutes = 30, distance = { percent = 2 } },
  { after_minutes = 120, distance = { percent = 1 } },
]
time_stop = { at = 2026-12-31T16:00:00Z }

[policy.spot.default]
stop_loss = { distance = { percent = 2 } }
time_stop = { at = "2026-12-31T17:00:00+01:00" }
"""
    config = load(tmp_path, text)
    usdm = config.policies[Product.USDM].default
    assert usdm.roi == (
        RoiStep(30 * 60_000, Distance(percent=D(2))),
        RoiStep(120 * 60_000, Distance(percent=D(1))),
    )
    assert usdm.time_stop == TimeStop(at_ms=1_798_732_800_000)
    assert config.policies[Product.SPOT].default.time_stop == TimeStop(at_ms=1_798_732_800_000)


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        (
            "ladder = [{ distance = { percent = 1 }, fraction = 0.7 },"
            " { distance = { percent = 2 }, fraction = 0.5 }]",
            "ladder",
            "fractions sum to 1.2; at most 1",
        ),
        (
            "ladder = [{ distance = { percent = 1 }, fraction = 1.5 }]",
            "ladder[0].fraction",
            "greater than 0 and at most 1",
        ),
        (
            "ladder = [{ distance = { percent = 2 }, fraction = 0.5 },"
            " { distance = { percent = 1 }, fraction = 0.5 }]",
            "ladder[1].distance",
            "nearest-first",
        ),
        (
            "take_profit = { distance = { percent = 3 } }\n"
            "ladder = [{ distance = { percent = 1 }, fraction = 0.5 }]",
            "ladder",
            "either ladder or take_profit, not both",
        ),
        (
            "stop_moves = [{ after_level = 1, to_level = 1 }]",
            "stop_moves",
            "needs a ladder",
        ),
        (
            "ladder = [{ distance = { percent = 1 }, fraction = 0.5 }]\n"
            "stop_moves = [{ after_level = 2, break_even_offset_percent = 0 }]",
            "stop_moves[0].after_level",
            "must be a ladder level, 1 to 1",
        ),
        (
            "ladder = [{ distance = { percent = 1 }, fraction = 0.5 }]\n"
            "stop_moves = [{ after_level = 1 }]",
            "stop_moves[0]",
            "exactly one of break_even_offset_percent or to_level",
        ),
        (
            "take_profit = { distance = { percent = 3 } }\n"
            "roi = [{ after_minutes = 30, distance = { percent = 2 } },"
            " { after_minutes = 30, distance = { percent = 1 } }]",
            "roi[1].after_minutes",
            "greater than the previous step's",
        ),
        (
            "roi = [{ after_minutes = 30, distance = { percent = 2 } }]",
            "roi",
            "needs take_profit",
        ),
        ("time_stop = { limit_offset_percent = 0.1 }", "time_stop", "after_minutes or at"),
        ('time_stop = { at = "2026-12-31T16:00:00" }', "time_stop.at", "time zone"),
        (
            "trailing = { callback_rate = 1, after_level = 1 }",
            "trailing.after_level",
            "needs a ladder",
        ),
    ],
)
def test_plan_errors_name_the_field_and_the_rule(
    tmp_path: Path, text: str, path: str, words: str
) -> None:
    section = "[policy.usdm.default]\nstop_loss = { distance = { percent = 2 } }\n" + text
    found = errors(tmp_path, section)
    full = f"policy.usdm.default.{path}"
    assert full in found, found
    assert words in found[full]
    assert "\n" not in found[full]


def test_spot_refuses_the_liquidation_guard_and_trailing_after_a_level_saying_why(
    tmp_path: Path,
) -> None:
    text = """
[policy.spot.default]
stop_loss = { distance = { percent = 2 } }
ladder = [{ distance = { percent = 1 }, fraction = 0.5 }]
liquidation_guard = { margin_percent = 1 }
trailing = { trailing_delta_bips = 100, after_level = 1 }
"""
    found = errors(tmp_path, text)
    assert "no liquidation price" in found["policy.spot.default.liquidation_guard"]
    assert "one resting exit per unit" in found["policy.spot.default.trailing.after_level"]


def test_a_symbol_section_replaces_lists_whole_and_can_turn_an_inherited_element_off(
    tmp_path: Path,
) -> None:
    text = (
        PLAN
        + """
[policy.usdm.BTCUSDT]
ladder = [{ distance = { percent = 5 }, fraction = 1 }]
stop_moves = []
trailing = { enabled = false }
time_stop = { enabled = false }

[policy.usdm.ETHUSDT]
liquidation_guard = { margin_percent = 1 }
"""
    )
    config = load(tmp_path, text)
    btc = config.policies[Product.USDM].for_symbol("BTCUSDT")
    assert btc.ladder == (LadderLevel(Distance(percent=D(5)), D(1)),)
    assert btc.stop_moves == () and btc.time_stop is None and btc.trailing is None
    eth = config.policies[Product.USDM].for_symbol("ETHUSDT")
    assert len(eth.ladder) == 3 and eth.time_stop is not None
    # The table is replaced whole: the default's close_within_percent is not inherited.
    assert eth.liquidation_guard == LiquidationGuard(margin_percent=D(1))


def test_an_inherited_problem_is_reported_once_at_its_own_section(tmp_path: Path) -> None:
    text = """
[policy.usdm.default]
stop_loss = { distance = { percent = 2 } }
trailing = { callback_rate = 1, after_level = 1 }

[policy.usdm.BTCUSDT]
stop_loss = { distance = { percent = 3 } }
"""
    found = errors(tmp_path, text)
    assert "policy.usdm.default.trailing.after_level" in found
    assert "policy.usdm.BTCUSDT.trailing.after_level" not in found


def test_config_check_shows_the_plan_readably_at_80_columns(tmp_path: Path) -> None:
    path = tmp_path / "exitguard.toml"
    path.write_text(HEAD + PLAN)
    result = CliRunner().invoke(app, ["check", "-c", str(path)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert all(len(line) <= 80 for line in out.splitlines()), out
    for words in (
        "level 1: 50% at 1%",
        "level 3: 20% at 3%",
        "after level 1: stop to break-even +0.1%",
        "after level 2: stop to level 1",
        "after level 2",
        "after 240 min held: LIMIT 0.1% beyond the mark",
        "stop kept 0.5% inside liquidation",
        "close 50% when the mark is within 2%",
    ):
        assert words in " ".join(out.split()), (words, out)


def test_the_commented_plan_in_the_bundled_example_is_valid(tmp_path: Path) -> None:
    from importlib.resources import files

    text = files("exitguard").joinpath("examples/exitguard.toml").read_text()
    start = text.index("# [policy.usdm.ETHUSDT]")
    end = text.index("\n\n", start)
    block = "\n".join(line[2:] for line in text[start:end].splitlines())
    path = tmp_path / "exitguard.toml"
    path.write_text(text[:start] + block + text[end:])
    policy = load_config(path, {}).policies[Product.USDM].for_symbol("ETHUSDT")
    assert len(policy.ladder) == 3 and policy.take_profit is None
    assert policy.time_stop == TimeStop(after_ms=240 * 60_000)
