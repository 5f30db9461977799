"""``tradebridge dlq`` against an httpx MockTransport: the requests it sends and what it prints."""

from __future__ import annotations

import json
from typing import Any

import httpx
from click.testing import CliRunner, Result

from tradebridge_cli.app import Options, main

KEY, MASTER = "read-key-123", "master-key-456"
LETTER = {
    "id": 42, "message_id": "abc:DEMO1", "session_id": "DEMO1-NQ", "signal_id": "abc",
    "strategy": "nq", "account": "DEMO1", "reason": "MaxDeliveryCountExceeded",
    "description": "order/placeorder failed", "delivery_count": 5,
    "enqueued_at": "2026-11-20T14:00:00+00:00", "dead_lettered_at": "2026-11-20T14:01:00+00:00",
}  # fmt: skip


class Recorder:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body)


def run(recorder: Recorder, *args: str, stdin: str | None = None) -> Result:
    transport = httpx.MockTransport(recorder)
    options = Options(None, None, None, None, "tester", 5.0, transport=transport)
    flags = ["--url", "http://bridge.test", "--key", KEY, "--master-key", MASTER]
    env = {"TRADEBRIDGE_PROFILE_FILE": "/nonexistent/profile.toml"}
    return CliRunner().invoke(main, [*flags, "dlq", *args], obj=options, input=stdin, env=env)


def test_purge_sends_delete_with_the_reason_and_the_master_key() -> None:
    recorder = Recorder(200, {"purged": LETTER, "journaled": True})
    result = run(recorder, "purge", "abc:DEMO1", "--reason", "manual order", "--yes")
    assert result.exit_code == 0, result.output
    [request] = recorder.requests
    assert (request.method, request.url.path) == ("DELETE", "/api/dlq/abc:DEMO1")
    assert json.loads(request.content) == {"reason": "manual order"}
    assert request.headers["x-functions-key"] == MASTER
    assert request.headers["x-ops-actor"] == "tester"
    assert "purged 42 (abc:DEMO1)" in result.output


def test_replay_asks_first_and_a_no_sends_nothing() -> None:
    recorder = Recorder(200, {})
    result = run(recorder, "replay", "42", "--reason", "r", stdin="n\n")
    assert result.exit_code == 1
    assert "nothing changed" in result.output
    assert recorder.requests == []


def test_replay_all_sends_the_limit_and_prints_what_waits() -> None:
    body = {
        "count": 1, "replayed": [{"id": 1, "message_id": "a:D"}], "remaining": 1,
        "waiting": [{"id": 2, "message_id": "b:D", "replayable_at": "2026-11-20T15:10:00+00:00"}],
        "journaled": True,
    }  # fmt: skip
    recorder = Recorder(200, body)
    result = run(recorder, "replay", "--all", "--limit", "5", "--reason", "sweep", "--yes")
    assert result.exit_code == 0, result.output
    [request] = recorder.requests
    assert (request.method, request.url.path) == ("POST", "/api/dlq/replay")
    assert json.loads(request.content) == {"reason": "sweep", "limit": 5}
    assert "replayed 1, waiting 1" in result.output
    assert "2026-11-20T15:10:00" in result.output


def test_replay_needs_one_id_or_all_and_limit_only_with_all() -> None:
    recorder = Recorder(200, {})
    assert run(recorder, "replay", "--reason", "r", "--yes").exit_code == 2
    assert run(recorder, "replay", "1", "--all", "--reason", "r", "--yes").exit_code == 2
    assert run(recorder, "replay", "1", "--limit", "3", "--reason", "r", "--yes").exit_code == 2
    assert run(recorder, "show", "a/b").exit_code == 2
    assert recorder.requests == []


def test_list_and_show_use_the_read_key_and_render() -> None:
    recorder = Recorder(
        200, {"queue": "signals", "total": 1, "dead_letters": [LETTER], "next": "x"}
    )
    listed = run(recorder, "list", "--oldest", "--limit", "5")
    assert listed.exit_code == 0, listed.output
    assert recorder.requests[0].url.params == httpx.QueryParams({"limit": "5", "order": "oldest"})
    assert recorder.requests[0].headers["x-functions-key"] == KEY
    assert "MaxDeliveryCountExceeded" in listed.output
    assert "--cursor x" in listed.output
    detail = {**LETTER, "body": {"signal_id": "abc"}, "body_is_json": True,
              "application_properties": {"strategy": "nq"}}  # fmt: skip
    shown = run(Recorder(200, detail), "show", "42")
    assert shown.exit_code == 0, shown.output
    assert "order/placeorder failed" in shown.output
    assert '"signal_id": "abc"' in shown.output


def test_a_refusal_prints_the_code_in_one_sentence() -> None:
    refusal = {"code": "in_duplicate_window", "message": "replay it after ...",
               "replayable_at": "2026-11-20T15:10:00+00:00"}  # fmt: skip
    result = run(Recorder(409, refusal), "replay", "42", "--reason", "r", "--yes")
    assert result.exit_code == 1
    assert "in_duplicate_window" in result.output
