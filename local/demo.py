"""Send one alert through the whole local stack and show what happened to it.

``python -m local.demo`` starts ``python -m local.stack``, posts a TradingView-style alert
to the webhook exactly as TradingView would (the function key in the URL, the secret in
the body), then follows it: the webhook's answer, the journal entry, and what became of
its queue messages. ``--keep`` leaves the stack running afterwards for more rehearsal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from local.services import REPO_ROOT, ReadyLineProcess, ServiceError
from shared.adapters.local_queue import LocalQueue
from shared.adapters.redis_connect import RedisOptions, build_async_redis
from shared.config import read_local_settings


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__)
    parser.add_argument("--settings", type=Path, default=REPO_ROOT / "local.settings.json")
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    parser.add_argument(
        "--state-file", type=Path, help="where the stack records its URLs (python -m local.stack)"
    )
    parser.add_argument("--logs", type=Path, help="the stack's log folder (python -m local.stack)")
    return parser.parse_args(argv)


def _show(title: str, value: Any) -> None:
    print(f"\n== {title}")
    print(json.dumps(value, indent=2, default=str) if not isinstance(value, str) else value)


async def _queue_counts(redis_url: str, values: dict[str, str]) -> dict[str, int]:
    # The stack's REDIS_AUTH (and client id) come with local.settings.json's values.
    options = RedisOptions.from_environment({**os.environ, **values, "REDIS_URL": redis_url})
    queue = LocalQueue(build_async_redis(options), "signals")
    try:
        return await queue.counts()
    finally:
        await queue.close()


def run_demo(urls: dict[str, Any], settings: Path) -> int:
    """Post one alert and follow it to the simulator's orders; return an exit status."""
    values = read_local_settings(settings)
    key = values["DEVHOST_FUNCTION_KEYS"].split(",")[0]
    price = _mark(str(urls["tradovate_admin"]), "MNQ")
    alert = {
        "secret": values["WEBHOOK_DEMO"],
        "intent": "buy",
        "symbol": "NQ1!",
        "quantity": 1,
        "price": price,  # what TradingView's {{close}} would send; brackets are placed from it
        "alert_id": f"demo-{int(time.time())}",
    }
    url = f"{urls['functions']}/api/webhook/demo?code={key}"
    _show(
        "POST /api/webhook/demo (secret and key not shown)",
        {k: v for k, v in alert.items() if k != "secret"},
    )
    response = httpx.post(url, content=json.dumps(alert).encode(), timeout=10)
    took_ms = response.headers.get("X-Process-Time-ms")
    _show(f"webhook answered {response.status_code} in {took_ms} ms", response.json())
    if response.status_code != 202:
        return 1
    orders = _wait_for_orders(str(urls["tradovate_admin"]), expected=2, timeout_s=30)
    if orders is None:
        print("\nno order reached the simulator within 30 s", file=sys.stderr)
        _show("signals queue", asyncio.run(_queue_counts(str(urls["redis"]), values)))
        return 1
    _show("orders at the Tradovate simulator", orders["orders"])
    _show("positions at the Tradovate simulator", orders["positions"])
    return 0


def _mark(admin_url: str, root: str) -> str:
    prices = httpx.get(f"{admin_url}/price", params={"symbol": root}, timeout=10).json()
    return str(next(iter(prices.values()))["price"])


def _wait_for_orders(admin_url: str, expected: int, timeout_s: float) -> dict[str, Any] | None:
    """Poll the simulator until ``expected`` entry orders exist (each with its brackets)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = httpx.get(f"{admin_url}/state", timeout=10).json()
        entries = [o for o in state["orders"] if o.get("ordStatus") == "Filled"]
        if len(entries) >= expected:
            summary = [
                {
                    "id": o["id"],
                    "account": o["accountId"],
                    "action": o["action"],
                    "status": o["ordStatus"],
                    "type": o["version"]["orderType"],
                    "qty": o["version"]["orderQty"],
                    "price": o["version"].get("price"),
                    "stop": o["version"].get("stopPrice"),
                }
                for o in state["orders"]
            ]
            positions = [
                {"account": p["accountId"], "netPos": p["netPos"], "netPrice": p.get("netPrice")}
                for p in state["positions"]
                if p["netPos"]
            ]
            return {"orders": summary, "positions": positions}
        time.sleep(0.2)
    return None


def main(argv: list[str] | None = None) -> int:
    """Start the stack, run the demo, and stop (or keep) the stack."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    command = [sys.executable, "-m", "local.stack", "--settings", str(args.settings)]
    if args.state_file is not None:
        command += ["--state-file", str(args.state_file)]
    if args.logs is not None:
        command += ["--logs", str(args.logs)]
    stack = ReadyLineProcess(command, timeout_s=120)
    try:
        urls = stack.start()
    except ServiceError as exc:
        print(f"demo: the local stack did not start: {exc}", file=sys.stderr)
        return 1
    try:
        _show("local stack", urls)
        status = run_demo(urls, args.settings)
        if args.keep and status == 0:
            print("\nThe stack keeps running; Ctrl-C stops it.", flush=True)
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            stop.wait()
        return status
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
