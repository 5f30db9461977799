"""The dead-letter use cases against in-memory fakes: listing, replay, purge, journal, watch."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest

from shared.domain.clock import ManualClock
from shared.domain.errors import Conflict, DependencyUnavailable, InvalidRequest, NotFound
from shared.services.ops.dead_letters import (
    JOURNAL_KIND,
    DeadLetterChange,
    DeadLetterCount,
    DeadLetteredMessage,
    DeadLetterOps,
    DeadLetterWatch,
    InDuplicateWindow,
    ListQuery,
    ReplayBatch,
    Replayed,
    Waiting,
    describe,
    read_change,
    read_list_query,
)
from shared.services.ops.requests import Actor
from tests.unit.services.ops.fakes import NOW, FakeChanges

ACTOR = Actor("master", "abcdef012345", "alice")
WINDOW = timedelta(minutes=10)


def letter(seq: int, signal: str = "sig", **kw: Any) -> DeadLetteredMessage:
    body = {"v": 1, "signal_id": f"{signal}{seq}", "strategy": "trend", "account": "DEMO1"}
    values: dict[str, Any] = {
        "sequence_number": seq,
        "message_id": f"{signal}{seq}:DEMO1",
        "session_id": "DEMO1-NQ",
        "body": json.dumps(body).encode(),
        "delivery_count": 5,
        "reason": "MaxDeliveryCountExceeded",
        "description": "TransientBrokerError: order/placeorder failed",
        "enqueued_at": NOW - timedelta(minutes=30),
        "dead_lettered_at": NOW - timedelta(minutes=29),
        "application_properties": {"strategy": "trend", "signal_id": f"{signal}{seq}"},
    }
    values.update(kw)
    return DeadLetteredMessage(**values)


class FakeDeadLetters:
    """A dead-letter store in a dict; a replay inside the window waits, as the queue would."""

    backend = "fake"
    queue_name = "signals"

    def __init__(self, clock: ManualClock, *letters: DeadLetteredMessage) -> None:
        self.clock = clock
        self.letters = {x.sequence_number: x for x in letters}
        self.sent: list[DeadLetteredMessage] = []
        self.next_seq = 100
        self.keep_after_send = False

    async def browse(self, *, after: int | None, limit: int) -> list[DeadLetteredMessage]:
        found = sorted(self.letters.values(), key=lambda x: x.sequence_number)
        return [x for x in found if after is None or x.sequence_number > after][:limit]

    async def inspect(self, sequence_number: int) -> DeadLetteredMessage | None:
        return self.letters.get(sequence_number)

    async def replay(self, sequence_number: int) -> Replayed | Waiting | None:
        found = self.letters.get(sequence_number)
        if found is None:
            return None
        assert found.enqueued_at is not None
        if found.enqueued_at + WINDOW > self.clock.now():
            return Waiting(found, found.enqueued_at + WINDOW)
        self.sent.append(found)
        self.next_seq += 1
        if self.keep_after_send:
            return Replayed(found, None, removed=False)
        del self.letters[sequence_number]
        return Replayed(found, self.next_seq)

    async def replay_all(self, limit: int) -> ReplayBatch:
        replayed, waiting = [], []
        for seq in sorted(self.letters):
            if len(replayed) >= limit:
                break
            outcome = await self.replay(seq)
            if isinstance(outcome, Replayed):
                replayed.append(outcome)
            elif isinstance(outcome, Waiting):
                waiting.append(outcome)
        return ReplayBatch(tuple(replayed), tuple(waiting))

    async def purge(self, sequence_number: int) -> DeadLetteredMessage | None:
        return self.letters.pop(sequence_number, None)

    async def count(self) -> DeadLetterCount:
        return DeadLetterCount(len(self.letters))

    async def close(self) -> None:
        return None


class FakeChangeLog:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.fail = False

    async def append(self, entry: str, channel: str, message: str) -> None:
        if self.fail:
            raise DependencyUnavailable("Redis could not be reached")
        self.entries.insert(0, json.loads(entry))
        self.events.append((channel, json.loads(message)))


def ops(
    *letters: DeadLetteredMessage,
) -> tuple[DeadLetterOps, FakeDeadLetters, FakeChangeLog, FakeChanges]:
    clock = ManualClock(NOW)
    store, log, table = FakeDeadLetters(clock, *letters), FakeChangeLog(), FakeChanges()
    return DeadLetterOps(store, log, table, clock), store, log, table


CHANGE = DeadLetterChange(reason="broker back", actor=ACTOR)


async def test_page_newest_first_walks_every_dead_letter_once_with_the_cursor() -> None:
    use, _, _, _ = ops(*(letter(n) for n in (3, 7, 5, 9, 1)))
    first = await use.page(ListQuery(limit=2))
    assert [x["id"] for x in first["dead_letters"]] == [9, 7]
    assert (first["total"], first["total_exact"], first["queue"]) == (5, True, "signals")
    second = await use.page(read_list_query({"limit": "2", "cursor": first["next"]}))
    third = await use.page(read_list_query({"limit": "2", "cursor": second["next"]}))
    assert [x["id"] for x in second["dead_letters"]] == [5, 3]
    assert [x["id"] for x in third["dead_letters"]] == [1]
    assert third["next"] is None
    row = first["dead_letters"][0]
    assert (row["signal_id"], row["strategy"], row["account"]) == ("sig9", "trend", "DEMO1")


async def test_page_oldest_first_uses_its_own_cursor() -> None:
    use, _, _, _ = ops(*(letter(n) for n in (3, 7, 5)))
    first = await use.page(read_list_query({"limit": "2", "order": "oldest"}))
    assert [x["id"] for x in first["dead_letters"]] == [3, 5]
    rest = await use.page(read_list_query({"order": "oldest", "cursor": first["next"]}))
    assert [x["id"] for x in rest["dead_letters"]] == [7]
    with pytest.raises(InvalidRequest) as info:
        read_list_query({"cursor": first["next"]})  # an oldest-first cursor, newest-first order
    assert info.value.code == "bad_cursor"


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"limt": "5"}, "bad_filter", "limt"),
        ({"order": "random"}, "bad_filter", "order"),
        ({"limit": "0"}, "bad_filter", "limit"),
        ({"limit": "2.5"}, "bad_filter", "limit"),
        ({"cursor": "!!"}, "bad_cursor", "cursor"),
    ],
)
def test_read_list_query_with_bad_input_names_the_parameter(
    params: dict[str, str], code: str, field: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        read_list_query(params)
    assert (info.value.code, info.value.field) == (code, field)


async def test_show_finds_by_sequence_number_or_message_id_and_masks_secret_fields() -> None:
    body = b'{"v":1,"signal_id":"s1","strategy":"trend","account":"DEMO1","token":"hunter2"}'
    secret = letter(4, body=body, application_properties={"api_key": "k-123", "strategy": "trend"})
    use, _, _, _ = ops(secret, letter(6))
    shown = await use.show("4")
    assert shown["body"]["token"] == "***"
    assert "hunter2" not in json.dumps(shown)
    assert shown["application_properties"] == {"api_key": "***", "strategy": "trend"}
    assert shown["body_is_json"] is True
    assert (await use.show("sig6:DEMO1"))["id"] == 6


def test_describe_with_a_body_that_is_not_json_gives_it_as_text() -> None:
    view = describe(letter(2, body=b"buy NQ secret=abc"))
    assert view["body_is_json"] is False
    assert view["body"] == "buy NQ secret=***"
    assert view["body_bytes"] == len(b"buy NQ secret=abc")
    assert view["signal_id"] == "sig2"  # from the application properties


@pytest.mark.parametrize("bad", ["42", "no-such:DEMO1", "", "x" * 200, "a\nb", "\u00b2"])
async def test_show_with_an_id_that_is_not_dead_lettered_is_404(bad: str) -> None:
    use, _, _, _ = ops(letter(1))
    with pytest.raises(NotFound) as info:
        await use.show(bad)
    assert info.value.code == "not_dead_lettered"


async def test_show_with_a_message_id_dead_lettered_twice_asks_for_the_number() -> None:
    use, _, _, _ = ops(letter(1, message_id="m:DEMO1"), letter(2, message_id="m:DEMO1"))
    with pytest.raises(Conflict) as info:
        await use.show("m:DEMO1")
    assert info.value.code == "ambiguous_id"


async def test_replay_sends_removes_journals_and_publishes_then_a_second_is_404() -> None:
    use, store, log, table = ops(letter(8))
    answer = await use.replay("8", CHANGE)
    assert [x.sequence_number for x in store.sent] == [8]
    assert answer["replayed"]["message_id"] == "sig8:DEMO1"
    assert answer["replayed"]["new_sequence_number"] == 101
    assert answer["journaled"] is True
    [entry] = log.entries
    assert (entry["kind"], entry["action"], entry["reason"]) == (
        "dlq_replayed",
        "replayed",
        "broker back",
    )
    assert entry["by"] == {"key": "master", "key_id": "abcdef012345", "actor": "alice"}
    assert entry["messages"] == [
        {
            "id": 8,
            "message_id": "sig8:DEMO1",
            "signal_id": "sig8",
            "strategy": "trend",
            "account": "DEMO1",
        }
    ]
    [(channel, event)] = log.events
    assert channel == "risk.alert"
    assert (event["type"], event["kind"], event["source"]) == ("risk.alert", "dlq_replayed", "ops")
    [(kind, row_id, row)] = table.rows
    assert (kind, row_id, row["id"]) == (JOURNAL_KIND, entry["id"], entry["id"])
    with pytest.raises(NotFound) as info:
        await use.replay("8", CHANGE)
    assert info.value.code == "not_dead_lettered"
    assert len(store.sent) == 1
    assert len(log.entries) == 1


async def test_replay_inside_the_duplicate_window_is_409_and_changes_nothing() -> None:
    use, store, log, table = ops(letter(3, enqueued_at=NOW - timedelta(minutes=4)))
    with pytest.raises(InDuplicateWindow) as info:
        await use.replay("3", CHANGE)
    assert info.value.code == "in_duplicate_window"
    assert info.value.to_dict()["replayable_at"] == (NOW + timedelta(minutes=6)).isoformat()
    assert store.sent == []
    assert 3 in store.letters
    assert log.entries == []
    assert table.rows == []


async def test_replay_whose_removal_failed_answers_the_send_with_a_warning() -> None:
    use, store, _, _ = ops(letter(3))
    store.keep_after_send = True
    answer = await use.replay("3", CHANGE)
    assert answer["replayed"]["removed"] is False
    assert "safe" in answer["warning"]


async def test_replay_with_the_journal_away_still_answers_the_replay() -> None:
    use, store, log, table = ops(letter(3))
    log.fail = True
    table.fail = True
    answer = await use.replay("3", CHANGE)
    assert answer["journaled"] is False
    assert [x.sequence_number for x in store.sent] == [3]


async def test_replay_all_sends_those_outside_the_window_and_reports_the_rest() -> None:
    young = letter(2, enqueued_at=NOW - timedelta(minutes=1))
    use, store, log, _ = ops(letter(1), young, letter(3), letter(4))
    answer = await use.replay_all(DeadLetterChange("sweep", ACTOR, limit=2))
    assert [x["id"] for x in answer["replayed"]] == [1, 3]
    assert [x["id"] for x in answer["waiting"]] == [2]
    assert (answer["count"], answer["remaining"]) == (2, 2)
    [entry] = log.entries
    assert (entry["all"], entry["count"]) == (True, 2)
    assert sorted(store.letters) == [2, 4]


async def test_replay_all_with_nothing_to_send_journals_nothing() -> None:
    use, _, log, table = ops()
    answer = await use.replay_all(CHANGE)
    assert (answer["count"], answer["journaled"]) == (0, False)
    assert log.entries == []
    assert table.rows == []


async def test_purge_deletes_and_journals_then_a_second_is_404() -> None:
    use, store, log, _ = ops(letter(5))
    answer = await use.purge("sig5:DEMO1", DeadLetterChange("manual order", ACTOR))
    assert answer["purged"]["id"] == 5
    assert store.letters == {}
    assert store.sent == []
    assert log.entries[0]["kind"] == "dlq_purged"
    with pytest.raises(NotFound):
        await use.purge("5", CHANGE)


@pytest.mark.parametrize(
    ("raw", "replay_all", "code"),
    [
        (b"{}", False, "missing_reason"),
        (b'{"reason": "r", "limit": 5}', False, "unknown_field"),
        (b'{"reason": "r", "limit": 0}', True, "invalid_field"),
        (b'{"reason": "r", "limit": true}', True, "invalid_field"),
        (b"[1]", False, "invalid_json"),
    ],
)
def test_read_change_refuses_bad_bodies(raw: bytes, replay_all: bool, code: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        read_change(raw, ACTOR, replay_all=replay_all)
    assert info.value.code == code


def test_read_change_reads_reason_and_limit() -> None:
    change = read_change(b'{"reason": " sweep ", "limit": 7}', ACTOR, replay_all=True)
    assert (change.reason, change.limit) == ("sweep", 7)
    assert read_change(b'{"reason": "x"}', ACTOR).limit == 100


class FakeMarks:
    """The Redis marks' semantics: claim once per sequence number, forget the gone."""

    def __init__(self) -> None:
        self.marks: dict[int, int] = {}

    async def claim(
        self, sequence_numbers: Sequence[int], listed_at_ms: int, *, complete: bool
    ) -> list[int]:
        fresh = [n for n in sequence_numbers if n not in self.marks]
        for n in fresh:
            self.marks[n] = listed_at_ms
        if complete:
            keep = set(sequence_numbers)
            self.marks = {n: t for n, t in self.marks.items() if n in keep or t >= listed_at_ms}
        return fresh


