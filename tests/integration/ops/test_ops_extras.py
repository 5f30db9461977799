"""Metrics, config check, alert templates, ``signals --follow`` and the ``webhook.received``
event, end to end: the real dev host, Redis, Azurite and the Tradovate simulator, driven
through the ``tradebridge`` command line (click's runner) and the ops API."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from click.testing import Result

from shared.services.ops.alert_template import ACTIONS, FORMATS, MASK
from tests.integration.execution.conftest import KEY, SECRET, System, wait_for
from tests.integration.ops.test_cli import cli
from tests.integration.ops.test_ops_api import MASTER, get

pytestmark = pytest.mark.integration

# What TradingView writes into a strategy alert's placeholders, as it would on a fill.
FILLED = {
    "{{ticker}}": "MNQ1!",
    "{{strategy.order.action}}": "buy",
    "{{strategy.order.contracts}}": "2",
    "{{close}}": "21000.25",
    "{{strategy.order.id}}": "Long",
    "{{strategy.market_position}}": "long",
    "{{strategy.position_size}}": "2",
    "{{strategy.prev_market_position}}": "flat",
}
EXIT_INTENTS = {"native": "exit", "traderspost": "exit", "pickmytrade": "close",
                "crosstrade": "exit"}  # fmt: skip


def journaled(system: System, signal_id: str) -> dict[str, Any]:
    """Wait for the journal's record of a signal (written in the background); return it."""

    def read() -> dict[str, Any] | None:
        answer = get(system, f"signals/{signal_id}")
        body = answer.json() if answer.status_code == 200 else {}
        return body if body.get("journal") else None

    return dict(wait_for(read, 10))


def blocks(result: Result) -> list[str]:
    """Split the alert-template output into its blocks (URL, message, notes, ...)."""
    assert result.exit_code == 0, result.output
    return result.stdout.split("\n\n")


def _counts(body: dict[str, Any], *path: str) -> Counter[str]:
    node: Any = body
    for key in path:
        node = node.get(key) or {}
    return Counter({k: int(v) for k, v in node.items()})


