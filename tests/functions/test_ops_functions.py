"""The ops API's thin adapters: status mapping, strict parameters, who is asking."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest

from functions import ops_health, ops_http
from functions.http_responses import status_for
from functions.ops_common import actor, answer, query
from shared.domain.errors import (
    Conflict,
    DependencyUnavailable,
    Forbidden,
    InvalidRequest,
    NotFound,
)


def body_of(response: func.HttpResponse) -> dict[str, Any]:
    return dict(json.loads(response.get_body()))


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidRequest("x"), 400),
        (Forbidden("x"), 403),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (DependencyUnavailable("Redis could not be reached"), 503),
    ],
)
async def test_answer_maps_each_refusal_to_its_status_and_code(
    error: Exception, status: int
) -> None:
    async def call() -> tuple[int, dict[str, Any]]:
        raise error

    response = await answer("test", call)
    assert response.status_code == status == status_for(error)  # type: ignore[arg-type]
    assert body_of(response)["message"] == str(error)


async def test_answer_hides_an_unexpected_failure_behind_500() -> None:
    async def call() -> tuple[int, dict[str, Any]]:
        raise RuntimeError("secret detail")

    response = await answer("test", call)
    assert response.status_code == 500
    assert body_of(response) == {
        "code": "ops_failed",
        "message": "the request failed unexpectedly; see the log",
    }


async def test_answer_renders_the_body_without_caching() -> None:
    async def call() -> tuple[int, dict[str, Any]]:
        return 202, {"ok": True}

    response = await answer("test", call)
    assert response.status_code == 202
    assert response.headers["Cache-Control"] == "no-store"


def test_query_drops_the_key_and_refuses_unknown_parameters() -> None:
    req = func.HttpRequest("GET", "/api/orders", params={"code": "k", "all": ""}, body=b"")
    assert query(req, frozenset({"all"})) == {"all": ""}
    with pytest.raises(InvalidRequest) as info:
        query(req, frozenset())
    assert info.value.field == "all"


def test_actor_fingerprints_the_header_key_and_reads_the_label() -> None:
    req = func.HttpRequest(
        "POST", "/api/trading/pause", headers={"x-functions-key": "m", "x-ops-actor": "bob"},
        body=b"",
    )  # fmt: skip
    who = actor(req, "admin")
    assert who.key == "master"
    assert who.label == "bob"
    assert who.key_id is not None
    assert who.key_id != "m"


def test_health_and_live_both_carry_uptime_seconds() -> None:
    req = func.HttpRequest(method="GET", url="/api/health", body=b"")
    anonymous = body_of(ops_http.health(req))
    assert anonymous["uptime"] == anonymous["uptime_s"]
    live = ops_health.health_live(req)
    assert live.status_code == 200
    assert body_of(live)["status"] == "ok"
    assert isinstance(body_of(live)["uptime"], float)
