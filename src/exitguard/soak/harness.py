"""The soak's processes: the paper venue and ``exitguard run`` as subprocesses, their HTTP API,
``kill -9`` and restarts.

Every process runs in its own process group (``start_new_session``) with the current
interpreter (``sys.executable -m exitguard``), so a fresh virtualenv works and a kill reaches
the whole group. :class:`Processes` remembers each one; :meth:`Processes.kill_all` (called from
``finally`` blocks, also after Ctrl-C) SIGKILLs every group still alive. Nothing here imports the
manager: the soak sees exitguard only through the venue's HTTP API and the manager's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

__all__ = [
    "Manager",
    "Processes",
    "VenueApi",
    "VenueError",
    "manager_config",
    "now_ms",
    "start_venue",
]

START_TIMEOUT_S = 90.0  # an interpreter start plus the SDK imports, on a busy 2-core machine
STOP_TIMEOUT_S = 15.0
HTTP_TIMEOUT_S = 10.0


def now_ms() -> int:
    """Wall time in ms: the venue's real-time clock reads the same clock."""
    return time.time_ns() // 1_000_000


class Processes:
    """Every subprocess the soak started, each in its own process group."""

    def __init__(self) -> None:
        self.live: set[asyncio.subprocess.Process] = set()

    async def spawn(
        self,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stderr: Any = None,
    ) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr if stderr is not None else asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        self.live.add(proc)
        return proc

    @staticmethod
    def signal_group(proc: asyncio.subprocess.Process, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    async def stop(
        self, proc: asyncio.subprocess.Process, sig: int = signal.SIGTERM, timeout: float = 5.0
    ) -> int | None:
        """Send ``sig`` to the group, wait up to ``timeout``, then SIGKILL."""
        if proc.returncode is None:
            self.signal_group(proc, sig)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                self.signal_group(proc, signal.SIGKILL)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 5.0)
        self.live.discard(proc)
        return proc.returncode

    def kill_all(self) -> None:
        """SIGKILL every group still alive (synchronous: safe in ``finally`` after Ctrl-C)."""
        for proc in list(self.live):
            if proc.returncode is None:
                self.signal_group(proc, signal.SIGKILL)
        self.live.clear()


def _exitguard(*args: str) -> list[str]:
    return [sys.executable, "-m", "exitguard", *args]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a subprocess: this one's, with ``PYTHONPATH`` led by the directory
    this process imported exitguard from (and relative entries made absolute), so a child
    started in another directory runs the same exitguard — not, say, an editable install of
    another checkout that a relative ``PYTHONPATH=src`` no longer shadows."""
    import exitguard

    root = str(Path(exitguard.__file__).resolve().parent.parent)
    env = dict(os.environ)
    entries = [str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([root, *entries]))
    env.update(extra or {})
    return env


async def start_venue(
    procs: Processes, workdir: Path, usdt: str = "1000000"
) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    """``exitguard venue serve --clock realtime --feed none`` on 127.0.0.1, port 0; its URLs."""
    log = (workdir / "venue.log").open("ab")
    try:
        proc = await procs.spawn(
            _exitguard(
                "venue",
                "serve",
                "--clock",
                "realtime",
                "--feed",
                "none",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--usdt",
                usdt,
            ),
            env=child_env(),
            cwd=workdir,
            stderr=log,
        )
    finally:
        log.close()
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT_S)
    except TimeoutError:
        await procs.stop(proc, signal.SIGKILL)
        raise RuntimeError(f"the venue printed no URLs within {START_TIMEOUT_S:.0f} s") from None
    if not line:
        raise RuntimeError(f"the venue exited with {await proc.wait()}; see {workdir}/venue.log")
    return proc, json.loads(line)


class VenueError(RuntimeError):
    """The venue answered a control or signed request with an error."""


class VenueApi:
    """The venue's control API (``/_venue/...``) and a few signed Binance requests."""

    def __init__(self, session: aiohttp.ClientSession, urls: Mapping[str, str]) -> None:
        self.http = session
        self.base = urls["rest_url"].rstrip("/")
        self.api_key = urls["api_key"]
        self.api_secret = urls["api_secret"]

    async def _json(self, resp: aiohttp.ClientResponse) -> Any:
        text = await resp.text()
        try:
            body = json.loads(text)
        except ValueError:
            body = {"error": text[:200]}
        if resp.status >= 400:
            raise VenueError(f"{resp.method} {resp.url.path}: HTTP {resp.status} {body}")
        return body

    async def control(self, path: str, body: Mapping[str, Any]) -> Any:
        async with self.http.post(f"{self.base}/_venue/{path}", json=dict(body)) as resp:
            return await self._json(resp)

    async def snapshot(self) -> dict[str, Any]:
        async with self.http.get(f"{self.base}/_venue/snapshot") as resp:
            snap: dict[str, Any] = await self._json(resp)
            return snap

    async def signed(self, method: str, path: str, params: Mapping[str, Any]) -> Any:
        """A SIGNED request (HMAC-SHA256 over the query string), as Binance clients send it.
        It goes through the venue's fault middleware like the manager's requests."""
        query = urlencode({**params, "timestamp": now_ms(), "recvWindow": 60_000})
        sig = hmac.new(self.api_secret.encode(), query.encode(), hashlib.sha256).hexdigest()
        url = f"{self.base}{path}?{query}&signature={sig}"
        headers = {"X-MBX-APIKEY": self.api_key}
        async with self.http.request(method, url, headers=headers) as resp:
            return await self._json(resp)


