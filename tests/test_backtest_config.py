"""exitguard.toml ↔ backtest: the configured policy backtested (percent → bps, refusals naming
the field), and a sweep's winner written as a section that loads back to the same policy and the
same trades."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from exitguard.backtest.from_config import (
    exit_policy_from_config,
    percent_to_bps,
    policy_snippet,
)
from exitguard.backtest.model import BacktestInputError, ExitPolicy, Level, Move, Roi
from exitguard.cli.backtest_cmd import backtest_command, sweep_command
from exitguard.config.loader import load_config
from exitguard.domain.enums import Product, WorkingType
from exitguard.planner.policy import (
    Distance,
    LadderLevel,
    ProtectionPolicy,
    StopLossPolicy,
    TakeProfitPolicy,
    TrailingPolicy,
)

USDM, SPOT = Product.USDM, Product.SPOT
MARK, CONTRACT = WorkingType.MARK_PRICE, WorkingType.CONTRACT_PRICE
PATH = "policy.usdm.BTCUSDT"
HOUR_MS = 3_600_000


def pct(text: str) -> Distance:
    return Distance(percent=Decimal(text))


def test_percent_becomes_whole_bps_or_is_refused_naming_the_field() -> None:
    assert percent_to_bps(Decimal("1.5"), "x") == 150
    assert percent_to_bps(Decimal("0.01"), "x") == 1
    with pytest.raises(BacktestInputError) as exc:
        percent_to_bps(Decimal("0.125"), "policy.usdm.BTCUSDT.stop_loss.distance.percent")
    assert str(exc.value) == (
        "policy.usdm.BTCUSDT.stop_loss.distance.percent: 0.125 % is 12.5 bps; the backtest "
        "works in whole bps (0.01 %)"
    )


def test_usdm_stop_take_profit_and_trailing_map_to_bps() -> None:
    policy = ProtectionPolicy(
        stop_loss=StopLossPolicy(pct("1.2")),  # MARK_PRICE by default
        take_profit=TakeProfitPolicy(pct("2.5")),  # a fixed LIMIT: no trigger source
        trailing=TrailingPolicy(
            callback_rate=Decimal("0.8"), activation=pct("0.5"), working_type=MARK
        ),
    )
    mapped = exit_policy_from_config(policy, USDM, PATH)
    assert mapped.policy == ExitPolicy(120, 250, 80, 50, MARK, None)
    assert any("LIMIT" in note for note in mapped.notes)


def test_refusals_name_the_field_and_the_rule() -> None:
    absolute = ProtectionPolicy(stop_loss=StopLossPolicy(Distance(price=Decimal(250))))
    with pytest.raises(BacktestInputError) as exc:
        exit_policy_from_config(absolute, USDM, PATH)
    assert exc.value.field == f"{PATH}.stop_loss.distance.price"
    assert "absolute price" in exc.value.rule and "percent" in exc.value.rule
    level = ProtectionPolicy(take_profit=TakeProfitPolicy(Distance(level=Decimal(70_000))))
    with pytest.raises(BacktestInputError, match=r"take_profit\.distance\.level"):
        exit_policy_from_config(level, USDM, PATH)
    # The USD-M defaults disagree: a MARK_PRICE stop, a CONTRACT_PRICE trailing stop.
    mixed = ProtectionPolicy(
        stop_loss=StopLossPolicy(pct("1")), trailing=TrailingPolicy(callback_rate=Decimal(1))
    )
    with pytest.raises(BacktestInputError) as exc:
        exit_policy_from_config(mixed, USDM, PATH)
    assert exc.value.field == f"{PATH}.trailing.working_type" and "--source" in exc.value.rule
    chosen = exit_policy_from_config(mixed, USDM, PATH, source=CONTRACT)
    assert chosen.policy.source is CONTRACT and "--source" in chosen.notes[0]
    with pytest.raises(BacktestInputError, match="no exit is enabled"):
        exit_policy_from_config(ProtectionPolicy(), USDM, PATH)


def test_spot_trailing_beside_a_stop_is_left_out_as_the_manager_does() -> None:
    policy = ProtectionPolicy(
        stop_loss=StopLossPolicy(pct("2"), CONTRACT, False, False, Decimal("0.1")),
        trailing=TrailingPolicy(trailing_delta_bips=75),
    )
    mapped = exit_policy_from_config(policy, SPOT, "policy.spot.BTCUSDT")
    assert mapped.policy == ExitPolicy(200, 0, 0, 0, CONTRACT, 10)
    assert "trailing left out" in mapped.notes[0]
    alone = ProtectionPolicy(trailing=TrailingPolicy(trailing_delta_bips=75))
    assert exit_policy_from_config(alone, SPOT, "s").policy == ExitPolicy(0, 0, 75)


ROUND_TRIPS = [
    (USDM, ExitPolicy(150, 300, 0, 0, MARK)),
    (USDM, ExitPolicy(0, 75, 0, 0, MARK)),  # alone on MARK: written as a conditional TP
    (USDM, ExitPolicy(0, 75, 0, 0, CONTRACT)),
    (USDM, ExitPolicy(40, 0, 120, 35, CONTRACT)),
    (USDM, ExitPolicy(5, 0, 0, 0, MARK)),
    (SPOT, ExitPolicy(120, 240, 0, 0, CONTRACT, 15)),
    (SPOT, ExitPolicy(0, 0, 60, 20, CONTRACT)),
    # Exit plans: ladders with stop moves, trailing after a level, ROI, time stop, liq. guard.
    (
        USDM,
        ExitPolicy(
            100,
            0,
            0,
            0,
            MARK,
            ladder=(Level(50, 5000), Level(120, 5000)),
            stop_moves=(Move(1, be_offset_bps=5),),
            time_stop_ms=4 * HOUR_MS,
            liq_margin_bps=50,
            liq_close_within_bps=200,
            liq_close_parts=5000,
        ),
    ),
    (
        USDM,
        ExitPolicy(
            80,
            0,
            40,
            0,
            CONTRACT,
            ladder=(Level(60, 3000), Level(150, 3000)),
            stop_moves=(Move(2, to_level=1),),
            trail_after_level=1,
        ),
    ),
    (USDM, ExitPolicy(100, 200, 0, 0, MARK, roi=(Roi(30 * 60_000, 120), Roi(HOUR_MS, 60)))),
    (USDM, ExitPolicy(100, 200, 0, 0, MARK, roi=(Roi(0, 150), Roi(HOUR_MS, 60)))),
    (USDM, ExitPolicy(0, 0, 0, 0, CONTRACT, ladder=(Level(75, 10_000),), time_stop_ms=90_000)),
    (
        SPOT,
        ExitPolicy(
            150,
            0,
            0,
            0,
            CONTRACT,
            ladder=(Level(100, 5000), Level(200, 2500)),
            stop_moves=(Move(1, be_offset_bps=10),),
            time_stop_ms=60_000,
        ),
    ),
]


@pytest.mark.parametrize(("product", "policy"), ROUND_TRIPS)
def test_an_emitted_section_loads_back_to_the_same_policy(
    tmp_path: Path, product: Product, policy: ExitPolicy
) -> None:
    """Every role is written (the unused ones disabled), so the built-in 2 % default stop is
    never inherited by a winner that had no stop."""
    path = tmp_path / "exitguard.toml"
    path.write_text(policy_snippet(policy, product, "ETHUSDT", ("a comment",)), encoding="utf-8")
    loaded = load_config(path, {})
    assert not [w for w in loaded.warnings if "ETHUSDT" in w.path]
    section = f"policy.{product.value}.ETHUSDT"
    config_policy = loaded.policy_for(product, "ETHUSDT")
    assert exit_policy_from_config(config_policy, product, section).policy == policy


@pytest.mark.parametrize(
    ("product", "policy", "words"),
    [
        (USDM, ExitPolicy(100, 0, 0, 0, MARK, 5), "no stop-limit"),
        (USDM, ExitPolicy(0, 0, 5), "0.1 to 20"),
        (SPOT, ExitPolicy(100, 0, 0, 0, MARK), "last trade price"),
        (SPOT, ExitPolicy(100, 0, 50), "one resting exit"),
        (SPOT, ExitPolicy(100, 0, 0, liq_margin_bps=50), "USD-M only"),
        (USDM, ExitPolicy(0, 0, 0, 0, MARK, ladder=(Level(50, 10_000),)), "carry it"),
    ],
)
def test_policies_a_config_cannot_express_are_refused(
    product: Product, policy: ExitPolicy, words: str
) -> None:
    with pytest.raises(BacktestInputError) as exc:
        policy_snippet(policy, product, "BTCUSDT")
    assert exc.value.field == "--emit-config" and words in exc.value.rule


# -- the commands ----------------------------------------------------------------------------

app = typer.Typer()
app.command("backtest")(backtest_command)
app.command("sweep")(sweep_command)
runner = CliRunner(env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from exitguard.data.synth import synth_pair

    out = tmp_path_factory.mktemp("synth")
    trades, marks = synth_pair("BTCUSDT", date(2024, 3, 1), 1, seed=9, out_dir=out,
                               trades_per_minute=20)  # fmt: skip
    return trades[0], marks[0]


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def test_sweep_winner_emitted_then_backtested_from_the_config_gives_the_same_trades(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    trades, marks = data
    files = ("--trades", str(trades), "--mark", str(marks), "--every", "45m")
    emitted = tmp_path / "winner.toml"
    swept = invoke(
        "sweep", *files, "--source", "mark", "--stop-bps", "0,40,80", "--tp-bps", "0,60,120",
        "--trail-bps", "0,30", "--emit-config", str(emitted), "--report", str(tmp_path / "s"),
    )  # fmt: skip
    assert swept.exit_code == 0, swept.output
    assert f"config: {emitted} (policy.usdm.BTCUSDT)" in " ".join(swept.stdout.split())
    sweep_doc = json.loads((tmp_path / "s" / "results.json").read_text())
    winner = sweep_doc["emitted_config"]["policy"]
    assert winner == sweep_doc["chosen_policy"]["index"]
    row = sweep_doc["policies"][winner]
    assert row["rank"] == 1

    from exitguard.cli.config_cmd import check_command

    checker = typer.Typer()
    checker.command()(check_command)
    checked = CliRunner().invoke(checker, ["--config", str(emitted)])
    assert checked.exit_code == 0, checked.output

    tested = invoke("backtest", *files, "--config", str(emitted), "--symbol", "BTCUSDT",
                    "--report", str(tmp_path / "b"))  # fmt: skip
    assert tested.exit_code == 0, tested.output
    assert max(len(line) for line in tested.stdout.splitlines()) <= 80
    doc = json.loads((tmp_path / "b" / "results.json").read_text())
    (policy,) = doc["policies"]
    for key in ("stop_bps", "take_profit_bps", "trail_bps", "activation_bps", "source"):
        assert policy[key] == row[key], key
    assert policy["net_pnl"] == pytest.approx(row["net_pnl"], rel=1e-12)
    assert policy["open_trades"] == row["open_trades"]
    # The sweep lists the trades of its chosen policy: the backtest's are the same, one by one.
    assert doc["trades"] == sweep_doc["trades"]
    assert doc["config"] == {"file": str(emitted), "product": "usdm"}


def test_backtest_config_errors_are_one_line(data: tuple[Path, Path], tmp_path: Path) -> None:
    trades, _marks = data
    config = tmp_path / "exitguard.toml"
    config.write_text(
        "[policy.usdm.BTCUSDT]\nstop_loss = { distance = { price = 250 } }\n", encoding="utf-8"
    )

    def error(*args: str) -> str:
        result = invoke("backtest", "--trades", str(trades), *args)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stderr).split())

    message = error("--config", str(config))
    assert "policy.usdm.BTCUSDT.stop_loss.distance.price: an absolute price" in message
    assert "--config" in error("--config", str(config), "--stop-bps", "50")
    assert "give --config too" in error("--symbol", "BTCUSDT", "--stop-bps", "50")
    listed = tmp_path / "listed.toml"
    listed.write_text('[manager]\nsymbols.usdm = ["BTCUSDT"]\n', encoding="utf-8")
    message = error("--config", str(listed), "--symbol", "ETHUSDT")
    assert "--symbol" in message and "'ETHUSDT' is not in manager.symbols.usdm" in message
    assert "no such file" in error("--config", str(tmp_path / "nope.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text("[policy.usdm.BTCUSDT]\nstop_loss = { distance = { percent = 0 } }\n")
    assert "stop_loss.distance.percent" in error("--config", str(broken))


def test_emit_config_never_overwrites(data: tuple[Path, Path], tmp_path: Path) -> None:
    trades, _marks = data
    existing = tmp_path / "exitguard.toml"
    existing.write_text("# mine\n", encoding="utf-8")
    result = invoke("sweep", "--trades", str(trades), "--stop-bps", "50",
                    "--emit-config", str(existing), "--report", str(tmp_path / "r"))  # fmt: skip
    assert result.exit_code == 2 and "exists" in result.stderr
    assert existing.read_text(encoding="utf-8") == "# mine\n"


def test_plan_elements_map_from_the_planner_policy() -> None:
    from exitguard.planner.policy import LiquidationGuard, RoiStep, TimeStop

    policy = ProtectionPolicy(
        stop_loss=StopLossPolicy(pct("1")),
        take_profit=TakeProfitPolicy(pct("3")),
        roi=(RoiStep(0, pct("2")), RoiStep(3_600_000, pct("0.5"))),
        time_stop=TimeStop(after_ms=7_200_000, limit_offset_percent=Decimal("0.1")),
        liquidation_guard=LiquidationGuard(Decimal("0.5")),
    )
    mapped = exit_policy_from_config(policy, USDM, PATH)
    assert mapped.policy == ExitPolicy(
        100, 300, 0, 0, MARK, roi=(Roi(0, 200), Roi(3_600_000, 50)), time_stop_ms=7_200_000,
        liq_margin_bps=50,
    )  # fmt: skip
    assert any("MARKET close" in n for n in mapped.notes)
    assert any("leverage" in n for n in mapped.notes)
    at = ProtectionPolicy(stop_loss=StopLossPolicy(pct("1")), time_stop=TimeStop(at_ms=1))
    with pytest.raises(BacktestInputError) as exc:
        exit_policy_from_config(at, USDM, PATH)
    assert exc.value.field == f"{PATH}.time_stop.at"
    odd = ProtectionPolicy(
        stop_loss=StopLossPolicy(pct("1")),
        ladder=(LadderLevel(pct("1"), Decimal("0.33333")),),
    )
    with pytest.raises(BacktestInputError, match=r"ladder\[1\]\.fraction"):
        exit_policy_from_config(odd, USDM, PATH)


def test_backtest_config_runs_a_ladder(data: tuple[Path, Path], tmp_path: Path) -> None:
    trades, _marks = data
    config = tmp_path / "exitguard.toml"
    config.write_text(
        "[policy.usdm.BTCUSDT]\n"
        'stop_loss = { distance = { percent = 0.6 }, working_type = "CONTRACT_PRICE" }\n'
        "ladder = [{ distance = { percent = 0.2 }, fraction = 0.5 },"
        " { distance = { percent = 0.5 }, fraction = 0.5 }]\n"
        "stop_moves = [{ after_level = 1, break_even_offset_percent = 0.05 }]\n",
        encoding="utf-8",
    )
    result = invoke("backtest", "--trades", str(trades), "--config", str(config),
                    "--every", "1h", "--report", str(tmp_path / "b"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ladder levels rest as LIMIT orders live" in " ".join(result.stdout.split())
    doc = json.loads((tmp_path / "b" / "results.json").read_text())
    (policy,) = doc["policies"]
    assert policy["ladder"] == "20:50,50:50" and policy["stop_moves"] == "1>be+5"
    assert any(t["legs"] > 1 for t in doc["trades"])
    for t in doc["trades"]:
        assert Decimal(t["open_pnl"]) == 0 or t["open_at_end"]


def test_a_ladder_winner_round_trips_through_the_config(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    """The sweep's plan axes (ladders, break-even moves, time stops) survive --emit-config:
    the loaded section backtests to the sweep's own trades."""
    trades, _marks = data
    files = ("--trades", str(trades), "--every", "45m")
    emitted = tmp_path / "ladder.toml"
    swept = invoke(
        "sweep", *files, "--stop-bps", "60,120", "--ladder", "20:50,50:50;15:30,40:30,90:40",
        "--be-offset-bps", "none,5", "--time-stop-min", "0,180", "--rank-by", "pnl_dd",
        "--emit-config", str(emitted), "--report", str(tmp_path / "s"),
    )  # fmt: skip
    assert swept.exit_code == 0, swept.output
    sweep_doc = json.loads((tmp_path / "s" / "results.json").read_text())
    row = sweep_doc["policies"][sweep_doc["emitted_config"]["policy"]]
    assert row["ladder"] and row["rank"] == 1
    tested = invoke("backtest", *files, "--config", str(emitted), "--report", str(tmp_path / "b"))
    assert tested.exit_code == 0, tested.output
    doc = json.loads((tmp_path / "b" / "results.json").read_text())
    (policy,) = doc["policies"]
    for key in ("stop_bps", "ladder", "stop_moves", "time_stop_ms", "source"):
        assert policy[key] == row[key], key
    assert doc["trades"] == sweep_doc["trades"]


