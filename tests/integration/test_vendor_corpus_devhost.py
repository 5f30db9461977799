"""The vendor corpus through the real webhook over the dev host, with real Redis and Azurite.

Every case of ``tests/unit/alerts/vendor_corpus.py`` is posted, many at a time, to
``/api/webhook/{strategy}``: an accepted one must answer 202 and queue, for each account, a
message whose signal reads as the case expects; a refused one must answer 400 with its code.
Then a CrossTrade rate-limit group: one alert per window, and the next window trades.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from local.services import AzuriteTables, ReadyLineProcess, RedisServer
from shared.domain.codec import decode
from shared.domain.signal import Signal
from tests.integration.test_webhook_devhost import drain
from tests.unit.alerts.vendor_corpus import (
    ACCEPTED,
    CASES,
    SECRET,
    SECRET_ENV,
    Case,
    account_names,
    reading,
    strategies_toml,
)

pytestmark = pytest.mark.integration

KEY = "vendor-corpus-function-key"
WEBHOOK_APP = Path(__file__).resolve().parent.parent / "fixtures" / "webhook_app"
CONCURRENCY = 16


@pytest.fixture(scope="module")
def stack(
    redis_server: RedisServer, azurite: AzuriteTables, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    redis.Redis.from_url(redis_server.url).flushdb()
    tmp = tmp_path_factory.mktemp("vendor-corpus")
    (tmp / "strategies.toml").write_text(strategies_toml())
    env = {
        **os.environ, SECRET_ENV: SECRET,
        "QUEUE_BACKEND": "local", "REDIS_URL": redis_server.url, "SIGNALS_QUEUE_NAME": "signals",
        "TablesConnection": azurite.connection_string, "TABLE_PREFIX": "vendorcorpus",
        "STRATEGIES_FILE": str(tmp / "strategies.toml"), "DEVHOST_FUNCTION_KEYS": KEY,
        "TRADOVATE_USERNAME": "sim-trader", "TRADOVATE_PASSWORD": "sim-password",
        "TRADOVATE_CID": "8", "TRADOVATE_SEC": "sim-api-secret", "TRADOVATE_DEVICE_ID": "tests",
        "LOG_LEVEL": "WARNING",
    }  # fmt: skip
    command = [sys.executable, "-m", "local.devhost", "--port", "0", "--app-root"]
    command += [str(WEBHOOK_APP), "--settings", str(tmp / "none.json")]
    proc = ReadyLineProcess(command, env=env)
    ready = proc.start()
    yield {"url": str(ready["functions"]), "redis": redis_server.url}
    assert proc.stop() == 0, proc.log_text[-3000:]
    assert "Unclosed" not in proc.log_text, proc.log_text[-3000:]


async def post_all(url: str, cases: list[Case]) -> list[httpx.Response]:
    """Post every case, ``CONCURRENCY`` at a time, and return the answers in order."""
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(timeout=10) as client:

        async def one(case: Case) -> httpx.Response:
            async with limit:
                endpoint = f"{url}/api/webhook/{case.strategy}?code={KEY}"
                return await client.post(endpoint, content=case.body.encode())

        return list(await asyncio.gather(*(one(case) for case in cases)))


def test_vendor_corpus_through_the_webhook_reads_or_refuses_every_alert(
    stack: dict[str, str],
) -> None:
    started = time.perf_counter()
    answers = asyncio.run(post_all(stack["url"], CASES))
    accepted: dict[str, Case] = {}
    wrong = []
    for case, answer in zip(CASES, answers, strict=True):
        body = answer.json()
        outcome = (answer.status_code, body.get("status") or body.get("code"))
        if case.expect is not None and outcome != (202, "accepted"):
            wrong.append((case.name, answer.status_code, answer.text))
        elif case.expect is not None:
            accepted[body["id"]] = case
        elif outcome != (400, case.code):
            wrong.append((case.name, answer.status_code, answer.text))
        assert answer.status_code < 500, (case.name, answer.text)
    assert not wrong, wrong
    queued = asyncio.run(drain(stack["redis"]))
    elapsed_s = time.perf_counter() - started
    assert set(queued) == set(accepted)
    everyone = len(account_names())
    for signal_id, case in accepted.items():
        messages = queued[signal_id]
        assert case.expect is not None
        wanted = len(case.expect.get("accounts", [])) or everyone
        assert len(messages) == wanted, case.name
        for envelope in messages:
            assert reading(decode(Signal, envelope["signal"])) == case.expect, case.name
    print(f"{len(CASES)} vendor alerts through the dev host in {elapsed_s:.1f} s")
    assert len(CASES) >= 150
    assert len(accepted) == len(ACCEPTED)


def _group_alert(n: int, window: str) -> str:
    return (
        f"key={SECRET}; command=PLACE; account=Sim101; instrument=MNQ1!; action=BUY; qty=1; "
        f"order_type=MARKET; tif=DAY; rate_limit={window}; id=devhost-group; note=try-{n};"
    )


def test_crosstrade_rate_limit_group_lets_one_alert_a_window_and_trades_after_it(
    stack: dict[str, str],
) -> None:
    def send(n: int) -> dict[str, Any]:
        answer = httpx.post(
            f"{stack['url']}/api/webhook/open?code={KEY}", content=_group_alert(n, "1/2")
        )
        assert answer.status_code == 202, answer.text
        return dict(answer.json())

    first, second = send(1), send(2)
    assert (first["status"], second["status"]) == ("accepted", "duplicate")
    assert second["id"] == first["id"]
    time.sleep(2.2)  # the group's window is over: a later alert of the group trades
    third = send(3)
    assert third["status"] == "accepted"
    assert third["id"] != first["id"]
    queued = asyncio.run(drain(stack["redis"]))
    assert {first["id"], third["id"]} <= set(queued)
