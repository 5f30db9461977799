"""One process of the token tests: the token timer's run beside many concurrent token calls.

Run as ``python -m tests.integration.timers.token_worker REDIS_URL BASE_URL CALLS``. It builds
the real composition root, prints ``ready``, waits for a line on stdin (so every process starts
together), then runs the timer's ``refresh_token`` once and ``CALLS`` concurrent token requests
through the executor's token manager, and prints a JSON summary (short token hashes only).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys

from shared.config import Settings
from shared.container import Container
from shared.domain.clock import SystemClock
from shared.services.token_refresh import refresh_token


def _short(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


async def _run(redis_url: str, base_url: str, calls: int) -> dict[str, object]:
    container = Container(
        Settings(
            redis_url=redis_url,
            tradovate_base_url=base_url,
            tradovate_username="sim-trader",
            tradovate_password="sim-password",
            tradovate_cid="8",
            tradovate_sec="sim-api-secret",
            tradovate_device_id="tradebridge-tests",
            queue_backend="local",
        )
    )
    await container.redis.ping()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    tokens = container.tradovate.tokens
    timer_run = asyncio.ensure_future(refresh_token(container.timer_tokens, SystemClock()))
    got = await asyncio.gather(*(tokens.access_token() for _ in range(calls)))
    status = await timer_run
    summary: dict[str, object] = {
        "state": status.state,
        "calls": len(got),
        "distinct": sorted({_short(t) for t in got}),
        "renewals": tokens.renewals + container.timer_tokens.renewals,
        "logins": tokens.logins + container.timer_tokens.logins,
    }
    await container.tradovate.aclose()
    await container.redis.aclose()
    return summary


def main() -> None:
    """Parse the arguments, run, print the summary."""
    redis_url, base_url, calls = sys.argv[1:4]
    print(json.dumps(asyncio.run(_run(redis_url, base_url, int(calls)))))


if __name__ == "__main__":
    main()
