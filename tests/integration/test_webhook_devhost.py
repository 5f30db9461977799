"""Every corpus alert through the real webhook over the dev host, real Redis and Azurite."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis

from local.services import AzuriteTables, ReadyLineProcess, RedisServer
from shared.adapters.local_queue import LocalQueue
from shared.adapters.tables_common import build_table_service
from shared.adapters.tables_journal import TablesAlertJournal
from shared.domain.codec import decode
from shared.domain.signal import Signal
from tests.unit.alerts.summary import summarise
from tests.unit.alerts.test_corpus import ACCEPTED, CORPUS, REFUSED

pytestmark = pytest.mark.integration

KEY = "corpus-function-key"
WEBHOOK_APP = Path(__file__).resolve().parent.parent / "fixtures" / "webhook_app"
DEFAULT_SECRET = "test-secret-default"


def secret_env(secret: str) -> str:
    return "WEBHOOK_" + re.sub(r"[^A-Z0-9]", "_", secret.upper())


def strategy_id(secret: str) -> str:
    return "s-" + re.sub(r"[^a-z0-9]", "-", secret.lower())


def with_secret(case: dict[str, Any]) -> tuple[str, str]:
    """Return the body to send and the secret it carries (adding one where it has none)."""
    raw, secret = case["raw"], case.get("secret")
    if secret:
        return raw, secret
    if raw.lstrip().startswith("{"):
        data = json.loads(raw)
        data["secret"] = DEFAULT_SECRET
        return json.dumps(data), DEFAULT_SECRET
    separator = ";" if ";" in raw and "\n" not in raw.strip() else "\n"
    return f"{raw.rstrip()}{separator}secret={DEFAULT_SECRET}", DEFAULT_SECRET


def account_names() -> set[str]:
    names = {"DEMO10001"}
    for case in ACCEPTED:
        for selector in case["signal"].get("accounts", []):
            names.add(selector.split(" x")[0])  # the summary writes "NAME" or "NAME xMULT"
    return names


def write_strategies(path: Path) -> dict[str, str]:
    secrets = {DEFAULT_SECRET} | {c["secret"] for c in CORPUS if c.get("secret")}
    accounts = ", ".join(f'{{ name = "{n}" }}' for n in sorted(account_names()))
    blocks = ["version = 1"]
    for secret in sorted(secrets):
        sid = strategy_id(secret)
        blocks.append(
            f'[strategies.{sid}]\nsecret = {{ env = "{secret_env(secret)}" }}\n'
            f"accounts = [{accounts}]\n"
            f"[strategies.{sid}.webhook]\nrate_limit_per_min = 1000\ndedupe_window_s = 10\n"
            "ip_allowlist = true\n"
        )
    path.write_text("\n".join(blocks))
    return {secret_env(s): s for s in secrets}


@pytest.fixture(scope="module")
def stack(
    redis_server: RedisServer, azurite: AzuriteTables, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    redis.Redis.from_url(redis_server.url).flushdb()
    tmp = tmp_path_factory.mktemp("corpus")
    secrets = write_strategies(tmp / "strategies.toml")
    env = {
        **os.environ, **secrets,
        "QUEUE_BACKEND": "local", "REDIS_URL": redis_server.url, "SIGNALS_QUEUE_NAME": "signals",
        "TablesConnection": azurite.connection_string, "TABLE_PREFIX": "corpus",
        "STRATEGIES_FILE": str(tmp / "strategies.toml"),
        "DEVHOST_FUNCTION_KEYS": KEY, "WEBHOOK_EXTRA_ALLOWED_IPS": "127.0.0.1",
        "TRADOVATE_USERNAME": "sim-trader", "TRADOVATE_PASSWORD": "sim-password",
        "TRADOVATE_CID": "8", "TRADOVATE_SEC": "sim-api-secret", "TRADOVATE_DEVICE_ID": "tests",
        "LOG_LEVEL": "WARNING",
    }  # fmt: skip
    proc = ReadyLineProcess(
        [
            sys.executable,
            "-m",
            "local.devhost",
            "--port",
            "0",
            "--app-root",
            str(WEBHOOK_APP),
            "--settings",
            str(tmp / "none.json"),
        ],
        env=env,
    )
    ready = proc.start()
    yield {
        "url": str(ready["functions"]),
        "redis": redis_server.url,
        "tables": azurite.connection_string,
    }
    assert proc.stop() == 0, proc.log_text[-3000:]
    assert "Unclosed" not in proc.log_text, proc.log_text[-3000:]  # its clients were closed


async def drain(redis_url: str) -> dict[str, list[dict[str, Any]]]:
    """Take every message off the local signals queue, grouped by signal id."""
    queue = LocalQueue(aioredis.Redis.from_url(redis_url), "signals")
    found: dict[str, list[dict[str, Any]]] = {}
    while (session := await queue.accept_session("test-drain")) is not None:
        while (message := await queue.receive(session, "test-drain")) is not None:
            envelope = json.loads(message.body)
            envelope["_message_id"], envelope["_session_id"] = (
                message.message_id,
                message.session_id,
            )
            found.setdefault(envelope["signal_id"], []).append(envelope)
            await queue.complete(message)
        await queue.release_session(session, "test-drain")
    await queue.close()
    return found


def post(stack: dict[str, str], strategy: str, body: str) -> httpx.Response:
    return httpx.post(
        f"{stack['url']}/api/webhook/{strategy}?code={KEY}", content=body.encode(), timeout=10
    )


def test_corpus_through_the_webhook_gives_signals_codes_and_no_5xx(stack: dict[str, str]) -> None:
    accepted: dict[str, dict[str, Any]] = {}
    for case in ACCEPTED:
        body, secret = with_secret(case)
        response = post(stack, strategy_id(secret), body)
        if "webhook_refuses" in case:  # read by the parser, refused by the webhook's checks
            assert response.status_code == 400, (case["name"], response.text)
            assert response.json()["code"] == case["webhook_refuses"], case["name"]
            continue
        assert response.status_code == 202, (case["name"], response.text)
        assert float(response.headers["X-Process-Time-ms"]) >= 0
        result = response.json()
        if result["status"] == "accepted":
            accepted[result["id"]] = case
    for case in REFUSED:
        response = post(stack, strategy_id(DEFAULT_SECRET), case["raw"])
        assert response.status_code == 400, (case["name"], response.text)
        assert response.json()["code"] == case["error"]["code"], case["name"]
    queued = asyncio.run(drain(stack["redis"]))
    assert set(queued) == set(accepted)
    for signal_id, case in accepted.items():
        messages = queued[signal_id]
        wanted = case["signal"].get("accounts") or [{"account": "x"}] * len(account_names())
        assert len(messages) == len(wanted), case["name"]
        expected = {k: v for k, v in case["signal"].items() if k != "extras"}
        for envelope in messages:
            assert envelope["_message_id"] == f"{signal_id}:{envelope['account']}"
            signal = decode(Signal, envelope["signal"])
            assert envelope["_session_id"] == f"{envelope['account']}-{signal.symbol.root}"
            assert summarise(signal) == expected, case["name"]


def test_webhook_without_function_key_is_401_and_unknown_strategy_401(
    stack: dict[str, str],
) -> None:
    body, _ = with_secret(ACCEPTED[0])
    assert (
        httpx.post(
            f"{stack['url']}/api/webhook/{strategy_id(DEFAULT_SECRET)}", content=body
        ).status_code
        == 401
    )
    response = post(stack, "no-such-strategy", body)
    assert (response.status_code, response.json()["code"]) == (401, "unauthorized")


def test_repeated_alert_is_duplicate_and_all_three_are_journaled(stack: dict[str, str]) -> None:
    body = json.dumps(
        {
            "secret": DEFAULT_SECRET,
            "action": "buy",
            "ticker": "ES1!",
            "quantity": 1,
            "id": "journal-1",
        }
    )
    sid = strategy_id(DEFAULT_SECRET)
    first = post(stack, sid, body).json()
    second = post(stack, sid, body).json()
    refused = post(stack, sid, body.replace(DEFAULT_SECRET, "wrong-secret"))
    assert (first["status"], second["status"], second["id"]) == (
        "accepted",
        "duplicate",
        first["id"],
    )
    assert refused.status_code == 401

    async def read() -> tuple[Any, Any]:
        journal = TablesAlertJournal(
            lambda: build_table_service(
                service_uri=None, connection_string=stack["tables"], client_id=None
            ),
            "corpusAlerts",
        )
        record = await journal.get_alert(sid, first["id"])
        dups = await journal.duplicates_of(sid, first["id"])
        await journal.close()
        return record, dups

    record, dups = asyncio.run(read())
    assert record is not None
    assert record.status == "accepted"
    assert record.messages == len(account_names())
    assert DEFAULT_SECRET not in record.raw_redacted
    assert record.client_ip == "127.0.0.1"
    assert [d.status for d in dups] == ["duplicate"]
