"""Every alert example in the docs is sent through the stack and does what it says.

Each copy-paste alert of the alert-format pages (docs/alerts), with TradingView's placeholders
filled in (a buy, or the action the example names) and the docs' placeholder secret and
account swapped for the test strategy's, goes to the webhook of the dev host, through the queue
and the executor, to the simulator. It must be accepted, end ``done``, leave the position the
example's action asks for, and leave the example's take profit and stop working there.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest

from tests.docs.blocks import alert_examples
from tests.integration.execution.conftest import KEY, SECRET, System, now_iso

pytestmark = pytest.mark.integration

EXAMPLES = alert_examples()
BLOCKS = [block for _, block in EXAMPLES]
ACCOUNT_ID = 10001


def fill(block: str) -> str:
    filled = {
        "{{strategy.order.action}}": "buy",
        "{{ticker}}": "NQ1!",
        "{{strategy.order.contracts}}": "2",
        "{{close}}": "21000",
        "{{strategy.market_position}}": "long",
        "{{strategy.position_size}}": "2",
        "{{strategy.prev_market_position}}": "flat",
        "{{strategy.prev_market_position_size}}": "0",
        "{{timenow}}": now_iso(-1),
        "{{strategy.order.id}}": "Long",
        "your-webhook-secret": SECRET,
        "DEMO1234567": "DEMO10001",
    }
    for placeholder, value in filled.items():
        block = block.replace(placeholder, value)
    return block


def expected_side(block: str) -> int:
    """Return +1 for an example that buys, -1 for one that sells (its own literal action)."""
    text = block.lower()
    sells = re.search(r'"(?:intent|action|side)"\s*:\s*"(?:sell|short)"', text)
    return -1 if sells else 1


def exits_of(block: str) -> bool:
    text = block.lower()
    return any(word in text for word in ("take_profit", "takeprofit", "dollar_tp", "brackets"))


@pytest.mark.parametrize(
    "block", BLOCKS, ids=[f"{page}-{i}" for i, (page, _) in enumerate(EXAMPLES)]
)
def test_doc_alert_example_trades_as_written(fresh: System, block: str) -> None:
    body = fill(block)
    r = httpx.post(
        f"{fresh.url}/api/webhook/solo?code={KEY}",
        content=body.encode(),
        headers={
            "Content-Type": "application/json" if body.lstrip().startswith("{") else "text/plain"
        },
        timeout=10,
    )
    assert r.status_code == 202, (r.status_code, r.text, body)
    [summary] = fresh.outcome(r.json()["id"], timeout_s=30)
    assert summary.status == "done", (summary.fields, body)
    side = expected_side(block)
    net = wait_position(fresh)
    assert net * side > 0, (net, body)
    if exits_of(block):
        working = [o for o in fresh.orders(ACCOUNT_ID) if o["ordStatus"] == "Working"]
        kinds = {o["version"]["orderType"] for o in working}
        assert {"Limit", "Stop"} <= kinds, (kinds, body)


def wait_position(system: System) -> int:
    deadline = time.monotonic() + 10
    net = 0
    while time.monotonic() < deadline:
        state: Any = system.sim.state()
        net = sum(p["netPos"] for p in state["positions"] if p["accountId"] == ACCOUNT_ID)
        if net:
            return int(net)
        time.sleep(0.05)
    return net


def test_alert_pages_have_the_examples_this_test_sends() -> None:
    assert len(BLOCKS) >= 8
    assert all(json.loads(fill(b)) for b in BLOCKS if b.lstrip().startswith("{"))
