"""``kill -9`` of ``exitguard run`` in the middle of a ladder's stop move, then a restart: the
configured exit plan (``[policy.usdm.default]`` with a ladder and a stop move) through the real
command, the store and the paper venue. The level that filled while exitguard was down is
learnt at startup, the moved stop is placed, the process dies before the old stop is
cancelled; the next run keeps the moved stop only, and places no level twice."""

from __future__ import annotations

import os
import signal
from decimal import Decimal
from pathlib import Path

import pytest

from exitguard.domain.enums import Side
from exitguard.venue.server import Venue
from test_manager_crash import open_exits, run_manager, venue  # noqa: F401 (fixture)

D = Decimal


def write_ladder_config(tmp: Path, v: Venue) -> Path:
    path = tmp / "exitguard.toml"
    path.write_text(
        f"""
[manager]
account = "paper"
products = ["usdm"]
state_db = "state.db"
venue = "external"

[urls]
usdm_rest = "{v.rest_url}"
usdm_ws = "{v.ws_streams_url}"

[policy.usdm.default]
stop_loss = {{ distance = {{ percent = 2 }} }}
ladder = [
  {{ distance = {{ percent = 1 }}, fraction = 0.5 }},
  {{ distance = {{ percent = 2 }}, fraction = 0.5 }},
]
stop_moves = [{{ after_level = 1, break_even_offset_percent = 0.1 }}]
"""
    )
    return path


@pytest.fixture(autouse=True)
def _tree_under_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command runs in the store's directory: a relative PYTHONPATH (``PYTHONPATH=src``)
    would not reach this tree there, and the installed exitguard would run instead."""
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(os.path.abspath(p) for p in path.split(os.pathsep) if p)
    )


async def test_kill_between_placing_the_moved_stop_and_cancelling_the_old(
    venue: Venue,  # noqa: F811
    tmp_path: Path,
) -> None:
    v = venue
    acct = v.exchange.account_by_api_key(v.api_key)
    v.exchange.open_position(acct, "BTCUSDT", Side.BUY, D("1.0"))
    config = write_ladder_config(tmp_path, v)
    assert await run_manager(config, v, None) == 0
    algos, orders = open_exits(v)
    assert [(a["orderType"], a["triggerPrice"]) for a in algos] == [("STOP_MARKET", "49000")]
    assert sorted((o["price"], o["origQty"]) for o in orders) == [
        ("50500", "0.500"),
        ("51000", "0.500"),
    ]
    level2 = next(o["clientOrderId"] for o in orders if o["price"] == "51000")
    v.set_price("BTCUSDT", last=D(50510), mark=D(50510))  # level 1 fills while down
    code = await run_manager(config, v, "after_replace_place")
    assert code == -signal.SIGKILL
    algos, _ = open_exits(v)
    assert sorted(a["triggerPrice"] for a in algos) == ["49000", "50050.0"]  # both rest
    assert await run_manager(config, v, None) == 0
    algos, orders = open_exits(v)
    assert [(a["orderType"], a["triggerPrice"]) for a in algos] == [("STOP_MARKET", "50050.0")]
    assert [o["clientOrderId"] for o in orders] == [level2]  # level 1 never placed again
