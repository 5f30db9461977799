"""Trading control: the kill switches as a trader steers them, each change journaled."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared import redis_keys as keys
from shared.domain.clock import ManualClock
from shared.domain.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    TransientBrokerError,
)
from shared.services.ops.control import (
    JOURNAL_KIND,
    ControlRequest,
    Mode,
    TradingControl,
    describe_switch,
    read_control,
)
from shared.services.ops.requests import Actor, Scope, ScopeKind
from tests.unit.services.ops.fakes import NOW, FakeChanges, FakeStore, book

ACTOR = Actor("master", "abcdef012345", "alice")


class RecordingFlattener:
    def __init__(self) -> None:
        self.calls: list[tuple[Scope, str, str | None]] = []

    async def flatten(
        self, scope: Scope, reason: str, actor: Actor, request_id: str | None
    ) -> dict[str, Any]:
        self.calls.append((scope, reason, request_id))
        return {"queued": [{"signal_id": "s1"}], "skipped": []}


def control() -> tuple[TradingControl, FakeStore, FakeChanges, RecordingFlattener]:
    store, changes, flattener = FakeStore(), FakeChanges(), RecordingFlattener()
    return (
        TradingControl(book(), store, changes, flattener, ManualClock(NOW)),
        store,
        changes,
        flattener,
    )


def request(
    scope: Scope, mode: Mode = Mode.PAUSE, reason: str | None = "drawdown"
) -> ControlRequest:
    return ControlRequest(scope=scope, reason=reason, actor=ACTOR, mode=mode)


async def test_status_with_nothing_engaged_is_enabled_except_configured_switches() -> None:
    ctl, store, _, _ = control()
    status = await ctl.status()
    assert status["global"] == {"state": "enabled"}
    assert status["trading"] == "partial"  # "off" and "killed" are off in the strategy file
    by_id = {s["id"]: s for s in status["strategies"]}
    assert by_id["killed"]["config"] == {"enabled": True, "kill_switch": True}
    assert by_id["off"]["config"]["enabled"] is False
    assert [a["name"] for a in status["accounts"]] == ["DEMO1", "DEMO2", "NOID"]
    assert {a["name"]: a["id"] for a in status["accounts"]}["NOID"] is None
    assert store.reads == 1  # one round trip


async def test_disable_pause_of_strategy_engages_switch_journals_and_publishes() -> None:
    ctl, store, changes, flattener = control()
    result = await ctl.disable(request(Scope(ScopeKind.STRATEGY, "trend")))
    assert result["changed"] is True
    assert result["journaled"] is True
    assert result["switch"]["state"] == "paused"
    assert result["switch"]["by"] == {"key": "master", "key_id": "abcdef012345", "actor": "alice"}
    stored = json.loads(store.strings[keys.kill_strategy("trend")])
    assert stored["mode"] == "pause"
    assert stored["reason"] == "drawdown"
    channel, event = store.published[0]
    assert channel == "risk.alert"
    assert event["type"] == "risk.alert"
    assert event["action"] == "paused"
    assert event["scope"] == "strategy:trend"
    assert event["source"] == "ops"
    kind, event_id, payload = changes.rows[0]
    assert kind == JOURNAL_KIND
    assert payload["id"] == event_id
    assert json.loads(store.lists[keys.OPS_CHANGES][0])["id"] == event_id
    assert not flattener.calls
    status = await ctl.status()
    assert status["trading"] == "partial"
    assert status["recent_changes"][0]["action"] == "paused"


async def test_disable_pause_of_paused_scope_changes_and_journals_nothing() -> None:
    ctl, store, changes, _ = control()
    await ctl.disable(request(Scope(ScopeKind.GLOBAL)))
    again = await ctl.disable(request(Scope(ScopeKind.GLOBAL), reason="second"))
    assert again["changed"] is False
    assert again["journaled"] is False
    assert again["switch"]["reason"] == "drawdown"
    assert len(changes.rows) == 1
    assert len(store.published) == 1
    assert (await ctl.status())["trading"] == "paused"


async def test_disable_stop_replaces_a_pause_and_flattens_the_scope() -> None:
    ctl, store, _, flattener = control()
    await ctl.disable(request(Scope(ScopeKind.ACCOUNT, "DEMO1")))
    result = await ctl.disable(request(Scope(ScopeKind.ACCOUNT, "DEMO1"), Mode.STOP, "halt"))
    assert result["changed"] is True
    assert result["previous"]["state"] == "paused"
    assert result["switch"]["state"] == "stopped"
    assert result["flatten"]["queued"]
    assert flattener.calls == [(Scope(ScopeKind.ACCOUNT, "DEMO1"), "halt", None)]
    assert json.loads(store.strings[keys.kill_account("DEMO1")])["mode"] == "stop"


async def test_disable_with_unknown_strategy_or_account_is_not_found() -> None:
    ctl, store, _, _ = control()
    with pytest.raises(NotFound) as info:
        await ctl.disable(request(Scope(ScopeKind.STRATEGY, "nope")))
    assert info.value.code == "unknown_strategy"
    with pytest.raises(NotFound) as info:
        await ctl.disable(request(Scope(ScopeKind.ACCOUNT, "nope")))
    assert info.value.code == "unknown_account"
    assert not store.strings


async def test_disable_when_the_events_table_fails_still_changes_and_says_so() -> None:
    ctl, store, changes, _ = control()
    changes.fail = True
    result = await ctl.disable(request(Scope(ScopeKind.GLOBAL)))
    assert result["changed"] is True
    assert result["journaled"] is False
    assert keys.KILL_GLOBAL in store.strings
    assert store.lists[keys.OPS_CHANGES]


async def test_enable_releases_switch_and_journals_it() -> None:
    ctl, store, changes, _ = control()
    await ctl.disable(request(Scope(ScopeKind.GLOBAL)))
    result = await ctl.enable(request(Scope(ScopeKind.GLOBAL), reason="all clear"))
    assert result["changed"] is True
    assert result["previous"]["state"] == "paused"
    assert keys.KILL_GLOBAL not in store.strings
    assert [row[2]["action"] for row in changes.rows] == ["paused", "enabled"]
    assert store.published[-1][1]["mode"] is None


async def test_enable_of_enabled_scope_is_a_conflict() -> None:
    ctl, _, changes, _ = control()
    with pytest.raises(Conflict) as info:
        await ctl.enable(request(Scope(ScopeKind.ACCOUNT, "DEMO2")))
    assert info.value.code == "not_disabled"
    assert not changes.rows


@pytest.mark.parametrize("strategy", ["killed", "off"])
async def test_enable_of_strategy_off_in_the_file_is_forbidden(strategy: str) -> None:
    ctl, _, _, _ = control()
    with pytest.raises(Forbidden) as info:
        await ctl.enable(request(Scope(ScopeKind.STRATEGY, strategy)))
    assert info.value.code == "disabled_in_config"


async def test_enable_of_strategy_off_in_the_file_releases_switch_with_a_warning() -> None:
    ctl, store, _, _ = control()
    await ctl.disable(request(Scope(ScopeKind.STRATEGY, "killed")))
    result = await ctl.enable(request(Scope(ScopeKind.STRATEGY, "killed")))
    assert "kill_switch" in result["warning"]
    assert keys.kill_strategy("killed") not in store.strings


def test_describe_switch_reads_a_value_written_by_hand_as_a_pause() -> None:
    assert describe_switch("market halt") == {
        "state": "paused", "mode": "pause", "reason": "market halt", "by": None, "at": None,
    }  # fmt: skip
    assert describe_switch('{"mode": "weird"}')["reason"] == '{"mode": "weird"}'


def test_read_control_with_route_mode_and_body() -> None:
    body = b'{"strategy": "trend", "reason": "r", "mode": "stop", "request_id": "abc"}'
    read = read_control(body, ACTOR, mode=None, enabling=False)
    assert read.mode is Mode.STOP
    assert read.request_id == "abc"
    assert read_control(b'{"account": "DEMO1", "reason": "r"}', ACTOR, mode=None,
                        enabling=False).mode is Mode.PAUSE  # fmt: skip
    for raw, mode, enabling in (
        (b'{"scope": "global", "reason": "r", "mode": "stop"}', Mode.PAUSE, False),
        (b'{"scope": "global", "reason": "r", "mode": "halt"}', None, False),
        (b'{"scope": "global", "reason": "r", "mode": "pause"}', None, True),
    ):
        with pytest.raises(InvalidRequest):
            read_control(raw, ACTOR, mode=mode, enabling=enabling)


class FailingFlattener(RecordingFlattener):
    async def flatten(
        self, scope: Scope, reason: str, actor: Actor, request_id: str | None
    ) -> dict[str, Any]:
        raise TransientBrokerError("Tradovate did not answer")


async def test_stop_whose_flatten_fails_keeps_the_switch_and_says_what_to_do() -> None:
    store, changes = FakeStore(), FakeChanges()
    ctl = TradingControl(book(), store, changes, FailingFlattener(), ManualClock(NOW))
    result = await ctl.disable(request(Scope(ScopeKind.GLOBAL), Mode.STOP))
    assert result["code"] == "flatten_failed"
    assert "POST /api/trading/flatten" in result["message"]
    assert result["flatten"]["error"]["code"] == "broker_unavailable"
    assert result["switch"]["state"] == "stopped"
    assert keys.KILL_GLOBAL in store.strings
