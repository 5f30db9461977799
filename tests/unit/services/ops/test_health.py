"""Health: each part's status and latency; not ready only when a required part is down."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from shared import redis_keys as keys
from shared.domain.clock import ManualClock
from shared.domain.errors import DependencyUnavailable
from shared.services.ops.health import (
    JOURNAL_PENDING,
    LEDGER_DIRTY,
    Health,
    HealthSettings,
    maps_check,
    token_check,
    worker_check,
)
from tests.unit.services.ops.fakes import NOW, FakeStore, book, live
from tests.unit.services.ops.test_market import contract_map

SETTINGS = HealthSettings(
    version="0.1.0",
    queue_backend="servicebus",
    tradovate_base_url="https://demo.tradovateapi.com/v1",
    token_key="tb:tradovate:abc:token",
    captcha_key="tb:tradovate:abc:captcha",
    renew_margin_s=900,
    paper=True,
    table_prefix="tb",
    timeout_s=0.2,
)


class Probe:
    def __init__(self, error: Exception | None = None, delay_s: float = 0) -> None:
        self.error, self.delay_s, self.calls = error, delay_s, 0

    async def probe(self) -> None:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if self.error is not None:
            raise self.error


def token(expires_in_s: float) -> str:
    expiry = NOW + timedelta(seconds=expires_in_s)
    return json.dumps({"accessToken": "SECRET-TOKEN", "expirationTime": expiry.isoformat()})


def healthy_store() -> FakeStore:
    store = FakeStore()
    live(store)
    store.strings[SETTINGS.token_key] = token(3600)
    store.strings[keys.contract_map("MNQ")] = contract_map()
    store.strings[keys.contract_map("ES")] = contract_map("ES")
    return store


def health(store: FakeStore, tables: Probe | None = None, queue: Probe | None = None) -> Health:
    return Health(book(), store, tables or Probe(), queue, ManualClock(NOW), SETTINGS)


async def test_ready_with_every_part_up_is_ready_and_shows_no_secret() -> None:
    ok, report = await health(healthy_store(), queue=Probe()).ready()
    assert ok is True
    assert report["status"] == "ready"
    checks = report["checks"]
    assert set(checks) == {"redis", "tables", "queue", "token", "contracts", "worker"}
    assert all(c["status"] == "ok" for c in checks.values())
    assert all("latency_ms" in c for c in checks.values())
    assert checks["token"]["expires_in_s"] == 3600
    assert "SECRET-TOKEN" not in json.dumps(report)


async def test_ready_with_tables_down_is_not_ready_and_names_it() -> None:
    tables = Probe(DependencyUnavailable("Table storage did not answer: ServiceRequestError"))
    ok, report = await health(healthy_store(), tables, Probe()).ready()
    assert ok is False
    assert report["status"] == "not_ready"
    assert report["failing"] == ["tables"]
    assert report["code"] == "not_ready"
    assert "tables" in report["message"]
    assert "ServiceRequestError" in report["checks"]["tables"]["detail"]


async def test_ready_with_a_hanging_queue_times_out_and_is_not_ready() -> None:
    slow = Probe(DependencyUnavailable("late"), delay_s=0.3)
    ok, report = await health(healthy_store(), queue=slow).ready()
    assert ok is False
    assert report["checks"]["queue"]["detail"] == "no answer within 0.2 s"
    await asyncio.sleep(0.2)  # the abandoned probe finishes in the background, quietly
    assert slow.calls == 1


async def test_ready_with_redis_down_marks_what_it_holds_unknown() -> None:
    store = healthy_store()
    store.fail = DependencyUnavailable("Redis could not be reached: ConnectionError")
    ok, report = await health(store, queue=None).ready()
    assert ok is False
    assert report["failing"] == ["redis", "queue"]  # the local queue lives in Redis
    assert report["checks"]["worker"]["status"] == "unknown"


async def test_ready_without_worker_or_token_is_degraded_not_down() -> None:
    store = healthy_store()
    del store.strings[keys.WORKER_HEARTBEAT]
    del store.strings[SETTINGS.token_key]
    ok, report = await health(store, queue=Probe()).ready()
    assert ok is True
    assert report["status"] == "degraded"
    assert report["checks"]["worker"]["status"] == "down"
    assert report["checks"]["token"]["status"] == "down"


async def test_detailed_adds_environment_backlogs_and_trading() -> None:
    store = healthy_store()
    store.lists[JOURNAL_PENDING] = ["row"]
    store.zsets[LEDGER_DIRTY] = 3
    store.strings[keys.KILL_GLOBAL] = "halt"
    ok, report = await health(store, queue=Probe()).detailed()
    assert ok is True
    assert report["environment"]["tradovate_host"] == "demo.tradovateapi.com"
    assert report["backlog"] == {"ledger_unmirrored": 3, "journal_pending": 1}
    assert report["trading"]["state"] == "paused"
    assert report["strategies"] == {"count": 4, "enabled": 2, "accounts": 3}


async def test_detailed_with_redis_down_has_no_backlog() -> None:
    store = healthy_store()
    store.fail = DependencyUnavailable("down")
    ok, report = await health(store, queue=Probe()).detailed()
    assert ok is False
    assert "backlog" not in report


def test_token_check_judges_expiry_and_suspension() -> None:
    assert token_check(token(600), None, NOW, 900)["status"] == "degraded"
    assert token_check(token(-5), None, NOW, 900)["status"] == "down"
    assert token_check("{}", None, NOW, 900)["status"] == "down"
    assert "captcha" in token_check(token(3600), "1", NOW, 900)["detail"]


def test_maps_check_is_as_bad_as_its_worst_root() -> None:
    stale = contract_map(updated=NOW - timedelta(hours=3))
    found = maps_check(["ES", "MNQ", "NQ"], [contract_map("ES"), stale, None], NOW)
    assert found["status"] == "degraded"
    assert found["roots"]["ES"]["status"] == "ok"
    assert found["roots"]["MNQ"]["detail"] == "stale"
    assert found["roots"]["NQ"]["detail"].startswith("missing")
    assert maps_check([], [], NOW)["status"] == "ok"


def test_worker_check_reads_sync_and_heartbeat_age() -> None:
    beat = json.dumps({"at": (NOW - timedelta(seconds=30)).isoformat(), "state": "live"})
    assert worker_check(beat, "synced", NOW)["detail"] == "the heartbeat is late"
    assert worker_check(beat, "syncing", NOW)["status"] == "degraded"
    assert worker_check("not json", "synced", NOW)["status"] == "down"
