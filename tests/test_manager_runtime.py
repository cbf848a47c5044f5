"""``build_manager``: the mutating client exists only when the mode may send at all.

Design "Execution modes" and seed 001: DRY_RUN_PRIVATE is the default local mode and its
mutating client is never constructed, so no code path can send. The trader classes are replaced
here so that constructing one where it must not exist fails the test, and nothing connects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exitguard.config import load_config
from exitguard.config.loader import Config
from exitguard.config.modes import UrlKey
from exitguard.domain.enums import Product
from exitguard.manager import runtime
from exitguard.manager.runtime import Connection, build_manager
from exitguard.manager.service import ExitManager

# Loopback, never connected to: building the manager opens no socket.
URLS = {
    UrlKey.USDM_REST: "http://127.0.0.1:9/usdm",
    UrlKey.USDM_WS: "ws://127.0.0.1:9/usdm-ws",
    UrlKey.SPOT_REST: "http://127.0.0.1:9/spot",
    UrlKey.SPOT_WS_API: "ws://127.0.0.1:9/ws-api/v3",
}
CONN = Connection(URLS, "TESTKEY-runtime-0001", "TESTSECRET-runtime-0001")


def config(tmp_path: Path, mode: str) -> Config:
    path = tmp_path / "exitguard.toml"
    path.write_text(
        f'[manager]\nmode = "{mode}"\nproducts = ["usdm", "spot"]\nstate_db = "state.db"\n'
    )
    return load_config(path, {})  # an empty environment: DEMO here comes only from the file


class TraderLog:
    """Stand-ins for the SDK trader classes that record (or refuse) construction."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, allowed: bool) -> None:
        self.built: list[tuple[str, dict[str, Any]]] = []
        for name in ("SdkUsdmTrader", "SdkSpotTrader"):
            monkeypatch.setattr(runtime, name, self._stand_in(name, allowed))

    def _stand_in(self, name: str, allowed: bool) -> type:
        log = self.built

        class StandIn:
            def __init__(self, **kwargs: Any) -> None:
                log.append((name, kwargs))
                if not allowed:
                    raise AssertionError(f"{name} constructed although the mode cannot send")
                self.kwargs = kwargs

            async def close(self) -> None:
                pass

        StandIn.__name__ = name
        return StandIn


async def close(manager: ExitManager) -> None:
    for scope in manager.scopes.values():
        await scope.ops.reader.close()  # type: ignore[attr-defined]
    manager.store.close()


@pytest.mark.parametrize("mode", ["DRY_RUN_PRIVATE", "DEMO"], ids=["dry_run", "demo_from_file"])
async def test_no_trader_is_built_when_the_mode_cannot_send(tmp_path, monkeypatch, mode):
    traders = TraderLog(monkeypatch, allowed=False)
    manager = build_manager(config(tmp_path, mode), CONN)
    try:
        assert traders.built == []
        assert set(manager.scopes) == {Product.USDM, Product.SPOT}
        for scope in manager.scopes.values():
            assert scope.ops.trader is None  # type: ignore[attr-defined]
            assert not scope.ops.can_mutate
    finally:
        await close(manager)


async def test_paper_builds_one_trader_per_product_on_its_own_rest_url(tmp_path, monkeypatch):
    traders = TraderLog(monkeypatch, allowed=True)
    manager = build_manager(config(tmp_path, "PAPER"), CONN)
    try:
        assert sorted((name, kw["rest_url"]) for name, kw in traders.built) == [
            ("SdkSpotTrader", URLS[UrlKey.SPOT_REST]),
            ("SdkUsdmTrader", URLS[UrlKey.USDM_REST]),
        ]
        for product, name in ((Product.USDM, "SdkUsdmTrader"), (Product.SPOT, "SdkSpotTrader")):
            ops = manager.scope(product).ops
            assert type(ops.trader).__name__ == name  # type: ignore[attr-defined]
            assert ops.can_mutate
    finally:
        await close(manager)
