"""Token sharing against the simulator and real Redis, across several real processes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from redis.asyncio import Redis

from local.tradovate_sim import SimulatorServer
from shared.adapters.tradovate.client import TradovateClient
from shared.adapters.tradovate.token import TokenPolicy
from shared.config import Settings
from tests.integration.tradovate.conftest import requests

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]
PROCESSES = 3
CALLS_PER_PROCESS = 334  # 1,002 concurrent calls in all


def _short(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def _run_processes(sim_settings: Settings) -> list[dict[str, object]]:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.tradovate.token_worker",
                sim_settings.redis_url.get_secret_value(),
                sim_settings.tradovate_base_url,
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
        results = []
        for proc in procs:
            out, err = proc.communicate("go\n", timeout=60)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return results


async def test_login_then_renew_with_simulator_issues_a_later_token_on_the_same_session(
    client: TradovateClient, tradovate_sim: SimulatorServer, sim_settings: Settings, redis: Redis
) -> None:
    first = await client.tokens.current()
    eager = TradovateClient.from_settings(
        sim_settings, redis, policy=TokenPolicy(renew_margin_s=5400.0, memory_ttl_s=0.0)
    )
    renewed = await eager.tokens.current()
    await eager.aclose()
    assert renewed.access_token != first.access_token
    assert renewed.expires_at > first.expires_at
    assert renewed.user_id == first.user_id
    stats = tradovate_sim.stats()
    assert (stats["logins"], stats["renewals"]) == (1, 1)
    assert len(await client.rest.accounts()) == 2  # the shared token works for REST


async def test_token_with_three_processes_near_expiry_renews_exactly_once_and_never_logs_in(
    client: TradovateClient, tradovate_sim: SimulatorServer, sim_settings: Settings
) -> None:
    tradovate_sim.configure(token_lifetime_s=600.0)  # inside the default 15-minute margin
    old = await client.tokens.current()
    tradovate_sim.configure(token_lifetime_s=5400.0)
    results = _run_processes(sim_settings)
    stats = tradovate_sim.stats()
    assert stats["renewals"] == 1
    assert stats["logins"] == 1  # only the parent's first login
    assert requests(tradovate_sim, "auth/accesstokenrequest") == 1
    assert sum(int(r["calls"]) for r in results) == PROCESSES * CALLS_PER_PROCESS  # type: ignore[call-overload]
    assert sum(int(r["renewals"]) for r in results) == 1  # type: ignore[call-overload]
    seen = {h for r in results for h in r["distinct"]}  # type: ignore[attr-defined]
    assert _short(old.access_token) in seen or len(seen) == 1
    assert len(seen) <= 2


async def test_token_with_three_processes_and_no_usable_token_logs_in_exactly_once(
    client: TradovateClient, tradovate_sim: SimulatorServer, sim_settings: Settings
) -> None:
    tradovate_sim.configure(token_lifetime_s=5.0)  # below the 10 s minimum validity
    await client.tokens.current()
    tradovate_sim.configure(token_lifetime_s=5400.0)
    results = _run_processes(sim_settings)
    stats = tradovate_sim.stats()
    assert stats["logins"] == 2  # the parent's unusable one, then exactly one for everyone
    assert stats["renewals"] == 0
    assert len({h for r in results for h in r["distinct"]}) == 1  # type: ignore[attr-defined]