class RecordingBus:
    def __init__(self) -> None:
        self.events: list[tuple[str, Mapping[str, Any]]] = []

    async def publish(self, event: str, payload: Mapping[str, Any]) -> None:
        self.events.append((event, dict(payload)))


async def test_watch_reports_each_dead_letter_once_across_runs_and_restarts() -> None:
    clock = ManualClock(NOW)
    store = FakeDeadLetters(clock, letter(1), letter(2))
    marks, bus = FakeMarks(), RecordingBus()
    first = await DeadLetterWatch(store, marks, bus, clock).run()
    assert (first.seen, first.reported, first.complete) == (2, (1, 2), True)
    store.letters[3] = letter(3)
    clock.advance(30)
    restarted = DeadLetterWatch(store, marks, RecordingBus(), clock)  # a new process, same Redis
    second = await restarted.run()
    assert second.reported == (3,)
    assert (await restarted.run()).reported == ()
    [(channel, payload), _] = bus.events
    assert channel == "queue.dead_lettered"
    assert payload["message_id"] == "sig1:DEMO1"
    assert (payload["signal_id"], payload["strategy"], payload["account"]) == (
        "sig1",
        "trend",
        "DEMO1",
    )
    assert payload["reason"] == "MaxDeliveryCountExceeded"
    assert payload["dead_lettered_at"] == (NOW - timedelta(minutes=29)).isoformat()
    assert payload["detected_at"] == NOW.isoformat()


async def test_watch_forgets_a_dead_letter_once_it_is_gone() -> None:
    clock = ManualClock(NOW)
    store = FakeDeadLetters(clock, letter(1))
    marks = FakeMarks()
    watch = DeadLetterWatch(store, marks, RecordingBus(), clock)
    await watch.run()
    del store.letters[1]
    clock.advance(30)
    await watch.run()
    assert marks.marks == {}
