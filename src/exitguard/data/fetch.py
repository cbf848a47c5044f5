"""Download daily data.binance.vision archives into a local mirror, resumably.

The mirror keeps the published layout under the cache directory
(``{cache_dir}/data/{spot|futures/um}/daily/{type}/{SYMBOL}/[{interval}/]{file}.zip`` plus its
``.CHECKSUM``), so every path it returns is understood by :mod:`exitguard.data.load` without
arguments, and a mirror can itself be served as a base URL.

Per day: fetch ``<zip>.CHECKSUM`` first (small; it also tells whether the day exists). If the local
zip already has that sha256 it is kept (no download). Otherwise the zip is streamed into
``<zip>.part``, resuming with ``Range: bytes=N-`` when a partial file is there (a server that
answers 200 instead of 206 restarts it cleanly), verified, and renamed into place, so a
``<zip>`` is always complete. A 404 for a day is reported and skipped; any other failure raises
:class:`DataFetchError` naming the URL.

Base URL: the ``base_url`` argument, else ``$EXITGUARD_DATA_BASE_URL``, else
``https://data.binance.vision`` (tests point it at a local server; nothing here needs the internet
otherwise).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import aiohttp
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from .cache import default_cache_dir
from .names import KLINE_TYPES, MARKET_TYPES, DataType, archive_relpath
from .read import sha256_file
from .series import Market

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DataFetchError",
    "fetch_archives",
    "fetch_archives_async",
    "resolve_base_url",
]

DEFAULT_BASE_URL = "https://data.binance.vision"
BASE_URL_ENV = "EXITGUARD_DATA_BASE_URL"
PARALLEL = 4  # concurrent downloads: enough to fill a link, polite to the server
_CHUNK = 1 << 16
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class DataFetchError(RuntimeError):
    """A download that failed for a reason other than a missing day; names the URL."""

    def __init__(self, url: str, rule: str) -> None:
        super().__init__(f"{url}: {rule}")
        self.url = url
        self.rule = rule


def resolve_base_url(base_url: str | None = None) -> str:
    """The base URL to use: the argument, else ``$EXITGUARD_DATA_BASE_URL``, else the default."""
    url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base URL must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


@dataclass(frozen=True, slots=True)
class _Job:
    day: date
    url: str
    dest: Path


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _jobs(
    symbol: str,
    market: Market,
    data_type: DataType,
    start: date,
    end: date,
    interval: str | None,
    cache_dir: Path,
    base: str,
) -> list[_Job]:
    if market not in MARKET_TYPES:
        raise ValueError(f"market must be 'spot' or 'um', got {market!r}")
    if end < start:
        raise ValueError(f"end ({end}) must not be before start ({start})")
    if data_type not in KLINE_TYPES and interval is not None:
        raise ValueError(f"{data_type} files have no interval (got {interval!r})")
    jobs = []
    for day in _days(start, end):
        rel = archive_relpath(symbol, market, data_type, day, interval=interval)
        jobs.append(_Job(day, f"{base}/{rel.as_posix()}", cache_dir / rel))
    return jobs


def fetch_archives(
    symbol: str,
    market: Market,
    data_type: DataType,
    start: date,
    end: date,
    *,
    interval: str | None = None,
    cache_dir: Path | str | None = None,
    base_url: str | None = None,
    progress: bool = True,
    console: Console | None = None,
) -> list[Path]:
    """Download the daily archives ``start..end`` (inclusive); return the local zips in date order.

    Days the server does not have (404) are reported on ``console`` (stderr by default) and left
    out of the result. Must not be called from a running event loop; use
    :func:`fetch_archives_async` there.
    """
    return asyncio.run(
        fetch_archives_async(
            symbol,
            market,
            data_type,
            start,
            end,
            interval=interval,
            cache_dir=cache_dir,
            base_url=base_url,
            progress=progress,
            console=console,
        )
    )


class _AmountColumn(DownloadColumn):
    """Bytes for a download, "3/10 files" for the overall task (it counts archives)."""

    def render(self, task: Task) -> Text:
        if task.fields.get("unit") == "files":
            total = "?" if task.total is None else int(task.total)
            return Text(f"{int(task.completed)}/{total} files", style="progress.download")
        return super().render(task)


async def fetch_archives_async(
    symbol: str,
    market: Market,
    data_type: DataType,
    start: date,
    end: date,
    *,
    interval: str | None = None,
    cache_dir: Path | str | None = None,
    base_url: str | None = None,
    progress: bool = True,
    console: Console | None = None,
) -> list[Path]:
    """The coroutine behind :func:`fetch_archives`."""
    base = resolve_base_url(base_url)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    jobs = _jobs(symbol, market, data_type, start, end, interval, root, base)
    console = console or Console(file=sys.stderr)
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        _AmountColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not progress,
    )

    def report(message: str) -> None:
        # soft_wrap: a URL in a message must stay on one line to be copied.
        bars.console.print(message, soft_wrap=True, highlight=False)

    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
    gate = asyncio.Semaphore(PARALLEL)
    with bars:
        overall = bars.add_task(f"{symbol} {data_type}", total=len(jobs), unit="files")
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def one(job: _Job) -> Path | None:
                async with gate:
                    got = await _fetch_day(session, job, bars, report)
                bars.advance(overall)
                return got

            tasks = [asyncio.create_task(one(j)) for j in jobs]
            try:
                results = await asyncio.gather(*tasks)
            except BaseException:
                # One day failed: stop the others before the session closes under them.
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
    found = [p for p in results if p is not None]
    missing = len(jobs) - len(found)
    if missing:
        report(f"[yellow]{missing} of {len(jobs)} day(s) not published; skipped[/]")
    return found


async def _fetch_day(
    session: aiohttp.ClientSession,
    job: _Job,
    bars: Progress,
    report: Callable[[str], None],
) -> Path | None:
    checksum_url = job.url + ".CHECKSUM"
    text = await _get_text(session, checksum_url)
    if text is None:
        report(f"[yellow]no archive for {job.day} (404 {checksum_url}); skipped[/]")
        return None
    expected = text.split()[0].lower() if text.split() else ""
    if not _SHA256.fullmatch(expected):
        raise DataFetchError(checksum_url, f"not a sha256 checksum file (got {text[:80]!r})")
    job.dest.parent.mkdir(parents=True, exist_ok=True)
    checksum_path = job.dest.with_name(job.dest.name + ".CHECKSUM")
    if job.dest.exists() and await asyncio.to_thread(sha256_file, job.dest) == expected:
        checksum_path.write_text(text, encoding="utf-8")
        return job.dest  # complete and verified: nothing to download
    part = job.dest.with_name(job.dest.name + ".part")
    task: TaskID = bars.add_task(job.dest.name, total=None)
    try:
        for attempt in range(2):
            resumed = await _download(session, job.url, part, bars, task)
            if resumed is None:
                report(f"[yellow]no archive for {job.day} (404 {job.url}); skipped[/]")
                return None
            actual = await asyncio.to_thread(sha256_file, part)
            if actual == expected:
                break
            part.unlink(missing_ok=True)
            if not resumed or attempt == 1:
                raise DataFetchError(
                    job.url, f"sha256 {actual} does not match the published {expected}"
                )
            # A resumed file can carry a stale or damaged prefix: start over once.
    finally:
        bars.remove_task(task)
    os.replace(part, job.dest)  # a .zip in the mirror is always complete
    checksum_path.write_text(text, encoding="utf-8")
    return job.dest


async def _get_text(session: aiohttp.ClientSession, url: str) -> str | None:
    try:
        async with session.get(url) as resp:
            if resp.status == 404:
                return None
            if resp.status != 200:
                raise DataFetchError(url, f"HTTP {resp.status} {resp.reason or ''}".rstrip())
            return await resp.text(encoding="utf-8")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DataFetchError(url, f"request failed ({exc.__class__.__name__}: {exc})") from exc


async def _download(
    session: aiohttp.ClientSession, url: str, part: Path, bars: Progress, task: TaskID
) -> bool | None:
    """Stream ``url`` into ``part``; ``True`` if it resumed a partial file, ``None`` on 404."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        async with session.get(url, headers=headers) as resp:
            if resp.status == 404:
                return None
            if resp.status == 416 and offset:
                # The partial file is not a prefix the server can continue: restart cleanly.
                part.unlink(missing_ok=True)
                return await _download(session, url, part, bars, task)
            if resp.status == 206 and offset:
                mode, resumed = "ab", True
            elif resp.status == 200:
                mode, resumed, offset = "wb", False, 0  # no Range support: from the start
            else:
                raise DataFetchError(url, f"HTTP {resp.status} {resp.reason or ''}".rstrip())
            total = resp.content_length
            bars.update(task, total=offset + total if total is not None else None, completed=offset)
            with part.open(mode) as fh:
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    fh.write(chunk)
                    bars.advance(task, len(chunk))
            return resumed
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DataFetchError(url, f"download failed ({exc.__class__.__name__}: {exc})") from exc