def test_metrics_count_what_was_sent_and_order_the_percentiles(fresh: System) -> None:
    # The journal outlives each test's fresh Redis: count what this test adds to the window.
    before = get(fresh, "health/metrics", strategy="micro").json()["windows"]["last_hour"]
    sent = [fresh.post("micro", intent="buy", symbol="MNQ1!", quantity=1, price=21000)]
    sent.append(fresh.post("micro", intent="exit", symbol="MNQ1!", price=21000))
    for answer in sent:
        fresh.outcome(answer["id"])
    refused = httpx.post(
        f"{fresh.url}/api/webhook/micro?code={KEY}",
        json={"secret": "wrong", "intent": "buy", "symbol": "MNQ1!"},
        timeout=10,
    )
    assert refused.status_code == 401

    def counted() -> dict[str, Any] | None:
        body = get(fresh, "health/metrics", strategy="micro").json()
        hour = body["windows"]["last_hour"]
        return body if hour["alerts"] >= before["alerts"] + 3 else None

    body = wait_for(counted, 10)
    hour, day = body["windows"]["last_hour"], body["windows"]["last_day"]
    assert (body["strategy"], body["percentiles"]) == ("micro", "nearest-rank")
    assert (body["capped"], hour["complete"]) == (False, True)
    added = _counts(hour, "webhook") - _counts(before, "webhook")
    assert added == Counter({"accepted": 2, "refused": 1})
    assert hour["webhook"]["duplicate"] == before["webhook"]["duplicate"]
    assert (_counts(hour, "signals") - _counts(before, "signals"))["done"] == 2
    assert (_counts(hour, "executions") - _counts(before, "executions"))["done"] == 2
    assert _counts(hour, "refusals") - _counts(before, "refusals") == Counter({"unauthorized": 1})
    assert _counts(day, "webhook") >= _counts(hour, "webhook")
    for span in ("received_to_enqueued", "dequeued_to_sent", "received_to_acknowledged"):
        stats = hour["latency"][span]
        assert stats["count"] >= 2, (span, stats)
        values = [Decimal(stats[k]) for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")]
        assert values == sorted(values), (span, stats)
        assert values[0] >= 0
    assert get(fresh, "health/metrics", strategy="nope").json()["code"] == "unknown_strategy"
    assert get(fresh, "health/metrics", window="1h").json()["code"] == "bad_filter"


@pytest.fixture
def received(fresh: System) -> Iterator[Any]:
    """Subscribe to the webhook.received channel for the test."""
    client = redis.Redis.from_url(fresh.redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("webhook.received")
    yield pubsub
    pubsub.close()
    client.close()


def next_event(pubsub: Any) -> dict[str, Any]:
    message = wait_for(lambda: pubsub.get_message(timeout=0.2), 5)
    return dict(json.loads(message["data"]))


def test_webhook_received_is_published_for_accepted_and_duplicate_alerts(
    fresh: System, received: Any
) -> None:
    body = {"secret": SECRET, "alert_id": f"event-{time.time_ns()}", "intent": "buy",
            "symbol": "MNQ1!", "quantity": 1}  # fmt: skip
    url = f"{fresh.url}/api/webhook/both?code={KEY}"
    first = httpx.post(url, json=body, timeout=10).json()
    event = next_event(received)
    assert {k: event[k] for k in ("type", "strategy", "signal_id", "status", "messages")} == {
        "type": "webhook.received", "strategy": "both", "signal_id": first["id"],
        "status": "accepted", "messages": 2,
    }  # fmt: skip
    assert event["format"] == "native"
    assert SECRET not in json.dumps(event)
    again = httpx.post(url, json=body, timeout=10).json()
    assert again["status"] == "duplicate"
    duplicate = next_event(received)
    assert (duplicate["signal_id"], duplicate["status"], duplicate["messages"]) == (
        first["id"], "duplicate", 0,
    )  # fmt: skip
    fresh.outcome(first["id"], accounts=2)


def test_alert_template_hides_secrets_without_reveal(fresh: System) -> None:
    result = cli(fresh, "alert-template", "window", "--format", "pickmytrade", "--action", "target")
    url, message, *_ = blocks(result)
    assert url.splitlines()[1] == f"{fresh.url}/api/webhook/window?code={MASK}"
    assert json.loads(message.split("\n", 1)[1])["token"] == MASK
    assert SECRET not in result.output
    assert KEY not in result.output
    assert MASTER not in result.output
    assert "--reveal" in result.output
    unknown = cli(fresh, "alert-template", "nope")
    assert unknown.exit_code == 1
    assert "unknown_strategy" in unknown.output


def test_alert_template_revealed_posts_back_and_reads_as_intended(fresh: System) -> None:
    # The "window" strategy trades on no day of this run: entries are denied before the
    # broker, so the twelve alerts cost the simulator nothing; the journal shows how each read.
    for fmt in FORMATS:
        for action in ACTIONS:
            args = ("alert-template", "window", "--format", fmt, "--action", action, "--reveal")
            url_block, message_block, *_ = blocks(cli(fresh, *args))
            url = url_block.splitlines()[1]
            assert url == f"{fresh.url}/api/webhook/window?code={KEY}"
            message = message_block.split("\n", 1)[1]
            assert SECRET in message
            filled = {**FILLED, "{{timenow}}": datetime.now(UTC).isoformat()}
            for placeholder, value in filled.items():
                message = message.replace(placeholder, value)
            assert "{{" not in message
            answer = httpx.post(url, content=message.encode(), timeout=10)
            assert answer.status_code == 202, (fmt, action, answer.text)
            record = journaled(fresh, answer.json()["id"])
            signal = record["signal"]
            assert record["journal"]["format"] == fmt
            assert signal["symbol"]["root"] == "MNQ", (fmt, action)
            if action == "exit":
                assert (signal["intent"], signal["quantity"]) == (EXIT_INTENTS[fmt], None)
                continue
            assert (signal["intent"], signal["quantity"]) == ("buy", "2"), (fmt, action)
            target = signal["target"]
            if action == "entry":
                assert target is None, fmt
            else:
                assert (target["market_position"], target["size"]) == ("long", "2"), fmt


def test_config_check_passes_the_stack_file_and_names_each_problem_of_a_candidate(
    fresh: System, tmp_path: Path
) -> None:
    ok = cli(fresh, "config", "check")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("no problems in ")
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(
        "version = 1\n"
        "[strategies.good]\n"
        'secret = { env = "WEBHOOK_E2E" }\n'
        'accounts = [{ name = "DEMO10001", id = 10001 }]\n'
        'symbols = { NQ = "MNQ" }\n'
        "[strategies.bad]\n"
        'secret = { env = "WEBHOOK_NOT_SET_ANYWHERE" }\n'
        'accounts = [{ name = "DEMO10001" }, { name = "DEMO99999" }]\n'
        "[strategies.bad.risk]\n"
        'symbols = ["ZZQ"]\n'
    )
    found = cli(fresh, "config", "check", "--file", str(candidate))
    assert found.exit_code == 1, found.output
    lines = found.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == [
        "missing_secret", "unknown_account", "unknown_symbol"
    ]  # fmt: skip
    assert "strategies.bad.secret" in lines[0]
    assert "strategies.bad.accounts[1]" in lines[1]
    assert "DEMO99999" in lines[1]
    assert lines[2].split()[1] == "strategies.bad.symbols:"
    assert "ZZQ" in lines[2]
    assert "3 problems in candidate" in found.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("version = 1\n[strategies.x\n")
    answer = json.loads(cli(fresh, "config", "check", "--file", str(broken), "--json").stdout)
    assert [p["code"] for p in answer["problems"]] == ["invalid_toml"]


def test_signals_follow_prints_a_signal_sent_while_it_runs(fresh: System) -> None:
    posted: list[dict[str, Any]] = []

    def send_soon() -> None:
        time.sleep(0.3)
        posted.append(fresh.post("cooldown", intent="exit", symbol="MNQ1!", price=21000))

    sender = threading.Thread(target=send_soon)
    sender.start()
    result = cli(fresh, "signals", "--follow", "--for", "2.5", "--strategy", "cooldown")
    sender.join()
    assert result.exit_code == 0, result.output
    [signal] = posted
    lines = [line for line in result.stdout.splitlines() if signal["id"] in line]
    assert len(lines) == 1, result.stdout
    assert "cooldown" in lines[0]
    assert "exit" in lines[0]
