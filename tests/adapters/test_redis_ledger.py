"""The Redis ledger, its outbox and the mirror to Table storage, against real Redis and Azurite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from local.services import AzuriteTables, free_port
from shared.adapters.redis_ledger import DIRTY, LedgerOutbox, RedisLedger, signal_key
from shared.adapters.tables_common import build_table_service
from shared.adapters.tables_ledger import TablesLedger
from shared.domain.errors import DependencyUnavailable
from shared.ports import LedgerEntry
from shared.services.ledger_mirror import LedgerMirror

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 20, 14, 30, 0, 123456, tzinfo=UTC)


def _row(
    row_key: str, status: str = "claimed", signal: str = "sig-1", **fields: object
) -> LedgerEntry:
    return LedgerEntry(signal, row_key, status, fields)  # type: ignore[arg-type]


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_url)
    yield c
    await c.aclose()


@pytest.fixture
async def archive(azurite: AzuriteTables) -> AsyncIterator[TablesLedger]:
    name = f"led{free_port()}"  # a fresh table per test
    table = TablesLedger(
        lambda: build_table_service(
            service_uri=None, connection_string=azurite.connection_string, client_id=None
        ),
        name,
    )
    yield table
    await table.close()


def _by_key(rows: list[LedgerEntry]) -> dict[str, LedgerEntry]:
    return {r.row_key: r for r in rows}


async def test_claim_all_writes_every_row_or_none(client: aioredis.Redis) -> None:
    ledger = RedisLedger(client, ttl_s=600)
    assert await ledger.claim_all([_row("exec:A", "planned"), _row("tb-1"), _row("tb-2")])
    # A second delivery sharing one row writes nothing, not even its new row.
    assert not await ledger.claim_all([_row("exec:A", "planned"), _row("tb-3")])
    assert sorted(_by_key(await ledger.rows("sig-1"))) == ["exec:A", "tb-1", "tb-2"]
    assert 0 < await client.ttl(signal_key("sig-1")) <= 600


async def test_concurrent_claims_of_one_signal_admit_exactly_one(client: aioredis.Redis) -> None:
    ledger = RedisLedger(client, ttl_s=600)
    won = await asyncio.gather(
        *(ledger.claim_all([_row("exec:A", "planned", n=n), _row("tb-1")]) for n in range(20))
    )
    assert won.count(True) == 1


async def test_claim_returns_the_existing_row_with_its_types(client: aioredis.Redis) -> None:
    ledger = RedisLedger(client, ttl_s=600)
    first = _row(
        "tb-1",
        order_id=2**62 + 1,  # beyond Lua's number precision: must survive untouched
        automated=True,
        closed=False,
        at=AT,
        text='Räumung: 10:30 / "quoted" ',
        absent=None,
    )
    assert await ledger.claim(first) is None
    existing = await ledger.claim(_row("tb-1", order_id=5))
    assert existing is not None
    assert existing.fields == {
        "order_id": 2**62 + 1,
        "automated": True,
        "closed": False,
        "at": AT,
        "text": 'Räumung: 10:30 / "quoted" ',
    }


async def test_update_merges_fields_and_a_fill_outranks_a_late_acknowledgement(
    client: aioredis.Redis,
) -> None:
    ledger = RedisLedger(client, ttl_s=600)
    await ledger.claim_all([_row("exec:A", "planned", plan="p"), _row("tb-1", leg="entry")])
    # The worker sees the fill before the executor records the broker's answer.
    await ledger.update(_row("tb-1", "filled", fill_price="21000.25", filled_qty=1))
    await ledger.update_all(
        [_row("tb-1", "acknowledged", order_id=77), _row("exec:A", "replan", plan="")]
    )
    rows = _by_key(await ledger.rows("sig-1"))
    assert rows["tb-1"].status == "filled"
    assert rows["tb-1"].fields == {
        "leg": "entry", "fill_price": "21000.25", "filled_qty": 1, "order_id": 77
    }  # fmt: skip
    # Summaries move freely: replan, planned again, done.
    assert rows["exec:A"].status == "replan"
    await ledger.update(_row("exec:A", "done"))
    assert _by_key(await ledger.rows("sig-1"))["exec:A"].status == "done"


async def test_update_with_a_partial_fill_ranks_between_the_answer_and_the_last_fill(
    client: aioredis.Redis,
) -> None:
    ledger = RedisLedger(client, ttl_s=600)
    await ledger.claim_all([_row("exec:A", "planned"), _row("tb-1"), _row("tb-2")])

    async def status(row_key: str) -> str:
        return _by_key(await ledger.rows("sig-1"))[row_key].status

    await ledger.update(_row("tb-1", "partially_filled", filled_qty=1))
    await ledger.update(_row("tb-1", "acknowledged", order_id=77))  # the answer, late
    assert await status("tb-1") == "partially_filled"
    await ledger.update(_row("tb-1", "filled", filled_qty=3))
    await ledger.update(_row("tb-1", "partially_filled", filled_qty=2))  # a retried write
    assert await status("tb-1") == "filled"
    # The rest of a partly filled order cancelled: cancelled, with what did fill kept.
    await ledger.update(_row("tb-2", "partially_filled", filled_qty=1))
    await ledger.update(_row("tb-2", "cancelled", cancelled_at=AT))
    rows = _by_key(await ledger.rows("sig-1"))
    assert (rows["tb-2"].status, rows["tb-2"].fields["filled_qty"]) == ("cancelled", 1)
    assert rows["tb-1"].fields == {"filled_qty": 3, "order_id": 77}  # behind: adds, no undo


async def test_update_of_a_forgotten_signal_creates_the_row(client: aioredis.Redis) -> None:
    ledger = RedisLedger(client, ttl_s=600)
    await ledger.update(_row("tb-9", "cancelled", signal="old", cancelled_at=AT))
    [row] = await ledger.rows("old")
    assert (row.status, row.fields) == ("cancelled", {"cancelled_at": AT})


async def test_rows_fall_back_to_table_storage_once_redis_forgot(
    client: aioredis.Redis, archive: TablesLedger
) -> None:
    await archive.update_all([_row("exec:A", "done", signal="gone", finished_at=AT)])
    ledger = RedisLedger(client, ttl_s=600, archive=archive)
    [row] = await ledger.rows("gone")
    assert (row.row_key, row.status, row.fields["finished_at"]) == ("exec:A", "done", AT)
    assert await RedisLedger(client, ttl_s=600).rows("gone") == []


async def test_ledger_keys_share_one_hash_slot() -> None:
    assert key_slot(signal_key("a").encode()) == key_slot(DIRTY.encode())
    assert key_slot(signal_key("b").encode()) == key_slot(DIRTY.encode())


async def test_redis_down_raises_dependency_unavailable() -> None:
    dead = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    ledger = RedisLedger(dead, ttl_s=600)
    with pytest.raises(DependencyUnavailable):
        await ledger.claim_all([_row("tb-1")])
    with pytest.raises(DependencyUnavailable):
        await ledger.rows("sig-1")
    with pytest.raises(DependencyUnavailable):
        await LedgerOutbox(dead).lease(10, 30)
    await dead.aclose()


async def test_outbox_leases_each_changed_signal_once_until_released(
    client: aioredis.Redis,
) -> None:
    ledger, outbox = RedisLedger(client, ttl_s=600), LedgerOutbox(client)
    await ledger.claim_all([_row("exec:A", "planned", signal="s1")])
    await ledger.claim_all([_row("exec:A", "planned", signal="s2")])
    leased = await outbox.lease(10, 30)
    assert sorted(s for s, _, _ in leased) == ["s1", "s2"]
    assert await outbox.lease(10, 30) == []  # leased: no second copier gets them
    versions = {s: v for s, _, v in leased}
    # s2 changes while its copy is being written: it stays due, at once.
    await ledger.update(_row("exec:A", "done", signal="s2"))
    await outbox.release([("s1", versions["s1"]), ("s2", versions["s2"])])
    [(signal, rows, _)] = await outbox.lease(10, 30)
    assert (signal, [r.status for r in rows]) == ("s2", ["done"])
    assert await client.zcard(DIRTY) == 1


async def test_outbox_forgets_a_signal_whose_rows_expired(client: aioredis.Redis) -> None:
    ledger, outbox = RedisLedger(client, ttl_s=600), LedgerOutbox(client)
    await ledger.claim_all([_row("exec:A", "planned", signal="s1")])
    await client.delete(signal_key("s1"))
    [(signal, rows, version)] = await outbox.lease(10, 30)
    assert (signal, rows, version) == ("s1", [], None)
    await outbox.release([(signal, version)])
    assert await client.zcard(DIRTY) == 0


async def test_mirror_copies_changed_signals_to_table_storage_once(
    client: aioredis.Redis, archive: TablesLedger
) -> None:
    ledger = RedisLedger(client, ttl_s=600)
    mirror = LedgerMirror(LedgerOutbox(client), archive, batch=2)
    for n in range(5):
        await ledger.claim_all(
            [_row("exec:A", "planned", signal=f"s{n}"), _row("tb-1", signal=f"s{n}")]
        )
    await ledger.update(_row("tb-1", "acknowledged", signal="s0", order_id=70, acked_at=AT))
    run = await mirror.drain()
    assert (run.mirrored, run.rows, run.failed) == (5, 10, 0)
    [entry, summary] = sorted(await archive.rows("s0"), key=lambda r: r.row_key != "tb-1")
    assert (entry.status, entry.fields["order_id"], entry.fields["acked_at"]) == (
        "acknowledged", 70, AT
    )  # fmt: skip
    assert summary.status == "planned"
    assert (await mirror.drain()).mirrored == 0
    # Only what changed is copied again, and Table storage ends in the latest state.
    await ledger.update(_row("exec:A", "done", signal="s3"))
    assert (await mirror.drain()).mirrored == 1
    assert {r.row_key: r.status for r in await archive.rows("s3")}["exec:A"] == "done"


async def test_mirror_keeps_signals_while_table_storage_is_down(
    client: aioredis.Redis, archive: TablesLedger, azurite: AzuriteTables
) -> None:
    ledger = RedisLedger(client, ttl_s=600)
    nowhere = azurite.connection_string.replace(f":{azurite.port}/", f":{free_port()}/")
    down = TablesLedger(
        lambda: build_table_service(service_uri=None, connection_string=nowhere, client_id=None),
        "unreachable",
    )
    await ledger.claim_all([_row("exec:A", "planned", signal="s1")])
    run = await LedgerMirror(LedgerOutbox(client), down, lease_s=0.2).drain()
    await down.close()
    assert (run.mirrored, run.failed) == (0, 1)
    assert await client.zcard(DIRTY) == 1
    await asyncio.sleep(0.3)  # the lease ends; a healthy copier takes over
    run = await LedgerMirror(LedgerOutbox(client), archive).drain()
    assert (run.mirrored, run.failed) == (1, 0)
    assert [r.status for r in await archive.rows("s1")] == ["planned"]


async def test_mirror_waits_for_a_signal_to_settle_then_copies_it_once(
    client: aioredis.Redis, archive: TablesLedger
) -> None:
    ledger = RedisLedger(client, ttl_s=600)
    mirror = LedgerMirror(LedgerOutbox(client), archive, settle_s=0.3)
    await ledger.claim_all([_row("exec:A", "planned", signal="s1"), _row("tb-1", signal="s1")])
    assert (await mirror.drain()).mirrored == 0  # still being written
    await ledger.update(_row("tb-1", "acknowledged", signal="s1", order_id=7))
    await ledger.update(_row("exec:A", "done", signal="s1"))
    await asyncio.sleep(0.35)
    run = await mirror.drain()
    assert (run.mirrored, run.rows) == (1, 2)  # the claim and both answers, in one copy
    assert {r.row_key: r.status for r in await archive.rows("s1")} == {
        "exec:A": "done", "tb-1": "acknowledged"
    }  # fmt: skip
