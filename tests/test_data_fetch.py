"""``exitguard data fetch`` against a local archive server (127.0.0.1, port 0; no internet)."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from aiohttp import web
from rich.console import Console
from typer.testing import CliRunner

from exitguard.cli.data_cmd import app
from exitguard.data.cache import cache_file, read_cached
from exitguard.data.fetch import BASE_URL_ENV, DataFetchError, fetch_archives, resolve_base_url
from exitguard.data.load import load_trades
from exitguard.data.synth import synth_archives

START = date(2024, 1, 1)
REL = "data/futures/um/daily/aggTrades/BTCUSDT"


@dataclass
class ArchiveServer:
    """Serves ``root`` like data.binance.vision (Range requests answered 206 by FileResponse)."""

    root: Path
    ranges: bool = True
    fail: dict[str, int] = field(default_factory=dict)
    log: list[tuple[str, str | None]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["tail"]
        self.log.append((path, request.headers.get("Range")))
        if path in self.fail:
            return web.Response(status=self.fail[path], text="nope")
        file = self.root / path
        if not file.is_file():
            return web.Response(status=404, text="Not Found")
        if not self.ranges:
            return web.Response(body=file.read_bytes())
        return web.FileResponse(file)

    def zip_gets(self) -> list[tuple[str, str | None]]:
        return [(p, r) for p, r in self.log if p.endswith(".zip")]


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("archives")
    synth_archives(
        "BTCUSDT", "um", "aggTrades", START, 3, seed=1, out_dir=root, trades_per_minute=30
    )
    return root


@pytest.fixture
def served(archives: Path, tmp_path: Path) -> Iterator[ArchiveServer]:
    root = tmp_path / "server"
    shutil.copytree(archives, root)  # each test may delete or spoil served files
    server = ArchiveServer(root)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner: dict[str, web.AppRunner] = {}

    async def start() -> None:
        app_ = web.Application()
        app_.router.add_get("/{tail:.*}", server.handle)
        r = web.AppRunner(app_)
        await r.setup()
        site = web.TCPSite(r, "127.0.0.1", 0)
        await site.start()
        host, port = r.addresses[0][:2]
        server.url = f"http://{host}:{port}"
        runner["r"] = r
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield server
    asyncio.run_coroutine_threadsafe(runner["r"].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def quiet() -> Console:
    return Console(record=True, width=200, file=open("/dev/null", "w"))


def fetch(
    server: ArchiveServer, cache: Path, console: Console | None = None, **kw: object
) -> list[Path]:
    return fetch_archives(
        "BTCUSDT",
        "um",
        "aggTrades",
        kw.pop("start", START),  # type: ignore[arg-type]
        kw.pop("end", date(2024, 1, 3)),  # type: ignore[arg-type]
        cache_dir=cache,
        base_url=server.url,
        progress=False,
        console=console or quiet(),
        **kw,  # type: ignore[arg-type]
    )


def test_downloads_verifies_and_mirrors_the_layout(served: ArchiveServer, tmp_path: Path) -> None:
    paths = fetch(served, tmp_path / "cache")
    assert [p.name for p in paths] == [f"BTCUSDT-aggTrades-2024-01-0{d}.zip" for d in (1, 2, 3)]
    for p in paths:
        src = served.root / REL / p.name
        assert p.read_bytes() == src.read_bytes()
        assert (
            p.with_name(p.name + ".CHECKSUM").read_text()
            == (src.parent / (p.name + ".CHECKSUM")).read_text()
        )
        assert not p.with_name(p.name + ".part").exists()
    assert paths[0] == tmp_path / "cache" / REL / paths[0].name


def test_second_fetch_skips_verified_files(served: ArchiveServer, tmp_path: Path) -> None:
    fetch(served, tmp_path / "cache")
    served.log.clear()
    paths = fetch(served, tmp_path / "cache")
    assert len(paths) == 3
    assert served.zip_gets() == []  # only the .CHECKSUM files were asked for


def test_missing_day_is_reported_and_skipped(served: ArchiveServer, tmp_path: Path) -> None:
    for suffix in ("", ".CHECKSUM"):
        (served.root / REL / f"BTCUSDT-aggTrades-2024-01-02.zip{suffix}").unlink()
    console = quiet()
    paths = fetch(served, tmp_path / "cache", console)
    assert [p.name[-14:-4] for p in paths] == ["2024-01-01", "2024-01-03"]
    text = console.export_text()
    assert (
        "no archive for 2024-01-02 (404 " in text
        and "BTCUSDT-aggTrades-2024-01-02.zip.CHECKSUM" in text
    )
    assert "1 of 3 day(s) not published" in text


def test_resumes_a_partial_download_with_range(served: ArchiveServer, tmp_path: Path) -> None:
    name = "BTCUSDT-aggTrades-2024-01-01.zip"
    full = (served.root / REL / name).read_bytes()
    part = tmp_path / "cache" / REL / (name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(full[: len(full) // 2])
    (path,) = fetch(served, tmp_path / "cache", end=START)
    assert path.read_bytes() == full
    assert served.zip_gets() == [(f"{REL}/{name}", f"bytes={len(full) // 2}-")]


def test_corrupt_partial_restarts_cleanly(served: ArchiveServer, tmp_path: Path) -> None:
    name = "BTCUSDT-aggTrades-2024-01-01.zip"
    full = (served.root / REL / name).read_bytes()
    part = tmp_path / "cache" / REL / (name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage" * 100)
    (path,) = fetch(served, tmp_path / "cache", end=START)
    assert path.read_bytes() == full
    assert [r for _p, r in served.zip_gets()] == ["bytes=700-", None]


def test_server_without_range_support_restarts(served: ArchiveServer, tmp_path: Path) -> None:
    served.ranges = False
    name = "BTCUSDT-aggTrades-2024-01-01.zip"
    full = (served.root / REL / name).read_bytes()
    part = tmp_path / "cache" / REL / (name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(full[:1000])
    (path,) = fetch(served, tmp_path / "cache", end=START)
    assert path.read_bytes() == full


def test_replaced_local_file_is_downloaded_again(served: ArchiveServer, tmp_path: Path) -> None:
    (path,) = fetch(served, tmp_path / "cache", end=START)
    path.write_bytes(b"stale")
    (again,) = fetch(served, tmp_path / "cache", end=START)
    assert (
        hashlib.sha256(again.read_bytes()).hexdigest()
        == again.with_name(again.name + ".CHECKSUM").read_text().split()[0]
    )


def test_server_error_names_the_url(served: ArchiveServer, tmp_path: Path) -> None:
    served.fail[f"{REL}/BTCUSDT-aggTrades-2024-01-02.zip"] = 500
    with pytest.raises(
        DataFetchError,
        match=r"http://127\.0\.0\.1:\d+/.*BTCUSDT-aggTrades-2024-01-02\.zip: HTTP 500",
    ):
        fetch(served, tmp_path / "cache")


def test_bad_published_checksum_fails(served: ArchiveServer, tmp_path: Path) -> None:
    checksum = served.root / REL / "BTCUSDT-aggTrades-2024-01-01.zip.CHECKSUM"
    checksum.write_text("0" * 64 + "  BTCUSDT-aggTrades-2024-01-01.zip\n")
    with pytest.raises(DataFetchError, match="does not match the published"):
        fetch(served, tmp_path / "cache", end=START)
    assert not (tmp_path / "cache" / REL / "BTCUSDT-aggTrades-2024-01-01.zip").exists()


def test_base_url_from_the_environment(
    served: ArchiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BASE_URL_ENV, served.url + "/")
    assert resolve_base_url() == served.url
    assert resolve_base_url("http://other") == "http://other"
    paths = fetch_archives(
        "BTCUSDT",
        "um",
        "aggTrades",
        START,
        START,
        cache_dir=tmp_path / "c",
        progress=False,
        console=quiet(),
    )
    assert len(paths) == 1
    monkeypatch.delenv(BASE_URL_ENV)
    assert resolve_base_url() == "https://data.binance.vision"


def test_fetch_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must not be before start"):
        fetch_archives(
            "BTCUSDT",
            "um",
            "aggTrades",
            date(2024, 1, 2),
            START,
            cache_dir=tmp_path,
            base_url="http://x",
        )
    with pytest.raises(ValueError, match="needs an interval"):
        fetch_archives(
            "BTCUSDT", "um", "klines", START, START, cache_dir=tmp_path, base_url="http://x"
        )
    with pytest.raises(ValueError, match="spot has no bookTicker"):
        fetch_archives(
            "BTCUSDT", "spot", "bookTicker", START, START, cache_dir=tmp_path, base_url="http://x"
        )
    with pytest.raises(ValueError, match="http"):
        fetch_archives(
            "BTCUSDT", "um", "aggTrades", START, START, cache_dir=tmp_path, base_url="ftp://x"
        )


def test_fetched_files_load_and_the_second_load_hits_the_npz(
    served: ArchiveServer, tmp_path: Path
) -> None:
    paths = fetch(served, tmp_path / "cache")
    first = load_trades(paths)
    assert (first.symbol, first.market) == ("BTCUSDT", "um")
    assert all(cache_file(p).exists() for p in paths)
    assert all(read_cached(p)[1] for p in paths)
    second = load_trades(paths)
    assert second.price.tolist() == first.price.tolist()


def test_cli_fetch(served: ArchiveServer, tmp_path: Path) -> None:
    (served.root / REL / "BTCUSDT-aggTrades-2024-01-03.zip.CHECKSUM").unlink()
    runner = CliRunner()
    args = [
        "fetch",
        "BTCUSDT",
        "--market",
        "um",
        "--type",
        "aggTrades",
        "--from",
        "2024-01-01",
    ]
    args += ["--to", "2024-01-03", "--cache-dir", str(tmp_path / "c"), "--base-url", served.url]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert [Path(line).name for line in lines] == [
        "BTCUSDT-aggTrades-2024-01-01.zip",
        "BTCUSDT-aggTrades-2024-01-02.zip",
    ]
    assert "no archive for 2024-01-03" in result.stderr
    served.fail[f"{REL}/BTCUSDT-aggTrades-2024-01-01.zip.CHECKSUM"] = 503
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert (
        "HTTP 503" in result.stderr and "BTCUSDT-aggTrades-2024-01-01.zip.CHECKSUM" in result.stderr
    )
