"""The command line against an httpx MockTransport: rendering, --json, errors, confirmation."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from tradebridge_cli.app import Options, main
from tradebridge_cli.views import console, timeline_bars

KEY, MASTER = "read-key-123", "master-key-456"
TRADING = {
    "trading": "partial",
    "global": {"state": "enabled"},
    "strategies": [{"id": "nq", "state": "paused", "reason": "review", "accounts": ["D1"]}],
    "accounts": [{"name": "D1", "id": 1, "state": "enabled", "strategies": ["nq"]}],
    "recent_changes": [],
}
READY = {"status": "degraded", "checks": {"redis": {"status": "ok", "latency_ms": 0.4}}}


def run(
    handler: Callable[[httpx.Request], httpx.Response],
    *args: str,
    stdin: str | None = None,
    tmp_path: Path | None = None,
) -> Any:
    options = Options(None, None, None, None, "tester", 5.0, transport=httpx.MockTransport(handler))
    runner = CliRunner()
    env = {"TRADEBRIDGE_PROFILE_FILE": "/nonexistent/profile.toml"}
    flags = ["--url", "http://bridge.test", "--key", KEY, "--master-key", MASTER]
    return runner.invoke(main, [*flags, *args], obj=options, input=stdin, env=env)


def answer(routes: dict[str, tuple[int, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        status, body = routes[request.url.path]
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    return handler


def test_status_with_tables_shows_states_and_checks_without_colour() -> None:
    result = run(
        answer({"/api/trading/status": (200, TRADING), "/api/health/ready": (200, READY)}), "status"
    )
    assert result.exit_code == 0, result.output
    assert "trading: partial" in result.output
    assert "paused" in result.output
    assert "review" in result.output
    assert "redis" in result.output
    assert "\x1b[" not in result.output  # not a terminal: no colour


def test_status_with_json_prints_both_answers() -> None:
    result = run(
        answer({"/api/trading/status": (200, TRADING), "/api/health/ready": (503, READY)}),
        "status",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"trading": TRADING, "health": READY}


def test_pause_with_yes_posts_scope_reason_and_master_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"scope": {"kind": "strategy", "name": "nq"}, "changed": True,
                "switch": {"state": "paused"}, "previous": {"state": "enabled"}}  # fmt: skip
        return httpx.Response(200, json=body)

    result = run(handler, "pause", "--strategy", "nq", "--reason", "review", "--yes")
    assert result.exit_code == 0, result.output
    [request] = seen
    assert request.url.path == "/api/trading/pause"
    assert json.loads(request.content) == {"strategy": "nq", "reason": "review"}
    assert request.headers["x-functions-key"] == MASTER
    assert request.headers["x-ops-actor"] == "tester"
    assert "paused" in result.output
    assert MASTER not in result.output


def test_stop_without_yes_and_a_no_answer_changes_nothing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    result = run(handler, "stop", "--all", "--reason", "halt", stdin="n\n")
    assert result.exit_code == 1
    assert "Stop (pause, then flatten) the whole bridge" in result.output
    assert "not confirmed, nothing changed" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ("pause", "--reason", "x", "--yes"),
        ("pause", "--strategy", "a", "--account", "b", "--reason", "x", "--yes"),
    ],
)
def test_control_with_no_or_two_scopes_exits_2(args: tuple[str, ...]) -> None:
    result = run(answer({}), *args)
    assert result.exit_code == 2
    assert "exactly one scope" in result.output


def test_api_refusal_prints_code_and_message_and_exits_1() -> None:
    body = {"code": "unknown_strategy", "message": "no strategy 'zz' in the strategy file"}
    result = run(
        answer({"/api/trading/pause": (404, body)}),
        "pause",
        "--strategy",
        "zz",
        "--reason",
        "x",
        "-y",
    )
    assert result.exit_code == 1
    assert "unknown_strategy: no strategy 'zz' in the strategy file (HTTP 404)" in result.output
    assert "Traceback" not in result.output


def test_api_refusal_with_json_also_prints_the_body() -> None:
    body = {"code": "bad_filter", "message": "status", "field": "status"}
    result = run(answer({"/api/signals": (400, body)}), "signals", "--status", "nope", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == body


def test_wrong_key_says_which_key_to_check() -> None:
    refused = (401, {"code": "unauthorized_key", "message": "bad key"})
    result = run(answer({"/api/trading/status": refused}), "status")
    assert result.exit_code == 1
    assert result.output.strip() == "tradebridge: http://bridge.test refused the key: check --key"
    assert KEY not in result.output


def test_wrong_url_answering_html_says_it_is_not_the_ops_api() -> None:
    result = run(answer({"/api/trading/status": (404, "<html>not found</html>")}), "status")
    assert result.exit_code == 1
    assert "without the ops API's JSON" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_unreachable_and_timeout_exit_3_with_one_sentence() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    for handler, text in ((refuse, "cannot reach"), (slow, "did not answer within")):
        result = run(handler, "positions")
        assert result.exit_code == 3
        assert text in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_signals_passes_filters_and_shows_the_next_cursor() -> None:
    seen: list[httpx.Request] = []
    page = {"next": "abc", "signals": [{"id": "s1", "strategy": "nq", "status": "denied",
            "accounts": [{"account": "D1", "reason_code": "kill_switch_strategy"}]}]}  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=page)

    result = run(handler, "signals", "--strategy", "nq", "--status", "denied", "--limit", "5")
    assert result.exit_code == 0, result.output
    assert dict(seen[0].url.params) == {"strategy": "nq", "status": "denied", "limit": "5"}
    assert "kill_switch_strategy" in result.output
    assert "--cursor abc" in result.output


def test_send_with_flags_posts_a_native_alert_with_secret_and_never_prints_it() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"id": "sig1", "status": "accepted", "messages": 1})

    result = run(
        handler, "send", "nq", "--intent", "buy", "--symbol", "MNQ1!", "--quantity", "1",
        "--secret", "hook-secret",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(seen[0].content)
    assert body["secret"] == "hook-secret"
    assert (body["intent"], body["symbol"], body["quantity"]) == ("buy", "MNQ1!", 1)
    assert seen[0].headers["x-functions-key"] == KEY
    assert "accepted: signal sig1" in result.output
    assert "hook-secret" not in result.output


def test_timeline_bars_share_the_width_by_time() -> None:
    timeline = {"total_ms": 100.0, "steps": [
        {"step": "tradingview", "ms": None}, {"step": "received", "ms": 75.0},
        {"step": "sent", "ms": 25.0},
    ]}  # fmt: skip
    lines = [line.plain for line in timeline_bars(timeline, width=20)]
    assert lines[0].startswith("received")
    assert lines[0].count("█") == 15
    assert lines[1].startswith("sent")
    assert lines[1].count("█") == 5
    assert "75%" in lines[0]
    assert lines[-1].split() == ["total", "100.0", "ms"]


def test_console_on_a_file_has_no_colour(tmp_path: Path) -> None:
    with (tmp_path / "out.txt").open("w") as handle:
        assert console(handle).is_terminal is False


def test_send_with_wait_follows_the_signal_until_every_account_finished() -> None:
    seen: list[str] = []
    states = iter(["404", "executing", "done"])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/api/webhook/nq":
            return httpx.Response(202, json={"id": "s1", "status": "accepted", "messages": 2})
        state = next(states)
        if state == "404":  # the webhook journals in the background: not there yet
            return httpx.Response(404, json={"code": "unknown_signal", "message": "no signal"})
        body = {"id": "s1", "strategy": "nq", "status": state, "accounts": []}
        return httpx.Response(200, json=body)

    result = run(handler, "send", "nq", "--intent", "buy", "--secret", "s3", "--wait")
    assert result.exit_code == 0, result.output
    assert "status done" in result.output
    assert seen == ["/api/webhook/nq", *["/api/signals/s1"] * 3]


def test_send_with_wait_gives_up_after_wait_s_with_a_code_and_exit_1() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/webhook/nq":
            return httpx.Response(202, json={"id": "s1", "status": "accepted", "messages": 1})
        return httpx.Response(200, json={"id": "s1", "status": "executing", "accounts": []})

    result = run(handler, "send", "nq", "--intent", "buy", "--wait", "--wait-s", "1")
    assert result.exit_code == 1
    assert "still_executing" in result.output
    assert "Traceback" not in result.output


def test_signal_latest_resolves_the_newest_signal_of_the_strategy() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.url.path}?{request.url.query.decode()}")
        if request.url.path == "/api/signals":
            return httpx.Response(200, json={"signals": [{"id": "newest"}, {"id": "older"}]})
        return httpx.Response(200, json={"id": "newest", "strategy": "nq", "status": "done"})

    result = run(handler, "signal", "latest", "--strategy", "nq")
    assert result.exit_code == 0, result.output
    assert "signal newest" in result.output
    path, _, query = asked[0].partition("?")
    assert path == "/api/signals"
    assert {"limit=1", "strategy=nq"} <= set(query.split("&"))
    assert asked[1].startswith("/api/signals/newest")


def test_signal_latest_without_any_signal_says_so() -> None:
    result = run(answer({"/api/signals": (200, {"signals": []})}), "signal", "latest")
    assert result.exit_code == 1
    assert "no_signals" in result.output


def test_signal_shows_each_accounts_trades_entry_and_exit() -> None:
    body = {"id": "s1", "strategy": "nq", "status": "done", "accounts": [
        {"account": "DEMO1", "status": "done", "trades": [
            {"leg": "entry", "side": "buy", "qty": 1, "price": "21000",
             "filled_at": "2026-12-03T14:30:00.120000+00:00", "order_id": 7},
            {"leg": "entry.tp", "side": "sell", "qty": 1, "price": "21010",
             "filled_at": "2026-12-04T09:02:11+00:00", "order_id": 9}]},
        {"account": "DEMO2", "status": "done", "trades": None,
         "trades_error": "the fill history could not be read: ServiceRequestError"}]}  # fmt: skip
    result = run(answer({"/api/signals/s1": (200, body)}), "signal", "s1")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    tp = next(line for line in lines if "entry.tp" in line)
    for shown in ("sell", "21010", "2026-12-04 09:02:11"):
        assert shown in tp
    assert any("entry " in line and "21000" in line for line in lines)
    assert "trades not read: the fill history could not be read" in result.output
