"""The functions record their metrics through OpenTelemetry (checked with an in-memory reader)."""

from __future__ import annotations

import json
import subprocess
import sys

from local.services import REPO_ROOT

# OpenTelemetry's global meter provider can be set once per process, so this runs in a child.
CHILD = r"""
import asyncio, json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

import azure.functions as func
from functions import execute_sb, ops_trading, webhook_http
from shared.container import Container, reset_container
from shared.domain.alerts import parse_alert
from shared.services.envelope import Envelope
from shared.services.execute import Outcome
from shared.services.ingest import IngestDeps, Ingestor
from shared.strategies import load_strategies
from tests.conftest import make_settings
from tests.fakes import FakeGate, FakeJournal, FakeQueue, FakeSecrets

container = Container(make_settings())
container.__dict__["ingestor"] = Ingestor(IngestDeps(
    strategies=load_strategies("tests/fixtures/strategies.test.toml"),
    secrets=FakeSecrets({"WEBHOOK_OPEN": "s3"}), gate=FakeGate(), queue=FakeQueue(),
    journal=FakeJournal()))
reset_container(container)

def request(secret):
    body = json.dumps({"secret": secret, "intent": "buy", "symbol": "ES1!", "quantity": 1})
    return func.HttpRequest(method="POST", url="/api/webhook/open", body=body.encode(),
                            route_params={"strategy": "open"}, headers={})

async def main():
    await webhook_http.webhook(request("s3"))
    await webhook_http.webhook(request("wrong"))
asyncio.run(main())

envelope = Envelope(signal_id="x" * 32, strategy_id="open", account="DEMO10001", account_id=1,
    multiplier=Decimal(1), alert_format="native",
    received_at=datetime.now(UTC) - timedelta(milliseconds=40), correlation_id="c",
    signal=parse_alert('{"intent": "buy", "symbol": "ES1!"}').signal)
execute_sb._record(envelope, Outcome("done", "", (11, 12)))
execute_sb._record(envelope, Outcome("denied", "kill_switch_account: engaged"))
account = {"kind": "account", "name": "DEMO10001"}
ops_trading.count_engaged({"scope": account, "changed": True}, "stop")
ops_trading.count_engaged({"scope": account, "changed": False}, "pause")  # already engaged

found = {}
for rm in reader.get_metrics_data().resource_metrics:
    for sm in rm.scope_metrics:
        for metric in sm.metrics:
            for point in metric.data.data_points:
                value = getattr(point, "value", None)
                if value is None:
                    value = {"count": point.count, "sum": point.sum}
                found.setdefault(metric.name, []).append([dict(point.attributes), value])
print(json.dumps(found))
"""


def collected() -> dict[str, list[list[object]]]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_functions_record_webhook_and_execution_metrics() -> None:
    found = collected()
    received = {p[0]["outcome"]: p[1] for p in found["tradebridge_signals_received"]}
    assert received == {"accepted": 1, "unauthorized": 1}
    acks = found["tradebridge_webhook_ack_ms"]
    assert sum(p[1]["count"] for p in acks) == 2  # type: ignore[index]
    assert found["tradebridge_orders_placed"][0][1] == 2
    [[latency_labels, latency]] = found["tradebridge_signal_to_order_ms"]
    assert latency_labels == {"strategy": "open", "account": "DEMO10001"}
    assert latency["sum"] >= 40  # type: ignore[index]
    [[denied_labels, denied]] = found["tradebridge_orders_denied"]
    assert (denied_labels["reason"], denied) == ("kill_switch_account", 1)
    # Engaged once through the ops API (a pause of an engaged switch changes nothing); the
    # denial it caused is counted as a denial only.
    assert found["tradebridge_kill_switch_engaged"] == [[{"scope": "account", "mode": "stop"}, 1]]
