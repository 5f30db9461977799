"""The token timer against the simulator and real Redis, across several real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from local.tradovate_sim import SimulatorServer
from shared.adapters.tradovate.auth import SessionToken
from shared.adapters.tradovate.client import TradovateClient
from shared.adapters.tradovate.token import namespace_for
from shared.domain.clock import SystemClock
from shared.services.token_refresh import refresh_token
from tests.integration.timers.conftest import settings_for

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]
PROCESSES = 4
CALLS_PER_PROCESS = 250  # 1,000 concurrent calls in all, plus one timer run per process


def run_processes(redis_url: str, base_url: str) -> tuple[list[dict[str, object]], float]:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.timers.token_worker",
                redis_url,
                base_url,
                str(CALLS_PER_PROCESS),
            ],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for proc in procs:  # a barrier: every process imported and connected
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        started = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results, time.perf_counter() - started
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def token_key(sim: SimulatorServer) -> str:
    return f"{namespace_for(sim.base_url, 'sim-trader')}:token"


async def test_thousand_calls_from_four_processes_near_expiry_renew_once_and_never_log_in(
    tradovate_sim: SimulatorServer, redis_url: str, redis: Redis
) -> None:
    tradovate_sim.configure(token_lifetime_s=600.0)  # inside every renewal margin
    seeder = TradovateClient.from_settings(settings_for(tradovate_sim, redis_url), redis)
    old = await seeder.tokens.current()
    await seeder.aclose()
    tradovate_sim.configure(token_lifetime_s=5400.0)
    tradovate_sim.reset_stats()

    results, elapsed_s = run_processes(redis_url, tradovate_sim.base_url)

    stats = tradovate_sim.stats()
    assert (stats["renewals"], stats["logins"]) == (1, 0)
    assert sum(int(str(r["calls"])) for r in results) == PROCESSES * CALLS_PER_PROCESS
    assert sum(int(str(r["renewals"])) for r in results) == 1
    assert {r["state"] for r in results} == {"fresh"}
    raw = await redis.get(token_key(tradovate_sim))
    assert raw is not None
    stored = SessionToken.from_json(raw)
    assert stored.access_token != old.access_token
    assert stored.seconds_left(datetime.now(UTC)) > 5000
    print(f"1,000 token calls + {PROCESSES} timer runs: {elapsed_s * 1000:.0f} ms")


async def test_expired_token_without_renewal_path_logs_in_exactly_once(
    tradovate_sim: SimulatorServer, redis_url: str, redis: Redis
) -> None:
    expired = SessionToken("expired-token", datetime.now(UTC) - timedelta(minutes=1))
    await redis.set(token_key(tradovate_sim), expired.to_json())  # no TTL: it stays readable

    results, _ = run_processes(redis_url, tradovate_sim.base_url)

    stats = tradovate_sim.stats()
    assert (stats["logins"], stats["renewals"]) == (1, 0)
    assert sum(int(str(r["logins"])) for r in results) == 1
    assert len({h for r in results for h in r["distinct"]}) == 1  # type: ignore[attr-defined]


async def test_token_timer_with_captcha_stops_and_the_next_run_does_not_try(
    tradovate_sim: SimulatorServer, redis_url: str, redis: Redis
) -> None:
    tradovate_sim.inject(
        pticket_next=1, pticket_captcha=True, pticket_endpoint="auth/accesstokenrequest"
    )
    client = TradovateClient.from_settings(settings_for(tradovate_sim, redis_url), redis)
    first = await refresh_token(client.tokens, SystemClock())
    second = await refresh_token(client.tokens, SystemClock())
    await client.aclose()
    assert (first.state, first.code) == ("refused", "broker_captcha_required")
    assert second.state == "suspended"
    assert first.alert_worthy
    assert second.alert_worthy
    assert tradovate_sim.stats()["requests"]["auth/accesstokenrequest"] == 1


async def test_token_timer_with_fresh_token_renews_nothing(
    tradovate_sim: SimulatorServer, redis_url: str, redis: Redis
) -> None:
    client = TradovateClient.from_settings(settings_for(tradovate_sim, redis_url), redis)
    first = await refresh_token(client.tokens, SystemClock())
    second = await refresh_token(client.tokens, SystemClock())
    await client.aclose()
    assert (first.state, second.state) == ("fresh", "fresh")
    assert second.seconds_left is not None
    assert second.seconds_left > 5000
    stats = tradovate_sim.stats()
    assert (stats["logins"], stats["renewals"]) == (1, 0)
