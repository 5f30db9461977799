"""``logs``, ``config check``, ``alert-template`` and ``signals --follow`` against a
MockTransport and a local stack's state file; and the stack's log folder."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from local.stack import Stack, _parse, log_folder
from tradebridge_cli.app import Options, main
from tradebridge_cli.client import OpsClient
from tradebridge_cli.config import Config
from tradebridge_cli.follow import Follower
from tradebridge_cli.logs import IN_AZURE, last_lines

KEY, MASTER = "read-key-123", "master-key-456"
FUNCTIONS = "http://127.0.0.1:7999"


def stack(tmp_path: Path, logs: Path | None) -> dict[str, str]:
    """Write a running stack's state (this process's pid) and return the CLI's environment."""
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"Values": {"DEVHOST_FUNCTION_KEYS": "fk",
                                               "DEVHOST_MASTER_KEY": "mk"}}))  # fmt: skip
    urls: dict[str, str] = {"functions": FUNCTIONS, "settings": str(settings)}
    if logs is not None:
        urls["logs"] = str(logs)
    state = tmp_path / "stack.json"
    state.write_text(json.dumps({"pid": os.getpid(), "urls": urls}))
    return {"TRADEBRIDGE_STACK_STATE": str(state), "TRADEBRIDGE_PROFILE_FILE": "/nonexistent",
            "TRADEBRIDGE_URL": "", "TRADEBRIDGE_KEY": "", "TRADEBRIDGE_MASTER_KEY": ""}  # fmt: skip


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "worker.log").write_text("w1\nw2\nw3\n")
    (folder / "functions.log").write_text("f1\nf2\n")
    return folder


def test_logs_show_the_folder_and_the_last_lines_of_each_file(tmp_path: Path, logs: Path) -> None:
    result = invoke(stack(tmp_path, logs), "logs", "-n", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"logs of the local stack: {logs}",
        "components: functions, worker",
        f"==> functions ({logs / 'functions.log'}) <==",
        "f1",
        "f2",
        f"==> worker ({logs / 'worker.log'}) <==",
        "w2",
        "w3",
    ]


def test_logs_follow_one_component_prints_appended_lines(tmp_path: Path, logs: Path) -> None:
    def append() -> None:
        time.sleep(0.4)
        with (logs / "worker.log").open("a") as handle:
            handle.write("w4 new\npartial")
            handle.flush()
            time.sleep(0.4)
            handle.write(" line\n")

    writer = threading.Thread(target=append)
    writer.start()
    result = invoke(stack(tmp_path, logs), "logs", "worker", "-n", "1", "--follow", "--for", "2")
    writer.join()
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[2:] == ["w3", "w4 new", "partial line"]


def test_logs_of_an_unknown_component_or_without_a_folder_exit_2(
    tmp_path: Path, logs: Path
) -> None:
    unknown = invoke(stack(tmp_path, logs), "logs", "nope")
    assert unknown.exit_code == 2
    assert "functions, worker" in unknown.output
    bare = invoke(stack(tmp_path, None), "logs")
    assert bare.exit_code == 2
    assert "records no log folder" in bare.output


def test_logs_of_a_deployment_say_where_azure_keeps_them_and_exit_2(
    tmp_path: Path, logs: Path
) -> None:
    env = stack(tmp_path, logs)
    result = invoke(env, "--url", "https://bridge.azurewebsites.net", "logs")
    assert result.exit_code == 2
    assert result.output.strip() == f"tradebridge: {IN_AZURE}"
    assert "Application Insights" in result.output
    assert "az webapp log tail" in result.output
    # The local stack's own URL, given as a flag, is still the local stack.
    local = invoke(env, "--url", f"{FUNCTIONS}/api", "logs", "-n", "0")
    assert local.exit_code == 0, local.output