def manager_config(
    workdir: Path,
    urls: Mapping[str, str],
    *,
    spot: bool,
    usdm_symbols: tuple[str, ...],
    spot_symbols: tuple[str, ...],
) -> Path:
    """``exitguard.toml`` for a manager on the external loopback venue ``urls``.

    Policies (the soak's brief): USD-M stop 2 % + take-profit 4 %; Spot stop 3 % + take-profit
    6 %, placed together as one OCO. ``on_immediate_trigger`` is ``close_now`` (USD-M) and
    ``widen`` (Spot) rather than the default ``alert``: a stop the market has already passed
    cannot be placed, and ``alert`` would leave the position bare on purpose — the soak measures
    protection, not that policy choice."""
    rest = urls["rest_url"].rstrip("/")
    ws = "ws://" + rest.split("://", 1)[1]
    products = '["usdm", "spot"]' if spot else '["usdm"]'
    lines = [
        "[manager]",
        'account = "soak"',
        f"products = {products}",
        'state_db = "state.db"',
        'venue = "external"',
        "",
        "[manager.symbols]",
        f"usdm = {json.dumps(list(usdm_symbols))}",
    ]
    if spot:
        lines.append(f"spot = {json.dumps(list(spot_symbols))}")
    lines += ["", "[urls]", f'usdm_rest = "{rest}"', f'usdm_ws = "{ws}"']
    if spot:
        lines += [
            f'spot_rest = "{rest}"',
            f'spot_ws_api = "{ws}/ws-api/v3"',
            f'spot_ws_streams = "{ws}/spot"',
        ]
    lines += [
        "",
        "[policy.usdm.default]",
        'on_immediate_trigger = "close_now"',
        "stop_loss = { distance = { percent = 2 } }",
        "take_profit = { distance = { percent = 4 } }",
    ]
    if spot:
        lines += [
            "",
            "[policy.spot.default]",
            'on_immediate_trigger = "widen"',
            "stop_loss = { distance = { percent = 3 } }",
            "take_profit = { distance = { percent = 6 } }",
        ]
    # The API on any free port: restarts and parallel runs never fight over the default one.
    lines += ["", "[api]", "port = 0"]
    path = workdir / "exitguard.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Manager:
    """``EXECUTION_MODE=PAPER exitguard run -c CONFIG``: start, ``kill -9``, restart, stop.

    ``on_start(t)`` (spawned), ``on_ready(t)`` (it printed its startup line ``{"ready": ...}``) and
    ``on_stop(t)``
    report the changes (wall ms); an exit nobody asked for is counted in ``crashes`` and reported
    through ``on_stop`` (the soak then restarts it)."""

    def __init__(
        self,
        procs: Processes,
        config: Path,
        urls: Mapping[str, str],
        *,
        on_start: Callable[[int], None],
        on_ready: Callable[[int], None],
        on_stop: Callable[[int], None],
    ) -> None:
        self.procs = procs
        self.config = config
        self.on_start = on_start
        self.on_ready = on_ready
        self.on_stop = on_stop
        self.env = {
            k: v for k, v in child_env().items() if not k.startswith(("EXITGUARD_", "BINANCE_"))
        }
        self.env.update(
            EXECUTION_MODE="PAPER",
            BINANCE_API_KEY=urls["api_key"],
            BINANCE_API_SECRET=urls["api_secret"],
            PYTHONUNBUFFERED="1",  # a kill -9 must not eat the last log lines (the evidence)
        )
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.kills = 0
        self.crashes: list[dict[str, Any]] = []
        self._expected_exit = False
        self._watch: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()  # the current process printed its {"ready": ...} line
        self.ready_at: float | None = None  # time.monotonic() of that
        self.started_at: float | None = None  # time.monotonic() of the spawn

    @property
    def up(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        if self.up:
            return
        self.starts += 1
        log_path = self.config.parent / "manager.log"
        with log_path.open("ab") as log:
            log.write(f"=== start {self.starts} at {now_ms()} ===\n".encode())
            log.flush()
            t = now_ms()
            self.proc = await self.procs.spawn(
                _exitguard("run", "--config", str(self.config)),
                env=self.env,
                cwd=self.config.parent,
                stderr=log,
            )
        self._expected_exit = False
        self.ready.clear()
        self.ready_at = None
        self.started_at = time.monotonic()
        self.on_start(t)
        self._watch = asyncio.create_task(self._watch_proc(self.proc))

    async def _watch_proc(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            with contextlib.suppress(ValueError, TypeError):
                # The startup line, whatever its value: ``{"ready": true}`` before, and since the
                # manager reports honestly, ``{"ready": false, "protected": ...}`` when a scope
                # is still recovering. Either way startup is over and it is accountable.
                if "ready" in json.loads(line) and proc is self.proc:
                    self.ready.set()
                    self.ready_at = time.monotonic()
                    self.on_ready(now_ms())
        code = await proc.wait()
        self.procs.live.discard(proc)
        if not self._expected_exit and proc is self.proc:
            t = now_ms()
            self.crashes.append({"t_ms": t, "returncode": code})
            self.on_stop(t)

    async def _end(self, sig: int, timeout: float) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        self._expected_exit = True
        self.ready.clear()
        self.on_stop(now_ms())
        await self.procs.stop(proc, sig, timeout)
        if self._watch is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._watch, 5.0)

    async def kill9(self) -> None:
        """``kill -9`` of the manager's process group."""
        if self.up:
            self.kills += 1
            await self._end(signal.SIGKILL, 5.0)

    async def stop(self) -> None:
        """A graceful stop (SIGTERM; SIGKILL after ``STOP_TIMEOUT_S``)."""
        await self._end(signal.SIGTERM, STOP_TIMEOUT_S)
