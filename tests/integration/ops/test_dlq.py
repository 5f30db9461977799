"""Dead letters end to end: the real dev host, Redis, Azurite, the simulator, and the CLI.

Two ways put a signal in the dead letters here, both through the webhook:

- a broker outage: every delivery's order fails, and the queue dead-letters the message with
  ``MaxDeliveryCountExceeded`` after its last delivery (realistic, a few seconds);
- a competing consumer: the test holds the session's lock (as another receiver would) while the
  webhook enqueues, then receives the message and dead-letters it with the local queue's own
  API, so the dev host never sees it (fast; any reason).

The queue drops a send whose MessageId it saw within its duplicate-detection window (600 s
here), so a replay right after the dead-lettering is refused with 409; the tests then let the
window lapse by deleting the local queue's marker of that MessageId (its expiry is the window)
instead of waiting ten minutes.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from click.testing import CliRunner, Result

from shared import redis_keys as keys
from shared.adapters.dlq_redis import RedisReportedMarks
from shared.adapters.local_queue import LocalQueue, new_receiver_token
from shared.ports import OutboundMessage
from tests.integration.execution.conftest import KEY, System, wait_for
from tradebridge_cli.app import main

pytestmark = pytest.mark.integration

MASTER = "e2e-master"
QUEUE = "signals"
SESSION = "DEMO10001-MNQ"  # the solo strategy's account, and MNQ's root
ALERT = {"intent": "buy", "symbol": "MNQ1!", "quantity": 1, "price": 21000}


def call(system: System, method: str, path: str, key: str = KEY, **kw: Any) -> httpx.Response:
    headers = {"x-functions-key": key, "x-ops-actor": "e2e"}
    return httpx.request(method, f"{system.url}/api/{path}", headers=headers, timeout=30, **kw)


def change(system: System, method: str, path: str, body: Any) -> httpx.Response:
    return call(system, method, path, key=MASTER, json=body)


def listed(system: System, signal_id: str) -> dict[str, Any] | None:
    found = call(system, "GET", "dlq", params={"limit": 200}).json()["dead_letters"]
    return next((d for d in found if d["signal_id"] == signal_id), None)


def lapse_duplicate_window(system: System, message_id: str) -> None:
    """Let the duplicate-detection window of a MessageId end now (its marker's expiry)."""
    redis.Redis.from_url(system.redis_url).delete(f"lq:{QUEUE}:d:{message_id}")


def dead_letter_behind_the_executor(
    system: System, *, message: OutboundMessage | None = None, reason: str = "ForcedByTest"
) -> str:
    """Enqueue a signal (the webhook's, or ``message``) while holding its session, then
    dead-letter it with the local queue's API; return its MessageId."""

    async def run() -> str:
        client = aioredis.Redis.from_url(system.redis_url)
        queue = LocalQueue(client, QUEUE)
        token = new_receiver_token()
        try:
            # Wait for the dev host to let go of the session, then hold it ourselves.
            lock = f"lq:{QUEUE}:lock:{SESSION}"
            deadline = time.monotonic() + 20
            while not await client.set(lock, token, nx=True, px=15_000):
                assert time.monotonic() < deadline, "the session stayed locked"
                await asyncio.sleep(0.05)
            if message is None:
                sent = await asyncio.to_thread(system.post, "solo", **ALERT)
                expected = f"{sent['id']}:DEMO10001"
            else:
                await queue.send([message])
                expected = message.message_id
            received = await queue.receive(SESSION, token)
            assert received is not None
            assert received.message_id == expected
            await queue.dead_letter(received, reason, "held back by the test")
            await queue.release_session(SESSION, token)
            return expected
        finally:
            await client.aclose()

    return asyncio.run(run())


def queue_counts(system: System) -> dict[str, int]:
    report = httpx.get(
        f"{system.url}/admin/queues/{QUEUE}", headers={"x-functions-key": MASTER}
    ).json()
    return dict(report["counts"])


def legs(system: System, signal_id: str) -> list[str]:
    """Return the client order ids of a signal's legs (the ledger's rows keyed by them)."""
    return [e.row_key for e in system.ledger(signal_id) if not e.row_key.startswith("exec:")]


def sim_orders_of(system: System, cl_ord_ids: list[str]) -> list[dict[str, Any]]:
    return [o for o in system.orders() if o.get("clOrdId") in cl_ord_ids]


def test_replay_after_a_broker_outage_places_the_order_exactly_once(fresh: System) -> None:
    fresh.sim.inject(error_rate=1.0, error_endpoint="order/placeorder")
    sent = fresh.post("solo", **ALERT)
    letter = wait_for(lambda: listed(fresh, sent["id"]), timeout_s=60)
    fresh.sim.clear_faults()
    assert (letter["reason"], letter["delivery_count"]) == ("MaxDeliveryCountExceeded", 5)
    assert (letter["strategy"], letter["account"]) == ("solo", "DEMO10001")
    assert fresh.orders(10001) == []

    detail = call(fresh, "GET", f"dlq/{letter['id']}").json()
    assert detail["body"]["signal_id"] == sent["id"]
    assert detail["body_is_json"] is True
    assert detail["session_id"] == SESSION
    assert detail["message_id"] == f"{sent['id']}:DEMO10001"
    assert detail["application_properties"]["strategy"] == "solo"
    assert "order/placeorder" in detail["description"]
    assert detail["enqueued_at"] < detail["dead_lettered_at"]
    by_message_id = call(fresh, "GET", f"dlq/{detail['message_id']}").json()
    assert by_message_id["id"] == letter["id"]

    refused = change(fresh, "POST", f"dlq/{letter['id']}/replay", {"reason": "broker back"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "in_duplicate_window"
    assert refused.json()["replayable_at"]
    assert listed(fresh, sent["id"]) is not None  # still dead-lettered, nothing sent

    lapse_duplicate_window(fresh, detail["message_id"])
    replayed = change(fresh, "POST", f"dlq/{letter['id']}/replay", {"reason": "broker back"})
    assert replayed.status_code == 200, replayed.text
    body = replayed.json()
    assert body["replayed"]["message_id"] == detail["message_id"]
    assert body["replayed"]["session_id"] == SESSION
    assert body["journaled"] is True
    [summary] = fresh.outcome(sent["id"])
    assert summary.status == "done", summary.fields
    placed = sim_orders_of(fresh, legs(fresh, sent["id"]))
    assert len(placed) == 1, fresh.orders()
    assert fresh.positions(10001) == {"MNQ": 1}

    journal = json.loads(redis.Redis.from_url(fresh.redis_url).lindex(keys.OPS_CHANGES, 0))
    assert (journal["kind"], journal["reason"]) == ("dlq_replayed", "broker back")
    assert journal["by"]["actor"] == "e2e"
    assert journal["messages"][0]["signal_id"] == sent["id"]

    again = change(fresh, "POST", f"dlq/{letter['id']}/replay", {"reason": "twice"})
    assert (again.status_code, again.json()["code"]) == (404, "not_dead_lettered")

    # The send worked but the removal did not, and the message is dead-lettered again: its
    # replay reaches the executor, whose ledger already holds the signal: nothing is placed.
    original = OutboundMessage(
        body=json.dumps(detail["body"]).encode(),
        message_id=detail["message_id"],
        session_id=detail["session_id"],
        correlation_id=detail["correlation_id"],
        application_properties=detail["application_properties"],
    )
    lapse_duplicate_window(fresh, detail["message_id"])
    dead_letter_behind_the_executor(fresh, message=original)
    copy = wait_for(lambda: listed(fresh, sent["id"]))
    lapse_duplicate_window(fresh, detail["message_id"])
    redone = change(fresh, "POST", f"dlq/{copy['id']}/replay", {"reason": "lost removal"})
    assert redone.status_code == 200, redone.text
    wait_for(lambda: queue_counts(fresh)["active"] == 0)  # the executor took the copy
    assert listed(fresh, sent["id"]) is None
    assert len(sim_orders_of(fresh, legs(fresh, sent["id"]))) == 1
    assert fresh.positions(10001) == {"MNQ": 1}
    assert fresh.outcome(sent["id"])[0].status == "done"


def test_watch_reports_each_dead_letter_once_on_its_channel(fresh: System) -> None:
    listener = redis.Redis.from_url(fresh.redis_url).pubsub()
    listener.subscribe("queue.dead_lettered")
    try:
        ids = {dead_letter_behind_the_executor(fresh) for _ in range(2)}
        for _ in range(2):  # two runs (and maybe the schedule's own): each reports once
            run = httpx.post(
                f"{fresh.url}/admin/functions/dlq_watch", headers={"x-functions-key": MASTER}
            )
            assert run.status_code == 202, run.text
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            message = listener.get_message(timeout=0.1)
            if message and message["type"] == "message":
                event = json.loads(message["data"])
                if event["message_id"] in ids:
                    events.append(event)
                    if len(events) == len(ids):  # then listen a little longer for a second one
                        deadline = min(deadline, time.monotonic() + 0.5)
    finally:
        listener.close()
    assert sorted(e["message_id"] for e in events) == sorted(ids)
    for event in events:
        assert event["type"] == "queue.dead_lettered"
        assert (event["strategy"], event["account"]) == ("solo", "DEMO10001")
        assert event["signal_id"] == event["message_id"].split(":")[0]
        assert (event["reason"], event["description"]) == ("ForcedByTest", "held back by the test")
        assert event["dead_lettered_at"]


def test_purge_removes_and_bad_requests_are_refused_with_codes(fresh: System) -> None:
    message_id = dead_letter_behind_the_executor(fresh)
    letter = wait_for(lambda: listed(fresh, message_id.split(":")[0]))
    path = f"dlq/{letter['id']}"
    assert change(fresh, "DELETE", path, {}).json()["code"] == "missing_reason"
    assert call(fresh, "DELETE", path, json={"reason": "r"}).status_code == 401  # function key
    purged = change(fresh, "DELETE", path, {"reason": "duplicate of a manual order"})
    assert purged.status_code == 200, purged.text
    assert purged.json()["purged"]["message_id"] == message_id
    journal = json.loads(redis.Redis.from_url(fresh.redis_url).lindex(keys.OPS_CHANGES, 0))
    assert journal["kind"] == "dlq_purged"
    assert listed(fresh, message_id.split(":")[0]) is None
    cases = [
        ("GET", path, None, 404, "not_dead_lettered"),
        ("DELETE", path, {"reason": "again"}, 404, "not_dead_lettered"),
        ("GET", "dlq/no-such-signal:DEMO10001", None, 404, "not_dead_lettered"),
        ("POST", "dlq/999999999/replay", {"reason": "r"}, 404, "not_dead_lettered"),
        ("GET", "dlq?bogus=1", None, 400, "bad_filter"),
        ("GET", "dlq?order=sideways", None, 400, "bad_filter"),
        ("GET", "dlq?cursor=not-ours", None, 400, "bad_cursor"),
        ("POST", "dlq/replay", {"reason": "r", "limt": 5}, 400, "unknown_field"),
    ]
    for method, where, body, status, code in cases:
        r = change(fresh, method, where, body) if body else call(fresh, method, where, key=MASTER)
        assert (r.status_code, r.json()["code"]) == (status, code), (method, where, r.text)


def cli(system: System, *args: str) -> Result:
    flags = ["--url", system.url, "--key", KEY, "--master-key", MASTER, "--actor", "cli-test"]
    env = {"TRADEBRIDGE_PROFILE_FILE": "/nonexistent/profile.toml"}
    return CliRunner().invoke(main, [*flags, "dlq", *args], env=env)


def test_cli_lists_shows_replays_and_purges_dead_letters(fresh: System) -> None:
    first = dead_letter_behind_the_executor(fresh)
    second = dead_letter_behind_the_executor(fresh)
    result = cli(fresh, "list", "--json")
    assert result.exit_code == 0, result.output
    ids = {d["message_id"]: d["id"] for d in json.loads(result.stdout)["dead_letters"]}
    assert {first, second} <= set(ids)
    table = cli(fresh, "list")
    assert "ForcedByTest" in table.output
    assert f" {ids[first]} " in table.output
    shown = cli(fresh, "show", str(ids[first]))
    assert shown.exit_code == 0, shown.output
    assert "held back by the test" in shown.output
    assert '"signal_id"' in shown.output

    assert cli(fresh, "replay", "--reason", "r", "--yes").exit_code == 2  # neither ID nor --all
    no = CliRunner().invoke(
        main,
        ["--url", fresh.url, "--key", KEY, "--master-key", MASTER, "dlq", "purge", first,
         "--reason", "r"],
        input="n\n",
        env={"TRADEBRIDGE_PROFILE_FILE": "/nonexistent/profile.toml"},
    )  # fmt: skip
    assert no.exit_code == 1
    assert "nothing changed" in no.output
    purged = cli(fresh, "purge", first, "--reason", "cli purge", "--yes")
    assert purged.exit_code == 0, purged.output
    assert f"purged {ids[first]}" in purged.output

    lapse_duplicate_window(fresh, second)
    replayed = cli(fresh, "replay", "--all", "--reason", "cli replay", "--yes", "--json")
    assert replayed.exit_code == 0, replayed.output
    answer = json.loads(replayed.stdout)
    assert second in [r["message_id"] for r in answer["replayed"]]
    fresh.outcome(second.split(":")[0])
    missing = cli(fresh, "show", str(ids[second]))
    assert missing.exit_code == 1
    assert "not_dead_lettered" in missing.output


def test_local_dead_letter_scripts_keep_the_message_and_marks_claim_once(system: System) -> None:
    """The local queue's replay and purge scripts, and the watch's marks, on their own queue."""

    async def run() -> None:
        client = aioredis.Redis.from_url(system.redis_url)
        name = f"dlq-adapter-{time.time_ns()}"
        queue = LocalQueue(client, name, duplicate_window_s=600)
        token = new_receiver_token()
        try:
            message = OutboundMessage(
                body=b'{"v":1}', message_id="sig-9:ACC", session_id="ACC-NQ",
                correlation_id="corr-9", application_properties={"strategy": "s", "n": 3},
            )  # fmt: skip
            [seq] = await queue.send_and_report([message])
            assert await queue.accept_session(token) == "ACC-NQ"
            received = await queue.receive("ACC-NQ", token)
            assert received is not None
            await queue.dead_letter(received, "Poison", "cannot read it")
            await queue.release_session("ACC-NQ", token)
            [letter] = await queue.dead_letters()
            assert (letter.sequence_number, letter.correlation_id) == (seq, "corr-9")

            waiting = await queue.replay_dead_letters([seq])
            assert waiting.replayed == ()
            assert 590 < waiting.waiting[0][1] <= 600
            await client.delete(f"lq:{name}:d:sig-9:ACC")
            done = await queue.replay_dead_letters([seq])
            [(old, new_seq)] = done.replayed
            assert (old.sequence_number, new_seq > seq) == (seq, True)
            assert await queue.dead_letters() == []
            assert await queue.replay_dead_letters([seq]) == type(done)((), ())
            assert await queue.accept_session(token) == "ACC-NQ"
            again = await queue.receive("ACC-NQ", token)
            assert again is not None
            assert (again.message_id, again.session_id, again.body) == (
                "sig-9:ACC", "ACC-NQ", b'{"v":1}'
            )  # fmt: skip
            assert (again.correlation_id, again.delivery_count) == ("corr-9", 1)
            assert dict(again.application_properties) == {"strategy": "s", "n": 3}
            assert again.sequence_number == new_seq
            await queue.dead_letter(again, "Poison", "still")
            assert (await queue.purge_dead_letter(new_seq)) is not None
            assert await queue.purge_dead_letter(new_seq) is None
            assert await queue.dead_letter_count() == 0

            marks = RedisReportedMarks(client, name)
            first, second = await asyncio.gather(
                marks.claim([1, 2], 1000, complete=True), marks.claim([1, 2], 1000, complete=True)
            )
            assert sorted(first + second) == [1, 2]  # each claimed by exactly one run
            assert await marks.claim([2, 3], 2000, complete=True) == [3]  # 1 is gone: forgotten
            assert await marks.claim([1, 2, 3], 3000, complete=True) == [1]
        finally:
            await client.delete(*[k async for k in client.scan_iter(f"lq:{name}:*")])
            await client.delete(f"dlq:reported:{name}")
            await client.aclose()

    asyncio.run(run())
