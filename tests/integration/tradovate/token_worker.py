"""One "process" of the token-sharing test: many concurrent token requests, then a summary.

Run as ``python -m tests.integration.tradovate.token_worker REDIS_URL BASE_URL CALLS``. It
prints ``ready`` once imported and connected, waits for a line on stdin (so every process
starts together), asks for the token ``CALLS`` times concurrently, and prints JSON with
short hashes of the tokens it got (never the tokens).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys

from redis.asyncio import Redis

from shared.adapters.tradovate.client import TradovateClient
from shared.config import Settings


def _short(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def _settings(redis_url: str, base_url: str) -> Settings:
    return Settings(
        redis_url=redis_url,  # type: ignore[arg-type]
        tradovate_base_url=base_url,
        tradovate_username="sim-trader",
        tradovate_password="sim-password",  # type: ignore[arg-type]
        tradovate_cid="8",
        tradovate_sec="sim-api-secret",  # type: ignore[arg-type]
        tradovate_device_id="tradebridge-tests",
    )


async def _run(redis_url: str, base_url: str, calls: int) -> dict[str, object]:
    redis = Redis.from_url(redis_url)
    await redis.ping()
    client = TradovateClient.from_settings(_settings(redis_url, base_url), redis)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    tokens = await asyncio.gather(*(client.tokens.access_token() for _ in range(calls)))
    summary = {
        "calls": len(tokens),
        "distinct": sorted({_short(t) for t in tokens}),
        "renewals": client.tokens.renewals,
        "logins": client.tokens.logins,
    }
    await client.aclose()
    await redis.aclose()
    return summary


def main() -> None:
    """Parse the arguments, run, print the summary."""
    redis_url, base_url, calls = sys.argv[1:4]
    print(json.dumps(asyncio.run(_run(redis_url, base_url, int(calls)))))


if __name__ == "__main__":
    main()
