"""Sign in to an Entra-only Redis the way Azure Managed Redis wants, end to end.

A real redis-server whose default user is off (``AclRedisServer``) plays the cache with access
keys off; a real ``LocalIdentity`` plays the App Service managed-identity endpoint and the
cache's access policies (each token issued to an identity with a policy becomes its ACL
password until the token expires); the apps' own code path (``DefaultAzureCredential`` →
``ManagedIdentityCredential`` → redis-entraid → redis-py) does the rest.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from functions.http_responses import status_for
from local.identity import REDIS_RESOURCE, LocalIdentity
from local.redis_acl import AclRedisServer
from shared.adapters.redis_connect import build_async_redis, build_sync_redis
from shared.adapters.redis_errors import REDIS_AUTH_FAILED, redis_unavailable
from shared.config import Settings
from shared.container import Container
from shared.domain.errors import DependencyUnavailable
from tests.conftest import make_settings
from worker.app import WorkerApp

pytestmark = pytest.mark.integration

APP_CLIENT = "11111111-aaaa-4000-8000-000000000001"
APP_OBJECT = "0b1ec701-0000-4000-8000-0000000000a1"
STRANGER_CLIENT = "22222222-bbbb-4000-8000-000000000002"
STRANGER_OBJECT = "0b1ec702-0000-4000-8000-0000000000b2"
LIFETIME_S = 2.0
WORKLOAD_S = 4 * LIFETIME_S + 0.5
# The renewal tests judge authentication, not latency: on a busy CI machine a reconnect (token
# request included) can outlast the apps' 1 s socket timeout, which is not what they test.
_PATIENT: dict[str, Any] = {"socket_connect_timeout": 5.0, "socket_timeout": 5.0}


@pytest.fixture(scope="module")
def acl_redis() -> Iterator[AclRedisServer]:
    with AclRedisServer() as server:
        yield server


@pytest.fixture
def admin(acl_redis: AclRedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(acl_redis.admin_url)
    client.flushall()
    client.config_resetstat()
    yield client
    client.close()


def _identity(acl_redis: AclRedisServer, lifetime_s: float = 3600.0) -> LocalIdentity:
    return LocalIdentity(
        identities={APP_CLIENT: APP_OBJECT, STRANGER_CLIENT: STRANGER_OBJECT},
        redis_admin_url=acl_redis.admin_url,
        redis_principals=frozenset({APP_OBJECT}),  # the stranger has no access policy
        token_lifetime_s=lifetime_s,
    )


@pytest.fixture
def identity(acl_redis: AclRedisServer, admin: redis.Redis) -> Iterator[LocalIdentity]:
    with _identity(acl_redis) as served:
        yield served


@pytest.fixture
def short_identity(acl_redis: AclRedisServer, admin: redis.Redis) -> Iterator[LocalIdentity]:
    with _identity(acl_redis, LIFETIME_S) as served:
        yield served


def _entra(
    monkeypatch: pytest.MonkeyPatch, served: LocalIdentity, url: str, client_id: str
) -> Settings:
    for name, value in served.environment(client_id).items():
        monkeypatch.setenv(name, value)
    return make_settings(
        redis_url=url, redis_auth="entra", tables_connection_string="UseDevelopmentStorage=true"
    )


async def _admit(container: Container) -> None:
    await container.alert_gate.admit("s1", 10, None, "sig-1", 60)


# --- (a) today's failure, reproduced --------------------------------------------------------


async def test_alert_gate_with_url_auth_on_entra_only_redis_raises_redis_auth_failed(
    acl_redis: AclRedisServer, admin: redis.Redis
) -> None:
    container = Container(make_settings(redis_url=acl_redis.url))
    with pytest.raises(DependencyUnavailable) as caught:
        await _admit(container)
    await container.redis.aclose()
    assert caught.value.code == REDIS_AUTH_FAILED
    assert "REDIS_AUTH=entra" in caught.value.message
    assert status_for(caught.value) == 503


# --- (b) Entra through the managed-identity endpoint ----------------------------------------


async def test_container_redis_with_entra_signs_in_as_the_identity_object_id(
    acl_redis: AclRedisServer, identity: LocalIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = Container(_entra(monkeypatch, identity, acl_redis.url, APP_CLIENT))
    await _admit(container)
    whoami = await container.redis.acl_whoami()
    await container.redis.aclose()
    assert whoami == APP_OBJECT
    assert identity.issued(REDIS_RESOURCE) >= 1


def test_sync_redis_with_entra_signs_in_as_the_identity_object_id(
    acl_redis: AclRedisServer, identity: LocalIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = build_sync_redis(_entra(monkeypatch, identity, acl_redis.url, APP_CLIENT))
    try:
        assert client.acl_whoami() == APP_OBJECT
        assert client.incr("n") == 1
    finally:
        client.close()


async def test_worker_app_with_entra_signs_in_and_starts(
    acl_redis: AclRedisServer, identity: LocalIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = WorkerApp.from_settings(_entra(monkeypatch, identity, acl_redis.url, APP_CLIENT), port=0)
    assert await app._redis_refusal() is None
    whoami = await app.redis.acl_whoami()
    await app.stop()
    assert whoami == APP_OBJECT


# --- (d) an identity without an access policy -----------------------------------------------


async def test_alert_gate_with_identity_without_access_policy_raises_redis_auth_failed(
    acl_redis: AclRedisServer, identity: LocalIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = Container(_entra(monkeypatch, identity, acl_redis.url, STRANGER_CLIENT))
    with pytest.raises(DependencyUnavailable) as caught:
        await _admit(container)
    await container.redis.aclose()
    assert caught.value.code == REDIS_AUTH_FAILED
    assert caught.value.message == (
        f"Redis refused this app's identity: give object id {STRANGER_OBJECT} an access "
        f"policy assignment on the cache (client id {STRANGER_CLIENT})"
    )
    assert identity.issued(REDIS_RESOURCE) >= 1  # it did get a token; Redis said no


async def test_alert_gate_with_unknown_client_id_raises_redis_auth_failed(
    acl_redis: AclRedisServer, identity: LocalIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = Container(_entra(monkeypatch, identity, acl_redis.url, "not-an-identity"))
    with pytest.raises(DependencyUnavailable) as caught:
        await _admit(container)
    await container.redis.aclose()
    assert caught.value.code == REDIS_AUTH_FAILED
    assert "could not get an Entra token" in caught.value.message
    assert "not-an-identity" in caught.value.message
    assert identity.issued() == 0


async def test_worker_app_with_identity_without_access_policy_reports_it_in_health(
    acl_redis: AclRedisServer, identity: LocalIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = WorkerApp.from_settings(
        _entra(monkeypatch, identity, acl_redis.url, STRANGER_CLIENT), port=0
    )
    port = await app.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = (await reader.read()).decode()
        writer.close()
        started = app.worker.trading is not None
    finally:
        await app.stop()
    assert answer.startswith("HTTP/1.1 503")
    assert f'"code":"{REDIS_AUTH_FAILED}"' in answer
    assert STRANGER_OBJECT in answer
    assert not started


# --- (c) renewal: tokens expire, connections drop, commands keep working --------------------


class _Killer:
    """Force every connection of the identity to reconnect, once a second, from the admin side."""

    def __init__(self, admin: redis.Redis) -> None:
        self._admin = admin
        self._stop = threading.Event()
        self.kills = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.kills += int(self._admin.execute_command("CLIENT", "KILL", "USER", APP_OBJECT))

    def __enter__(self) -> _Killer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


async def _async_workload(client: aioredis.Redis, seconds: float) -> tuple[int, list[Exception]]:
    done, failures = 0, []
    deadline = time.monotonic() + seconds

    async def one(n: int) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            try:
                await client.incr(f"n{n}")
                done += 1
            except Exception as exc:  # counted: the assertion is that there are none
                failures.append(exc)
            await asyncio.sleep(0.005)

    await asyncio.gather(*(one(n) for n in range(4)))
    return done, failures


async def test_async_redis_with_entra_over_four_token_lifetimes_fails_no_command(
    acl_redis: AclRedisServer,
    short_identity: LocalIdentity,
    admin: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = build_async_redis(
        _entra(monkeypatch, short_identity, acl_redis.url, APP_CLIENT), **_PATIENT
    )
    with _Killer(admin) as killer:
        done, failures = await _async_workload(client, WORKLOAD_S)
    await client.aclose()
    assert failures == []
    assert done > 100
    assert killer.kills >= 4  # connections really were dropped and re-made
    assert short_identity.issued(REDIS_RESOURCE) >= 3


def test_sync_redis_with_entra_over_four_token_lifetimes_fails_no_command(
    acl_redis: AclRedisServer,
    short_identity: LocalIdentity,
    admin: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = build_sync_redis(
        _entra(monkeypatch, short_identity, acl_redis.url, APP_CLIENT), **_PATIENT
    )
    done, failures = 0, []
    deadline = time.monotonic() + WORKLOAD_S
    with _Killer(admin) as killer:
        while time.monotonic() < deadline:
            try:
                client.incr("n")
                done += 1
            except redis.RedisError as exc:
                failures.append(exc)
            time.sleep(0.005)
    client.close()
    assert failures == []
    assert done > 100
    assert killer.kills >= 4
    assert short_identity.issued(REDIS_RESOURCE) >= 3


async def test_async_redis_with_entra_reauthenticates_the_live_connection(
    acl_redis: AclRedisServer,
    short_identity: LocalIdentity,
    admin: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No kills: the pooled connection stays up, so renewals must reach it as AUTH commands
    # (a new connection signs in with HELLO ... AUTH instead, counted as cmdstat_hello).
    # redis-py's from_url alone sends none; see shared/adapters/redis_connect.py.
    client = build_async_redis(
        _entra(monkeypatch, short_identity, acl_redis.url, APP_CLIENT), **_PATIENT
    )
    first = await client.client_id()
    deadline = time.monotonic() + WORKLOAD_S
    while time.monotonic() < deadline:
        await client.incr("n")
        await asyncio.sleep(0.01)
    last = await client.client_id()
    await client.aclose()
    auth: dict[str, Any] = admin.info("commandstats").get("cmdstat_auth", {})
    assert last == first  # the same connection throughout: re-authenticated, not replaced
    assert auth.get("calls", 0) >= 3
    assert auth.get("failed_calls", 0) == auth.get("rejected_calls", 0) == 0


async def test_async_redis_with_a_token_that_is_never_renewed_fails_after_expiry(
    acl_redis: AclRedisServer,
    short_identity: LocalIdentity,
    admin: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The negative control for the renewal tests: the same workload and kills, but the client
    # keeps the first token it got. Once it expires, reconnects are refused.
    from azure.identity import DefaultAzureCredential

    _entra(monkeypatch, short_identity, acl_redis.url, APP_CLIENT)
    with DefaultAzureCredential(managed_identity_client_id=APP_CLIENT) as credential:
        token = credential.get_token("https://redis.azure.com/.default").token
    client = aioredis.Redis.from_url(acl_redis.url, username=APP_OBJECT, password=token)
    with _Killer(admin):
        _, failures = await _async_workload(client, LIFETIME_S + 2.5)
    await client.aclose()
    assert failures, "a never-renewed token kept working past its expiry"
    assert redis_unavailable(failures[-1]).code == REDIS_AUTH_FAILED
