"""``plan``, ``run`` and ``status`` on the bundled example config (Spot enabled, embedded venue,
DRY_RUN_PRIVATE), in a fresh directory. ``plan`` works on a copy: the real store file is never
opened for writing (bytes, mtime, no ``-wal``), and no product has a trader."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from importlib.resources import files
from pathlib import Path

import pytest
from typer.testing import CliRunner

import exitguard
from exitguard.cli.main import app
from exitguard.cli.run_cmd import plan_manager
from exitguard.config import load_config
from exitguard.config.modes import UrlKey
from exitguard.manager.runtime import Connection, build_manager
from exitguard.store.exits import ExitStore

runner = CliRunner(env={"COLUMNS": "120"})
EXAMPLE = files("exitguard").joinpath("examples/exitguard.toml").read_text()
READY_TIMEOUT_S = 90


@pytest.fixture
def work(tmp_path: Path) -> Path:
    # Any free port: a fixed 8737 would collide with another run on the same machine.
    (tmp_path / "exitguard.toml").write_text(EXAMPLE.replace("port = 8737 ", "port = 0    "))
    return tmp_path


def cli(work: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--config", str(work / "exitguard.toml")])
    return result.exit_code, result.stdout, result.stderr


def files_of(work: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(work.iterdir())}


def test_plan_manager_has_no_trader_and_one_copy(work: Path) -> None:
    db = work / "exitguard.db"
    seed = ExitStore(db)
    seed.set_scope_state("main/usdm", "ready", 1)
    seed.close()
    config = load_config(work / "exitguard.toml", {"EXECUTION_MODE": "PAPER"})
    url = "http://127.0.0.1:9"
    conn = Connection(
        {
            UrlKey.USDM_REST: url,
            UrlKey.SPOT_REST: url,
            UrlKey.USDM_WS: "ws://127.0.0.1:9",
            UrlKey.SPOT_WS_API: "ws://127.0.0.1:9",
        },
        "k" * 64,
        "s" * 64,
    )
    armed = build_manager(config, conn)  # what PAPER builds: traders for both products
    assert all(s.ops.trader is not None for s in armed.scopes.values())  # type: ignore[attr-defined]
    armed.store.close()
    before = files_of(work)
    manager = plan_manager(config, conn)
    try:
        assert set(manager.scopes) == set(config.products)
        assert manager.store.path == ":memory:"
        assert manager.store.scope_states() == {"main/usdm": "ready"}  # the copy's content
        for scope in manager.scopes.values():
            assert scope.store is manager.store
            assert getattr(scope.ops, "store", manager.store) is manager.store
            assert scope.ops.trader is None  # type: ignore[attr-defined]
            assert not scope.ops.can_mutate
    finally:
        manager.store.close()
    assert files_of(work) == before


def _env() -> dict[str, str]:
    drop = ("EXITGUARD_", "BINANCE_", "EXECUTION_MODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    # The child runs in another directory: the code under test, by absolute path.
    source = str(Path(exitguard.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    return env


def test_plan_run_status_on_the_example_config(work: Path) -> None:
    db = work / "exitguard.db"
    code, out, err = cli(work, "plan", "--json")
    assert code == 0, err
    actions = json.loads(out)
    assert any(a["product"] == "spot" and a["action"] == "PlaceExit" for a in actions)
    assert not db.exists() and not Path(f"{db}-wal").exists()  # plan created nothing

    proc = subprocess.Popen(
        [sys.executable, "-m", "exitguard", "run", "--log-format", "console"],
        cwd=work,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(READY_TIMEOUT_S, proc.kill)  # bounds the blocking read below
    watchdog.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, "exitguard run ended (or was killed) before it was ready"
        assert json.loads(line)["ready"] is True, line
        code, out, _ = cli(work, "status", "--check")
        # DRY_RUN_PRIVATE protects nothing, and --check says so (the supervisor's verdicts).
        assert code == 1, out
        assert "NOT OK main/spot/ETHUSDT/BOTH: bare since" in out
        assert "dry run, nothing is sent" in out
        code, _, err = cli(work, "run")
        assert code == 2 and f"in use by another exitguard run (pid {proc.pid})" in err
        code, out, err = cli(work, "plan")  # reads next to a live run
        assert code == 0, err
        proc.send_signal(signal.SIGINT)
        _, logs = proc.communicate(timeout=READY_TIMEOUT_S)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, logs
    lines = [x for x in logs.splitlines() if "scope_state" in x]
    assert lines and not any(x.lstrip().startswith("{") for x in lines)  # console, not JSON
    assert "[info" in lines[0] and "state=ready" in logs

    before = files_of(work)
    assert not Path(f"{db}-wal").exists()
    code, out, err = cli(work, "plan")
    assert code == 0, err
    assert "ETHUSDT" in out
    assert files_of(work) == before  # bytes and mtimes of every file; no -wal, no -shm
    code, out, _ = cli(work, "status")
    assert code == 0 and "main/spot" in out and "stopped" in out
    code, out, _ = cli(work, "status", "--check")
    assert code == 1 and "NOT OK scope main/usdm is stopped" in out


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("--log-level", "loud", "debug, info, warning, error"),
        ("--log-format", "xml", "json, console"),
    ],
)
def test_bad_log_option_is_one_line(work: Path, option: str, value: str, allowed: str) -> None:
    result = runner.invoke(app, ["run", option, value, "--config", str(work / "exitguard.toml")])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [f"{option}: must be one of {allowed}; got {value!r}"]
