"""The webhook and health functions called with real func.HttpRequest objects."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import azure.functions as func
import pytest

from functions import ops_http, webhook_http
from functions.http_responses import status_for
from shared.container import Container, reset_container
from shared.domain.errors import (
    BrokerRejected,
    ConfigError,
    DependencyUnavailable,
    Forbidden,
    InvalidSignal,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
)
from shared.services.ingest import IngestDeps, Ingestor
from shared.strategies import load_strategies
from tests.conftest import make_settings
from tests.fakes import FakeGate, FakeJournal, FakeQueue, FakeSecrets
from tests.unit.services.test_ingest import SECRET, STRATEGIES, TV, alert


@pytest.fixture
def queue() -> Iterator[FakeQueue]:
    queue = FakeQueue()
    container = Container(make_settings())
    container.__dict__["ingestor"] = Ingestor(
        IngestDeps(
            strategies=load_strategies(STRATEGIES),
            secrets=FakeSecrets({"WEBHOOK_NQ_TREND": SECRET}),
            gate=FakeGate(),
            queue=queue,
            journal=FakeJournal(),
        )
    )
    reset_container(container)
    yield queue
    reset_container(None)


def request(body: str, strategy: str = "nq-trend", ip: str = TV) -> func.HttpRequest:
    return func.HttpRequest(
        method="POST",
        url=f"http://localhost/api/webhook/{strategy}",
        headers={"x-forwarded-for": f"{ip}:1234", "content-type": "text/plain"},
        route_params={"strategy": strategy},
        body=body.encode(),
    )


def payload(response: func.HttpResponse) -> dict[str, object]:
    return dict(json.loads(response.get_body()))


async def test_webhook_with_valid_alert_answers_202_with_id(queue: FakeQueue) -> None:
    response = await webhook_http.webhook(request(alert()))
    assert response.status_code == 202
    body = payload(response)
    assert body["status"] == "accepted"
    assert body["messages"] == 2
    assert len(str(body["id"])) == 32
    assert float(response.headers["X-Process-Time-ms"]) >= 0
    assert response.headers["X-Correlation-Id"] == queue.messages[0].correlation_id


async def test_webhook_with_bad_input_answers_400_with_code_and_field(queue: FakeQueue) -> None:
    response = await webhook_http.webhook(request(alert(quantity="lots")))
    assert response.status_code == 400
    body = payload(response)
    assert body["field"] == "quantity"
    assert isinstance(body["code"], str)
    assert isinstance(body["message"], str)
    assert "X-Process-Time-ms" in response.headers
    assert queue.messages == []


async def test_webhook_with_queue_down_answers_503_and_queues_nothing(queue: FakeQueue) -> None:
    queue.fail_next = DependencyUnavailable("down")
    response = await webhook_http.webhook(request(alert()))
    assert response.status_code == 503
    assert payload(response)["code"] == "dependency_unavailable"


async def test_webhook_with_unexpected_error_before_enqueue_answers_503(queue: FakeQueue) -> None:
    queue.fail_next = RuntimeError("bug")
    response = await webhook_http.webhook(request(alert()))
    assert response.status_code == 503


async def test_webhook_with_wrong_secret_answers_401(queue: FakeQueue) -> None:
    assert (await webhook_http.webhook(request(alert(secret="nope")))).status_code == 401


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidSignal("x"), 400),
        (Unauthorized("x"), 401),
        (Forbidden("x"), 403),
        (PayloadTooLarge("x"), 413),
        (RateLimited("x", retry_after_s=5), 429),
        (DependencyUnavailable("x"), 503),
        (ConfigError("x"), 503),
        (BrokerRejected("x"), 503),
    ],
)
def test_status_for_maps_each_error_class(error: Exception, status: int) -> None:
    assert status_for(error) == status  # type: ignore[arg-type]


def test_health_reports_status_uptime_and_timestamp() -> None:
    response = ops_http.health(func.HttpRequest(method="GET", url="/api/health", body=b""))
    body = payload(response)
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert isinstance(body["uptime_s"], float)
    assert str(body["timestamp"]).endswith("+00:00")


def test_webhook_with_unresolved_key_vault_reference_answers_503_with_its_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A first deploy before the secrets exist: the platform leaves the reference as text.
    for name, value in {
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "TRADOVATE_USERNAME": "trader",
        "TRADOVATE_PASSWORD": "@Microsoft.KeyVault(VaultName=kv;SecretName=tradovate-password)",
        "TRADOVATE_CID": "8",
        "TRADOVATE_SEC": "sec",
        "TRADOVATE_DEVICE_ID": "dev",
    }.items():
        monkeypatch.setenv(name, value)
    reset_container(Container())
    try:
        response = asyncio.run(webhook_http.webhook(request('{"ticker":"NQ1!"}')))
    finally:
        reset_container(None)
    assert response.status_code == 503
    body = payload(response)
    assert body["code"] == "unresolved_key_vault_reference"
    assert "TRADOVATE_PASSWORD" in str(body["message"])
