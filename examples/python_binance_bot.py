"""A bot that opens a USD-M position with python-binance and hands its exits to exitguard.

Run against the paper venue (no account, no network beyond loopback):

    exitguard venue serve --port 9100            # prints the venue's URLs and API key/secret
    # then exitguard run in PAPER mode on that venue (README: "Run it as a service")
    python examples/python_binance_bot.py --venue http://127.0.0.1:9100 \
        --api-key KEY --api-secret SECRET --guard http://127.0.0.1:8737 --token-file exitguard.db.api-token

The same script works on Binance's testnet: point --venue at https://demo-fapi.binance.com with
your testnet keys, and run exitguard in TESTNET mode.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal
from pathlib import Path

from binance.client import Client  # python-binance

from exitguard.client import ApiError, GuardClient


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--venue", required=True, help="REST base URL of the venue")
    p.add_argument("--api-key", required=True)
    p.add_argument("--api-secret", required=True)
    p.add_argument("--guard", required=True, help="exitguard's API base URL")
    p.add_argument("--token-file", type=Path, help="file holding the API token")
    p.add_argument("--token", help="the API token (or --token-file)")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--quantity", default="0.01")
    p.add_argument("--stop-pct", type=Decimal, default=Decimal(2), help="stop below entry, %%")
    p.add_argument("--target-pct", type=Decimal, default=Decimal(4), help="target above entry, %%")
    args = p.parse_args(argv)
    token = args.token or (args.token_file.read_text().strip() if args.token_file else None)
    if not token:
        p.error("--token or --token-file is required")

    binance = Client(args.api_key, args.api_secret, ping=False)
    binance.FUTURES_URL = args.venue.rstrip("/") + "/fapi"  # the paper venue speaks /fapi
    order = binance.futures_create_order(
        symbol=args.symbol, side="BUY", type="MARKET", quantity=args.quantity
    )
    print(f"opened: {order['side']} {order['executedQty']} {args.symbol} @ {order['avgPrice']}")
    entry = Decimal(order["avgPrice"])
    tick = Decimal("0.1")
    stop = (entry * (1 - args.stop_pct / 100)).quantize(tick)
    target = (entry * (1 + args.target_pct / 100)).quantize(tick)

    guard = GuardClient(args.guard, token)
    for _attempt in range(50):  # the guard learns of the position from its private stream
        try:
            answer = guard.protect(
                "usdm",
                args.symbol,
                stop_price=stop,
                take_profit_price=target,
                request_id=f"open-{order['orderId']}",
            )
            break
        except ApiError as exc:
            if exc.status != 404:
                print(f"refused: {exc.message}", file=sys.stderr)
                return 1
            time.sleep(0.1)
    else:
        print("exitguard never saw the position", file=sys.stderr)
        return 1
    for e in answer["exits"]:
        level = e["trigger_price"] or e["price"]
        print(f"exit: {e['role']} {e['type']} at {level} ({e['state']})")
    print(f"guard: {guard.health()['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
