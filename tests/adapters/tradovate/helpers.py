"""Test doubles for the Tradovate client: a recording router exchange, fake time, tokens."""

from __future__ import annotations

import inspect
import json
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from shared.adapters.tradovate.auth import SessionToken
from shared.adapters.tradovate.backoff import Backoff
from shared.adapters.tradovate.transport import RestConfig, TradovateHttp
from shared.domain.errors import TransientBrokerError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tradovate"
BASE_URL = "https://demo.example.invalid/v1"


def fixture(name: str) -> Any:
    """Load a recorded-shape payload from tests/fixtures/tradovate."""
    path = FIXTURES / name
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    return path.read_text(encoding="utf-8").strip()


def timed_out() -> TransientBrokerError:
    """What an exchange raises when a sent request got no answer in time."""
    return TransientBrokerError("Tradovate timed out (test)", code="broker_timeout")


def not_connected() -> TransientBrokerError:
    """What an exchange raises when no connection was made (nothing was sent)."""
    return TransientBrokerError("cannot connect (test)", code="broker_connect_failed")


def broken() -> TransientBrokerError:
    """What an exchange raises when the connection broke after the request went out."""
    return TransientBrokerError("failed in transit (test)", code="broker_transport_error")


Reply = tuple[int, Any] | Exception | Callable[[httpx.Request], httpx.Response]


class BrokerRouter:
    """Answer requests per endpoint from queued replies (the last one repeats) and record them.

    It is the client's ``Exchange``: each request is recorded as an ``httpx.Request`` (for
    its method, URL, headers and body); a queued exception is raised as the exchange would
    raise it (``TransientBrokerError`` with the code that says how far the request got).
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._replies: dict[str, deque[Reply]] = defaultdict(deque)

    def on(self, endpoint: str, *replies: Reply) -> BrokerRouter:
        self._replies[endpoint.lower()].extend(replies)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        endpoint = request.url.path.removeprefix("/v1/").lower()
        queue = self._replies.get(endpoint)
        if not queue:
            return httpx.Response(404, text=f"no route for {endpoint}")
        reply = queue.popleft() if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(request)
        status, body = reply
        if body is None:
            return httpx.Response(status)
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    async def request(
        self,
        method: str,
        endpoint: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str | int] | None,
        content: bytes | None,
    ) -> tuple[int, bytes]:
        """Answer one request (``shared.adapters.tradovate.exchange.Exchange``)."""
        request = httpx.Request(
            method,
            f"{BASE_URL}/{endpoint}",
            params=None if params is None else dict(params),
            headers={"Accept": "application/json", **headers},
            content=content,
        )
        response: Any = self(request)
        if inspect.isawaitable(response):  # a reply that answers after a delay
            response = await response
        return response.status_code, response.content

    async def aclose(self) -> None:
        """Nothing to close."""

    def sent(self, endpoint: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.lower() == f"/v1/{endpoint.lower()}"]

    def bodies(self, endpoint: str) -> list[Any]:
        return [json.loads(r.content, parse_float=Decimal) for r in self.sent(endpoint)]

    def count(self, endpoint: str) -> int:
        return len(self.sent(endpoint))


class FakeTime:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_http(router: BrokerRouter, time: FakeTime | None = None, **config: Any) -> TradovateHttp:
    """Build the HTTP core on a MockTransport with fake time and deterministic back-off."""
    time = time or FakeTime()
    values: dict[str, Any] = {
        "base_url": BASE_URL,
        "backoff": Backoff(base_s=0.25, cap_s=4.0, rng=lambda: 1.0),
    }
    values.update(config)
    return TradovateHttp(
        RestConfig(**values),
        exchange=router,
        sleep=time.sleep,
        clock=time,
    )


def token(value: str = "token-aaaaaaaaaaaaaaaa-0001", minutes: float = 80) -> SessionToken:
    """Build a session token expiring ``minutes`` from now."""
    return SessionToken(
        access_token=value,
        expires_at=datetime.now(UTC) + timedelta(minutes=minutes),
        user_id=2390,
        user_name="sim-trader",
        md_access_token=f"md-{value}",
    )


class FakeTokens:
    """An in-memory TokenSource: a list of tokens handed out in order after each rejection."""

    def __init__(self, *values: str) -> None:
        self._tokens = [token(v) for v in (values or ("token-aaaaaaaaaaaaaaaa-0001",))]
        self.rejected: list[str] = []

    async def current(self) -> SessionToken:
        return self._tokens[0]

    async def token_rejected(self, value: str) -> SessionToken:
        self.rejected.append(value)
        if len(self._tokens) > 1 and self._tokens[0].access_token == value:
            self._tokens.pop(0)
        return self._tokens[0]
