"""`venue serve` prints a config block a person pastes into exitguard.toml: it must load as is
and point every URL of `exitguard run` at this venue."""

from __future__ import annotations

from pathlib import Path

from exitguard.config import load_config
from exitguard.config.modes import UrlKey
from exitguard.venue.server import Venue


async def test_the_printed_block_is_a_working_config(tmp_path: Path) -> None:
    async with Venue(feed=None) as venue:
        block = venue.config_block()
        env_line = next(line for line in block.splitlines() if "export " in line)
        env = dict(part.split("=", 1) for part in env_line.split("export ", 1)[1].split())
        (tmp_path / "exitguard.toml").write_text(block + "\n")
        config = load_config(tmp_path / "exitguard.toml", env)
        assert config.venue == "external" and config.credentials is not None
        assert config.endpoints.get(UrlKey.USDM_REST) == venue.rest_url
        # usdm_ws_api is resolved only with [usdm] transport = "ws_api"; it loads without error.
        assert config.endpoints.get(UrlKey.SPOT_WS_API) == venue.spot_ws_api_url
        assert config.endpoints.get(UrlKey.SPOT_WS_STREAMS) == venue.spot_ws_streams_url
        assert config.run_problems() == ()
