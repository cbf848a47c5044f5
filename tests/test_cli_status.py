"""``exitguard status``: per-position protection, exits, configured scopes; ``--json``, ``--check``;
readable at 80 columns. The store is seeded with :class:`ExitStore` directly."""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from exitguard.cli.main import app
from exitguard.cli.status_cmd import protection_text
from exitguard.domain.enums import PositionSide, Product, Side
from exitguard.planner.model import ExitKind, ExitStatus, Role, SlotKey
from exitguard.store.exits import ExitStore
from exitguard.store.safety import RunLock

runner = CliRunner(env={"COLUMNS": "80"})
CONFIG = """
[manager]
account = "main"
products = {products}
state_db = "exitguard.db"
"""
BARE_REASON = "stop refused: -2021 Order would immediately trigger; retrying with backoff"
OLD_PLACEMENT_REASON = "placed for the old quantity 0.5"


def slot(product: Product, symbol: str, role: Role) -> SlotKey:
    return SlotKey("main", product, symbol, PositionSide.BOTH, role)


def seed(db: Path, now: int) -> None:
    s = ExitStore(db)
    btc_sl = slot(Product.USDM, "BTCUSDT", Role.STOP_LOSS)
    s.record_intent(
        "exg-A" + "a" * 21, btc_sl, ExitKind.ALGO, Side.SELL, None, {}, now - 9000, "no exit"
    )
    s.update("exg-A" + "a" * 21, ExitStatus.OPEN, now - 8000, venue_id=123456789012345)
    btc_tp = slot(Product.USDM, "BTCUSDT", Role.TAKE_PROFIT)
    s.record_intent(
        "exg-B" + "b" * 21, btc_tp, ExitKind.ORDER, Side.SELL, Decimal("123456.12345678"), {},
        now - 9000, "no exit",
    )  # fmt: skip
    s.update("exg-B" + "b" * 21, ExitStatus.OPEN, now - 8000)
    eth_sl = slot(Product.USDM, "ETHUSDT", Role.STOP_LOSS)
    s.record_intent(
        "exg-C" + "c" * 21,
        eth_sl,
        ExitKind.ALGO,
        Side.SELL,
        None,
        {},
        now - 90000,
        OLD_PLACEMENT_REASON,
    )
    s.update("exg-C" + "c" * 21, ExitStatus.CANCELED, now - 60000)
    s.record_intent(
        "exg-D" + "d" * 21,
        eth_sl,
        ExitKind.ALGO,
        Side.SELL,
        None,
        {},
        now - 40000,
        "replace: quantity changed",
    )
    s.update(
        "exg-D" + "d" * 21,
        ExitStatus.REJECTED,
        now - 35000,
        reason="-2021 Order would immediately trigger.",
    )
    oco = slot(Product.SPOT, "ETHUSDT", Role.OCO)
    s.record_intent(
        "exg-E" + "e" * 21,
        oco,
        ExitKind.SPOT_OCO,
        Side.SELL,
        Decimal("1.5"),
        {},
        now - 5000,
        "no exit",
    )
    s.update(
        "exg-E" + "e" * 21,
        ExitStatus.UNKNOWN,
        now - 4000,
        reason="timeout (-1007): querying the id",
    )
    s.set_protection("main/usdm/BTCUSDT/BOTH", "protected", now - 8000, "", now)
    s.set_protection("main/usdm/ETHUSDT/BOTH", "bare", now - 35000, BARE_REASON, now)
    s.set_protection(
        "main/spot/ETHUSDT/BOTH", "degraded", now - 4000, "placement outcome unknown", now
    )
    s.set_protection("other/usdm/XRPUSDT/BOTH", "bare", now - 1000, "another account", now)
    s.set_scope_state("main/usdm", "ready", now)
    s.set_scope_state("main/spot", "hydrating", now)
    s.close()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "exitguard.toml").write_text(CONFIG.format(products='["usdm", "spot"]'))
    seed(tmp_path / "exitguard.db", int(time.time() * 1000))
    return tmp_path


def status(work: Path, *args: str) -> Result:
    return runner.invoke(app, ["status", "--config", str(work / "exitguard.toml"), *args])


def test_tables_at_80_columns(work: Path) -> None:
    result = status(work)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    # Nothing is cut but client ids, which the table abbreviates on purpose (whole in --json).
    assert re.sub(r"exg-\w{6}…", "", result.stdout).count("…") == 0
    # Numbers are never cut nor split: each is whole on one line.
    for token in ("123456.12345678", "exg-Bbbbbb…", "exg-Eeeeee…", "main/spot"):
        assert any(token in line for line in lines), token
    assert any(re.search(r"bare since \d\d:\d\d:\d\d", line) for line in lines)