def test_the_liquidation_guard_needs_leverage(data: tuple[Path, Path], tmp_path: Path) -> None:
    trades, _marks = data
    config = tmp_path / "exitguard.toml"
    config.write_text(
        "[policy.usdm.BTCUSDT]\n"
        'stop_loss = { distance = { percent = 9 }, working_type = "CONTRACT_PRICE" }\n'
        "liquidation_guard = { margin_percent = 0.5 }\n",
        encoding="utf-8",
    )
    base = ("backtest", "--trades", str(trades), "--config", str(config), "--every", "2h")
    without = invoke(*base, "--report", str(tmp_path / "a"))
    assert without.exit_code == 2 and "--leverage" in without.stderr
    assert "needs the run's leverage" in " ".join(without.stderr.split())
    with_leverage = invoke(*base, "--leverage", "20", "--report", str(tmp_path / "b"))
    assert with_leverage.exit_code == 0, with_leverage.output
    doc = json.loads((tmp_path / "b" / "results.json").read_text())
    assert doc["policies"][0]["liq_margin_bps"] == 50
    # At 20x the liquidation price sits under 5 % from the entry: the 9 % stop is pulled
    # inside it, so every stop that fired triggered less than 5 % from the entry.
    stops = [t for t in doc["trades"] if t["reason"] == "SL"]
    assert stops
    for t in stops:
        distance = abs(Decimal(t["trigger_price"]) / Decimal(t["entry_price"]) - 1)
        assert distance < Decimal("0.05"), t
    bad = invoke(*base, "--leverage", "500", "--report", str(tmp_path / "c"))
    assert bad.exit_code == 2 and "--leverage" in bad.stderr


