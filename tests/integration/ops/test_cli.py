"""The tradebridge command line against the real dev host, Redis, Azurite and the simulator.

In-process through click's runner (the same code path as ``scripts/tradebridge``), except one
subprocess run that proves the script and ``python -m tradebridge_cli`` start.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.integration.execution.conftest import KEY, System, wait_for
from tests.integration.ops.test_ops_api import MASTER, flat_everywhere, no_worker, working
from tradebridge_cli.app import main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
BRACKET = {"take_profit": {"ticks": 40}, "stop_loss": {"ticks": 20}}


def cli(system: System, *args: str, key: str = KEY) -> Result:
    flags = ["--url", system.url, "--key", key, "--master-key", MASTER, "--actor", "cli-test"]
    env = {"TRADEBRIDGE_PROFILE_FILE": "/nonexistent/profile.toml"}
    return CliRunner().invoke(main, [*flags, *args], env=env)


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_status_answers_in_under_a_second(fresh: System) -> None:
    no_worker(fresh)
    started = time.monotonic()
    result = cli(fresh, "status")
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert elapsed < 1.0, elapsed
    assert "trading: enabled" in result.output
    assert "redis" in result.output
    assert "worker" in result.output
    body = as_json(cli(fresh, "status", "--json"))
    assert body["trading"]["trading"] == "enabled"
    assert body["health"]["checks"]["redis"]["status"] == "ok"


def test_cli_pause_denies_an_entry_while_an_exit_passes(fresh: System) -> None:
    opened = fresh.post("solo", intent="buy", symbol="MNQ1!", quantity=1, price=21000)
    assert fresh.outcome(opened["id"])[0].status == "done"
    paused = cli(fresh, "pause", "--strategy", "solo", "--reason", "cli review", "--yes")
    assert paused.exit_code == 0, paused.output
    assert "paused" in paused.output
    assert MASTER not in paused.output

    alert = ["--intent", "buy", "--symbol", "MNQ1!", "--quantity", "1", "--price", "21000"]
    sent = as_json(cli(fresh, "send", "solo", *alert, "--secret", "e2e-secret", "--json"))
    [denied] = fresh.outcome(sent["id"])
    assert (denied.status, denied.fields.get("reason_code")) == ("denied", "kill_switch_strategy")
    leave = fresh.post("solo", intent="exit", symbol="MNQ1!", price=21000)
    assert fresh.outcome(leave["id"])[0].status == "done"
    assert fresh.positions(10001) == {}

    detail = cli(fresh, "signal", sent["id"])
    assert detail.exit_code == 0, detail.output
    assert "kill_switch_strategy" in detail.output
    assert "dequeued" in detail.output
    assert "total" in detail.output
    listed = as_json(cli(fresh, "signals", "--strategy", "solo", "--status", "denied", "--json"))
    assert [s["id"] for s in listed["signals"]] == [sent["id"]]
    status = as_json(cli(fresh, "status", "--json"))["trading"]
    solo = next(s for s in status["strategies"] if s["id"] == "solo")
    assert (solo["state"], solo["by"]["actor"]) == ("paused", "cli-test")

    resumed = cli(fresh, "resume", "--strategy", "solo", "--reason", "reviewed", "--yes")
    assert resumed.exit_code == 0, resumed.output
    again = cli(fresh, "resume", "--strategy", "solo", "--reason", "twice", "--yes")
    assert again.exit_code == 1
    assert "not_disabled" in again.output


def test_cli_stop_leaves_the_simulator_flat(fresh: System) -> None:
    no_worker(fresh)
    both = fresh.post("both", intent="buy", symbol="MNQ1!", quantity=1, price=21000, **BRACKET)
    fresh.outcome(both["id"], accounts=2)
    assert fresh.positions(10001) == {"MNQ": 1}
    assert working(fresh)
    positions = as_json(cli(fresh, "positions", "--json"))
    assert {p["account"] for p in positions["positions"] if p["net_pos"]} == {
        "DEMO10001", "DEMO10002"
    }  # fmt: skip
    assert "MNQ" in cli(fresh, "orders").output

    stopped = cli(fresh, "stop", "--all", "--reason", "stop everything now", "--yes", "--json")
    answer = as_json(stopped)
    for queued in answer["flatten"]["queued"]:
        fresh.outcome(queued["signal_id"])
    wait_for(lambda: flat_everywhere(fresh), 20)
    assert as_json(cli(fresh, "status", "--json"))["trading"]["trading"] == "stopped"
    assert cli(fresh, "resume", "--all", "--reason", "done", "--yes").exit_code == 0


def test_cli_reads_balance_and_contracts(fresh: System) -> None:
    balance = cli(fresh, "balance", "--max-age", "0")
    assert balance.exit_code == 0, balance.output
    assert "DEMO10001" in balance.output
    contracts = cli(fresh, "contracts", "--json")
    assert "maps" in as_json(contracts)


def test_cli_with_a_wrong_key_exits_non_zero_with_one_sentence(fresh: System) -> None:
    result = cli(fresh, "status", key="wrong-key")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"tradebridge: {fresh.url} refused the key: check --key"
    ]
    unknown = cli(fresh, "signal", "no-such-signal")
    assert unknown.exit_code == 1
    assert "unknown_signal" in unknown.output


def test_cli_script_runs_as_a_subprocess_against_a_dead_url() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "tradebridge"), "--url", "http://127.0.0.1:9", "--key", "k",
         "status"],
        capture_output=True, text=True, timeout=30, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TRADEBRIDGE_PROFILE_FILE": "/nonexistent"},
    )  # fmt: skip
    assert result.returncode == 3
    assert result.stderr.strip().startswith("tradebridge: cannot reach http://127.0.0.1:9")
    assert "Traceback" not in result.stderr
