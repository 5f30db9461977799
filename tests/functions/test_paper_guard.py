"""The function app with PAPER=true and a live Tradovate URL refuses every call with its code."""

from __future__ import annotations

import asyncio
import json

import azure.functions as func
import pytest

from functions import webhook_http
from shared.container import Container, reset_container


def test_webhook_with_paper_and_live_url_answers_503_paper_live_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "TRADOVATE_USERNAME": "trader",
        "TRADOVATE_PASSWORD": "pw",
        "TRADOVATE_CID": "8",
        "TRADOVATE_SEC": "sec",
        "TRADOVATE_DEVICE_ID": "dev",
        "TRADOVATE_BASE_URL": "https://live.tradovateapi.com/v1",
        "PAPER": "true",
    }.items():
        monkeypatch.setenv(name, value)
    reset_container(Container())
    request = func.HttpRequest(
        method="POST",
        url="http://localhost/api/webhook/default",
        headers={"content-type": "text/plain"},
        route_params={"strategy": "default"},
        body=b'{"symbol": "MNQ1!", "action": "buy", "quantity": 1}',
    )
    try:
        response = asyncio.run(webhook_http.webhook(request))
    finally:
        reset_container(None)
    assert response.status_code == 503
    body = json.loads(response.get_body())
    assert body["code"] == "paper_live_environment"
    assert "live environment" in body["message"]
