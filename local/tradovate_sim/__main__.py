"""Run the simulator alone: ``python -m local.tradovate_sim --host 127.0.0.1 --port 8181``.

Prints one JSON line with the URLs once listening, then serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from typing import Any

from local.services import wait_for_signal
from local.tradovate_sim.config import SimConfig
from local.tradovate_sim.server import SimulatorServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local.tradovate_sim", description="Tradovate demo-environment simulator"
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument("--config", help="JSON file with SimConfig settings")
    parser.add_argument("--token-lifetime-s", type=float, help="access token lifetime")
    parser.add_argument("--heartbeat-timeout-s", type=float, help="client heartbeat timeout")
    parser.add_argument("--username", help="login name (default sim-trader)")
    parser.add_argument("--password", help="password (default sim-password)")
    parser.add_argument("--cid", type=int, help="API key id (default 8)")
    parser.add_argument("--sec", help="API secret (default sim-api-secret)")
    parser.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="PRODUCT=PRICE",
        help="starting price of a product, e.g. --price NQ=21000 (repeatable)",
    )
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="ID:NAME",
        help="a trading account, e.g. --account 10001:DEMO10001 (repeatable; replaces defaults)",
    )
    parser.add_argument("--random-walk-s", type=float, help="move every price a tick this often")
    parser.add_argument("--seed", type=int, help="seed for random faults and the random walk")
    return parser


def build_config(args: argparse.Namespace) -> SimConfig:
    """Combine the config file (if any) with command-line overrides."""
    config = SimConfig.from_json_file(args.config) if args.config else SimConfig()
    changes: dict[str, Any] = {}
    for flag in ("token_lifetime_s", "heartbeat_timeout_s", "username", "password", "cid",
                 "sec", "random_walk_s", "seed"):  # fmt: skip
        value = getattr(args, flag)
        if value is not None:
            changes[flag] = value
    if args.price:
        prices = {symbol: str(price) for symbol, price in config.prices.items()}
        for item in args.price:
            symbol, _, price = item.partition("=")
            if not price:
                raise SystemExit(f"--price expects PRODUCT=PRICE, got {item!r}")
            prices[symbol.upper()] = str(Decimal(price))
        changes["prices"] = prices
    if args.account:
        changes["accounts"] = [_account(item) for item in args.account]
    return config.replace(**changes) if changes else config


def _account(item: str) -> dict[str, Any]:
    ident, _, name = item.partition(":")
    if not ident.isdigit() or not name:
        raise SystemExit(f"--account expects ID:NAME, got {item!r}")
    return {"id": int(ident), "name": name}


def main(argv: list[str] | None = None) -> int:
    """Start the server, print its URLs, wait for a signal, stop cleanly."""
    args = _parser().parse_args(argv)
    try:
        config = build_config(args)
        server = SimulatorServer(config, host=args.host, port=args.port).start()
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"tradovate simulator: {exc}", file=sys.stderr)
        return 2
    stop = wait_for_signal()
    print(json.dumps(server.urls()), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
