"""Telling the executor's Redis round trips from the local queue's: parsing, classifying,
counting, and (one smoke test on the suite's real Redis) the proxy itself."""

from __future__ import annotations

import hashlib

import pytest
import redis

from bench.redis_rounds import RoundTrip, RoundTripProxy, classify, parse_commands, per_order
from local.services import RedisServer
from shared.adapters import local_queue_lua

SEND_SHA = hashlib.sha1(local_queue_lua.SEND.encode()).hexdigest().encode()  # noqa: S324


def resp(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def test_parse_commands_reads_a_pipeline_and_keeps_a_partial_tail() -> None:
    data = resp(b"MGET", b"a", b"b\r\nc") + resp(b"PUBLISH", b"ch", b"x") + b"*2\r\n$3\r\nGET\r\n$1"
    commands, used = parse_commands(data)
    assert commands == [(b"MGET", b"a", b"b\r\nc"), (b"PUBLISH", b"ch", b"x")]
    assert data[used:] == b"*2\r\n$3\r\nGET\r\n$1"


def test_parse_commands_reads_an_inline_command() -> None:
    assert parse_commands(b"PING\r\nGET k\r\n") == ([(b"PING",), (b"GET", b"k")], 13)


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        ((b"EVALSHA", b"04a05d", b"0", b"lq:signals:", b"123"), "queue"),
        ((b"BLPOP", b"lq:signals:wake", b"0.5"), "queue"),
        ((b"evalsha", SEND_SHA, b"0", b"lq:signals:"), "queue_send"),
        ((b"EVAL", local_queue_lua.SEND.encode(), b"0", b"lq:signals:"), "queue_send"),
        ((b"HELLO", b"3"), "setup"),
        ((b"CLIENT", b"SETINFO", b"LIB-NAME", b"redis-py"), "setup"),
        ((b"MGET", b"kill:global", b"live:10001:positions"), "work"),
        ((b"EVALSHA", b"22dede", b"2", b"{ledger}:sig:1", b"{ledger}:dirty"), "work"),
    ],
)
def test_classify_tells_queue_setup_and_work_apart(command: tuple[bytes, ...], kind: str) -> None:
    assert classify(command) == kind


def test_round_trip_is_work_if_any_command_is() -> None:
    queue = (b"BLPOP", b"lq:s:wake", b"1")
    assert RoundTrip(0.0, (queue, (b"GET", b"k"))).kind == "work"
    assert RoundTrip(0.0, (queue,)).kind == "queue"


def test_per_order_counts_work_and_the_part_before_the_answer() -> None:
    work = ((b"GET", b"k"),)
    trips = [
        RoundTrip(1.0, work),  # inside the first alert's window
        RoundTrip(1.5, ((b"MGET", b"a"), (b"PUBLISH", b"c", b"m"))),  # inside, 2 commands
        RoundTrip(2.5, work),  # after the answer
        RoundTrip(3.2, ((b"EVALSHA", b"x", b"0", b"lq:q:"),)),  # the queue's: not counted
        RoundTrip(3.5, work),  # inside the second window
    ]
    counted = per_order(trips, [(0.9, 2.0), (3.0, 4.0)], orders=4)
    assert counted["round_trips"] == 1.0  # 4 work round trips / 4 orders
    assert counted["commands"] == 1.25
    assert counted["round_trips_before_answer"] == 0.75
    assert counted["queue_round_trips"] == 0.25


def test_proxy_counts_a_pipeline_as_one_round_trip(redis_server: RedisServer) -> None:
    proxy = RoundTripProxy("127.0.0.1", int(redis_server.url.rsplit(":", 1)[1].split("/")[0]))
    port = proxy.start()
    client = redis.Redis(host="127.0.0.1", port=port, protocol=2)
    try:
        client.set("bench:proxy", "1")
        pipe = client.pipeline(transaction=False)
        pipe.get("bench:proxy").incr("bench:proxy").publish("bench:ch", "x")
        assert pipe.execute() == [b"1", 2, 0]  # answers came back through the proxy
        client.blpop(["lq:bench:wake"], timeout=0.01)
    finally:
        client.close()
        proxy.stop()
    work = [t.commands for t in proxy.trips() if t.kind == "work"]
    assert work == [
        ((b"SET", b"bench:proxy", b"1"),),
        (
            (b"GET", b"bench:proxy"),
            (b"INCRBY", b"bench:proxy", b"1"),
            (b"PUBLISH", b"bench:ch", b"x"),
        ),
    ]
    assert [t.kind for t in proxy.trips() if t.kind != "work"][-1] == "queue"
