"""Flatten: flat signals on the queue, one per held contract, exactly like alerts."""

from __future__ import annotations

import json

import pytest

from shared.domain.broker import Position
from shared.domain.clock import ManualClock
from shared.domain.errors import InvalidRequest, NotFound
from shared.domain.signal import Intent
from shared.services.envelope import from_body
from shared.services.ops.broker_state import BrokerState
from shared.services.ops.flatten import Flatten, read_flatten, signal_id_for
from shared.services.ops.requests import Actor, Scope, ScopeKind
from tests.unit.services.ops.fakes import (
    NOW,
    FakeBrokerReads,
    FakeJournal,
    FakeQueue,
    FakeStore,
    book,
    documents,
    live,
    order,
)

ACTOR = Actor("master", "abcdef012345", None)
MNQ, ES = 3570918, 3570919


def flatten() -> tuple[Flatten, FakeStore, FakeBrokerReads, FakeQueue, FakeJournal]:
    store, broker, queue, journal = FakeStore(), FakeBrokerReads(), FakeQueue(), FakeJournal()
    clock = ManualClock(NOW)
    state = BrokerState(book(), store, broker, clock)
    return (
        Flatten(book(), state, broker, queue, journal, store, clock),
        store,
        broker,
        queue,
        journal,
    )


async def test_flatten_of_an_account_from_the_cache_queues_one_flat_signal_per_contract() -> None:
    service, store, broker, queue, journal = flatten()
    live(store)
    documents(
        store,
        10001,
        positions={"positions": {str(MNQ): {"contract": "MNQZ6", "net_pos": 2},
                                 str(ES): {"contract": "ESZ6", "net_pos": 0}}},
        orders={"orders": [{"contract_id": ES, "contract": "ESZ6", "order_id": 9}]},
    )  # fmt: skip
    result = await service.flatten(Scope(ScopeKind.ACCOUNT, "DEMO1"), "halt", ACTOR, "req-1")
    assert result["source"] == "cache"
    assert [(q["contract"], q["net_pos"], q["working_orders"]) for q in result["queued"]] == [
        ("MNQZ6", 2, 0),
        ("ESZ6", 0, 1),
    ]
    envelopes = [from_body(m.body) for m in queue.sent]
    assert {e.signal.intent for e in envelopes} == {Intent.FLAT}
    assert [m.session_id for m in queue.sent] == ["DEMO1-MNQ", "DEMO1-ES"]
    first = envelopes[0]
    assert first.signal_id == signal_id_for("req-1", "DEMO1", "MNQZ6")
    assert queue.sent[0].message_id == f"{first.signal_id}:DEMO1"
    assert first.account_id == 10001
    assert first.strategy_id == "killed"  # any of the account's strategies (exits pass)
    assert first.signal.symbol.tradovate_name == "MNQZ6"
    assert [r.alert_format for r in journal.records] == ["ops", "ops"]
    assert json.loads(journal.records[0].raw_redacted)["reason"] == "halt"
    assert broker.calls == []
    channel, event = store.published[-1]
    assert channel == "risk.alert"
    assert event["kind"] == "flatten"
    assert event["signals"] == [e.signal_id for e in envelopes]


async def test_flatten_of_a_strategy_from_rest_names_contracts_and_skips_unknown_ones() -> None:
    service, _, broker, queue, _ = flatten()
    broker.position_list = [Position(1, 10002, MNQ, -3), Position(2, 10003, 999, 1)]
    broker.order_list = [order(5, 10002, MNQ), order(6, 10002, ES, "filled")]
    result = await service.flatten(Scope(ScopeKind.STRATEGY, "scalp"), "eod", ACTOR, None)
    assert result["source"] == "rest"
    assert [(q["account"], q["contract"], q["net_pos"], q["working_orders"])
            for q in result["queued"]] == [("DEMO2", "MNQZ6", -3, 1)]  # fmt: skip
    assert result["skipped"] == [
        {"account": "NOID", "contract_id": 999, "reason": "the contract's name is unknown"}
    ]
    assert len(result["request_id"]) == 32
    assert from_body(queue.sent[0].body).strategy_id == "scalp"
    assert "contract:3570918" in broker.calls


async def test_flatten_with_nothing_held_queues_nothing() -> None:
    service, store, _, queue, _ = flatten()
    live(store)
    for account_id in (10001, 10002, 10003):
        documents(store, account_id, positions={"positions": {}}, orders={"orders": []})
    result = await service.flatten(Scope(ScopeKind.GLOBAL), "check", ACTOR, None)
    assert result["queued"] == []
    assert queue.sent == []


async def test_flatten_skips_accounts_tradovate_does_not_list() -> None:
    service, _, broker, _, _ = flatten()
    broker.account_list = broker.account_list[:2]
    result = await service.flatten(Scope(ScopeKind.GLOBAL), "eod", ACTOR, None)
    assert result["skipped"] == [{"account": "NOID", "reason": "Tradovate lists no such account"}]


async def test_flatten_when_the_journal_fails_still_queues() -> None:
    service, _, broker, queue, journal = flatten()
    journal.fail_writes = True
    broker.position_list = [Position(1, 10001, MNQ, 1)]
    result = await service.flatten(Scope(ScopeKind.ACCOUNT, "DEMO1"), "x", ACTOR, None)
    assert len(result["queued"]) == 1
    assert len(queue.sent) == 1


async def test_flatten_with_unknown_scope_is_not_found() -> None:
    service, _, _, _, _ = flatten()
    with pytest.raises(NotFound):
        await service.flatten(Scope(ScopeKind.STRATEGY, "nope"), "x", ACTOR, None)
    with pytest.raises(NotFound):
        await service.flatten(Scope(ScopeKind.ACCOUNT, "nope"), "x", ACTOR, None)


def test_read_flatten_requires_a_scope_and_a_reason() -> None:
    read = read_flatten(b'{"account": "DEMO1", "reason": "r", "request_id": "id-1"}', ACTOR)
    assert read.scope == Scope(ScopeKind.ACCOUNT, "DEMO1")
    assert read.request_id == "id-1"
    with pytest.raises(InvalidRequest):
        read_flatten(b'{"reason": "r"}', ACTOR)
    with pytest.raises(InvalidRequest):
        read_flatten(b'{"scope": "global"}', ACTOR)