def test_spot_backtests_open_longs_only(data: tuple[Path, Path], tmp_path: Path) -> None:
    """A Spot exit sells what is held: a Spot backtest's generated entries are longs by
    default, and shorts (asked for, or in an entries file) are refused in one line."""
    trades, _marks = data
    config = tmp_path / "exitguard.toml"
    config.write_text(
        "[policy.spot.BTCUSDT]\nstop_loss = { distance = { percent = 1 } }\n", encoding="utf-8"
    )
    ok = invoke("backtest", "--trades", str(trades), "--config", str(config), "--product",
                "spot", "--every", "2h", "--report", str(tmp_path / "r"))  # fmt: skip
    assert ok.exit_code == 0, ok.output
    doc = json.loads((tmp_path / "r" / "results.json").read_text())
    assert doc["trades"] and {t["side"] for t in doc["trades"]} == {"LONG"}
    for side in ("short", "both"):
        refused = invoke("backtest", "--trades", str(trades), "--config", str(config),
                         "--product", "spot", "--side", side)  # fmt: skip
        assert refused.exit_code == 2 and "long only" in refused.stderr, refused.output
    shorts = tmp_path / "entries.csv"
    t0 = doc["trades"][0]["entry_time_ms"]
    shorts.write_text(f"time,side,size\n{t0},short,1\n", encoding="utf-8")
    refused = invoke("backtest", "--trades", str(trades), "--config", str(config),
                     "--product", "spot", "--entries", str(shorts))  # fmt: skip
    assert refused.exit_code == 2 and "long only" in refused.stderr, refused.output