def test_last_lines_reads_only_the_end_of_a_big_file(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_text("".join(f"line {n}\n" for n in range(50_000)))
    assert last_lines(path, 3) == ["line 49997", "line 49998", "line 49999"]
    assert last_lines(path, 0) == []
    (tmp_path / "short.log").write_text("only\n")
    assert last_lines(tmp_path / "short.log", 5) == ["only"]


def test_stack_log_folder_is_the_named_one_or_a_new_temporary_one(tmp_path: Path) -> None:
    named = tmp_path / "a" / "logs"
    assert log_folder(named) == named.resolve()
    assert named.is_dir()
    assert _parse(["--logs", str(named)]).logs == named
    made = log_folder(None)
    assert made.is_dir()
    assert made.name.startswith("tradebridge-stack-logs-")
    assert Stack(_parse(["--logs", str(named)])).logs == named.resolve()
    made.rmdir()


# --- against a MockTransport -------------------------------------------------------------------


def run(handler: Any, *args: str) -> Result:
    options = Options(None, None, None, None, "tester", 5.0, transport=httpx.MockTransport(handler))
    env = {"TRADEBRIDGE_PROFILE_FILE": "/nonexistent/profile.toml"}
    flags = ["--url", "http://bridge.test", "--key", KEY, "--master-key", MASTER]
    return CliRunner().invoke(main, [*flags, *args], obj=options, env=env)


TEMPLATE = {
    "format": "native", "action": "entry", "webhook_path": "/api/webhook/nq",
    "secret_field": "secret", "message": '{\n  "secret": "********"\n}', "notes": ["a note"],
}  # fmt: skip


def test_alert_template_masks_the_key_unless_revealed_and_asks_with_the_master_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=TEMPLATE)

    hidden = run(handler, "alert-template", "nq")
    assert hidden.exit_code == 0, hidden.output
    assert "http://bridge.test/api/webhook/nq?code=********" in hidden.stdout
    assert KEY not in hidden.stdout
    assert "add --reveal" in hidden.stdout
    assert seen[0].headers["x-functions-key"] == MASTER
    assert seen[0].url.params.get("reveal") is None
    shown = run(handler, "alert-template", "nq", "--reveal", "--format", "crosstrade")
    assert f"http://bridge.test/api/webhook/nq?code={KEY}" in shown.stdout
    assert "add --reveal" not in shown.stdout
    assert (seen[1].url.params["reveal"], seen[1].url.params["format"]) == ("true", "crosstrade")
    assert run(handler, "alert-template", "a/b").exit_code == 2


def test_config_check_prints_one_line_per_problem_and_exits_1(tmp_path: Path) -> None:
    problems = [{"code": "unknown_account", "where": "strategies.x.accounts[0]", "message": "m"}]
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        found = problems if request.content else []
        return httpx.Response(200, json={"source": "s.toml", "problems": found})

    clean = run(handler, "config", "check")
    assert (clean.exit_code, clean.stdout) == (0, "no problems in s.toml\n")
    candidate = tmp_path / "c.toml"
    candidate.write_text("version = 1\n")
    found = run(handler, "config", "check", "--file", str(candidate))
    assert found.exit_code == 1
    assert found.stdout == "unknown_account  strategies.x.accounts[0]: m\n"
    assert "1 problem in s.toml" in found.stderr
    assert bodies == [b"", b"version = 1\n"]
    as_json = run(handler, "config", "check", "--file", str(candidate), "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["problems"] == problems
    (tmp_path / "empty.toml").write_text("")
    assert run(handler, "config", "check", "--file", str(tmp_path / "empty.toml")).exit_code == 2


def test_signals_follow_refuses_a_window_and_for_needs_follow() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    since = run(handler, "signals", "--follow", "--since", "2026-01-01T00:00:00Z")
    assert since.exit_code == 2
    assert "--since does not go with --follow" in since.output
    alone = run(handler, "signals", "--for", "3")
    assert alone.exit_code == 2


def test_follower_returns_each_signal_once_oldest_first_and_pages() -> None:
    pages: list[dict[str, Any]] = [
        {"until": "2026-11-20T15:00:00+00:00", "signals": [], "next": None},
        {"until": "2026-11-20T15:00:02+00:00", "next": "c1", "signals": [
            {"id": "b", "received_at": "2026-11-20T15:00:01.5+00:00"},
            {"id": "a", "received_at": "2026-11-20T15:00:01+00:00"}]},
        {"until": "ignored", "next": None, "signals": [
            {"id": "a", "received_at": "2026-11-20T15:00:01.8+00:00", "status": "duplicate"}]},
        {"until": "2026-11-20T15:00:03+00:00", "next": None, "signals": [
            {"id": "b", "received_at": "2026-11-20T15:00:01.5+00:00"},
            {"id": "c", "received_at": "2026-11-20T15:00:02.5+00:00"}]},
    ]  # fmt: skip
    asked: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(dict(request.url.params))
        return httpx.Response(200, json=pages[len(asked) - 1])

    config = Config("http://bridge.test", KEY, None, "flags")
    client = OpsClient(config, transport=httpx.MockTransport(handler))
    follower = Follower(client, {"strategy": "nq"})
    first = follower.poll()
    assert [(s["id"], s["received_at"][17:21]) for s in first] == [
        ("a", "01+0"), ("b", "01.5"), ("a", "01.8")
    ]  # fmt: skip
    assert [s["id"] for s in follower.poll()] == ["c"]
    assert asked[0] == {"limit": "1", "strategy": "nq"}
    assert asked[1]["since"] == "2026-11-20T15:00:00+00:00"
    assert asked[2]["cursor"] == "c1"
    assert asked[3]["since"] == "2026-11-20T15:00:00+00:00"  # never before the start