def test_table_content(work: Path) -> None:
    wide = CliRunner(env={"COLUMNS": "250"})
    result = wide.invoke(app, ["status", "--config", str(work / "exitguard.toml")])
    out = result.stdout
    assert re.search(r"bare since \d\d:\d\d:\d\d UTC \(3[5-9]s\) — stop refused: -2021", out)
    assert "degraded — placement outcome unknown" in out
    assert re.search(r"usdm BTCUSDT\s+protected\s+stop_loss open, take_profit open", out)
    assert "XRPUSDT" not in out  # another account
    # A finished exit does not show why it was once placed; a rejection shows why it ended.
    assert OLD_PLACEMENT_REASON not in out
    assert "-2021 Order would immediately trigger." in out
    assert re.search(r"main/usdm\s+ready", out) and re.search(r"main/spot\s+hydrating", out)


def test_only_configured_products_are_listed(work: Path) -> None:
    (work / "exitguard.toml").write_text(CONFIG.format(products='["usdm"]'))
    result = status(work, "--json")
    report = json.loads(result.stdout)
    assert [s["scope"] for s in report["scopes"]] == ["main/usdm"]
    assert {p["product"] for p in report["positions"]} == {"usdm"}
    table = status(work).stdout
    assert "main/spot" not in table and "never started" not in table


def test_json_has_the_same_content(work: Path) -> None:
    result = status(work, "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    views = {p["position"]: p for p in report["positions"]}
    assert views["main/usdm/ETHUSDT/BOTH"]["protection"] == "bare"
    assert views["main/usdm/ETHUSDT/BOTH"]["reason"] == BARE_REASON
    assert views["main/usdm/BTCUSDT/BOTH"]["open_exits"] == ["stop_loss open", "take_profit open"]
    exits = {e["client_id"][:5]: e for e in report["exits"]}
    assert exits["exg-C"]["status"] == "canceled" and exits["exg-C"]["reason"] == ""
    assert exits["exg-B"]["quantity"] == "123456.12345678"
    assert report["check"]["ok"] is False


def test_check_names_every_problem(work: Path) -> None:
    result = status(work, "--check")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert all(line.startswith("NOT OK ") for line in lines)
    text = "\n".join(lines)
    assert "no `exitguard run` holds" in text
    assert "scope main/spot is hydrating" in text
    assert "main/usdm/ETHUSDT/BOTH: bare since" in text
    assert "main/spot/ETHUSDT/BOTH: degraded" in text
    assert "BTCUSDT" not in text and "main/usdm is" not in text


def test_check_passes_when_all_is_protected_and_running(work: Path) -> None:
    db = work / "exitguard.db"
    store = ExitStore(db)
    now = int(time.time() * 1000)
    for position in ("main/usdm/ETHUSDT/BOTH", "main/spot/ETHUSDT/BOTH"):
        store.set_protection(position, "protected", now, "", now)
    store.set_scope_state("main/spot", "ready", now)
    store.close()
    assert status(work, "--check").exit_code == 1  # no run holds the store
    with RunLock(db):
        result = status(work, "--check")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.startswith(
        "OK 3 position(s) protected; scopes ready: main/usdm, main/spot"
    )


def test_open_exit_without_a_verdict_is_not_called_protected(work: Path) -> None:
    db = work / "exitguard.db"
    store = ExitStore(db)
    sol = slot(Product.USDM, "SOLUSDT", Role.STOP_LOSS)
    store.record_intent("exg-F" + "f" * 21, sol, ExitKind.ALGO, Side.SELL, None, {}, 1, "no exit")
    store.close()
    report = json.loads(status(work, "--json").stdout)
    view = next(p for p in report["positions"] if p["symbol"] == "SOLUSDT")
    assert view["protection"] == "unknown"
    assert any(p.startswith("main/usdm/SOLUSDT/BOTH: unknown") for p in report["check"]["problems"])


def test_finished_exits_are_limited(work: Path) -> None:
    report = json.loads(status(work, "--json", "--finished", "1").stdout)
    assert [e["status"] for e in report["exits"]].count("canceled") == 0  # the older one
    assert report["finished_not_shown"] == 1
    assert "1 older finished exits not shown" in status(work, "--finished", "1").stdout


def test_protection_text() -> None:
    now = 1_800_000_000_000
    assert protection_text("protected", now - 5, "", now) == "protected"
    assert protection_text("bare", now - 35_000, "why", now).endswith("UTC (35s) — why")
    assert protection_text("bare", now - 3 * 86_400_000, "x", now).startswith("bare since 2027-")
    assert protection_text("degraded", now, "stream down", now) == "degraded — stream down"
