"""Helpers for the simulator conformance tests: an httpx client, a logged-in client, and a
small WebSocket client (websocket-client) that understands Tradovate's frames."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import websocket

from local.tradovate_sim import SimulatorServer

CREDENTIALS = {
    "name": "sim-trader",
    "password": "sim-password",
    "appId": "tradebridge-tests",
    "appVersion": "1.0",
    "cid": 8,
    "sec": "sim-api-secret",
    "deviceId": "tests",
}
ACCOUNT_ID = 10001
OTHER_ACCOUNT_ID = 10002
USER_ID = 4242
# Building an SSL context loads the CA bundle (~50 ms); every plain-HTTP test client shares one.
_TLS = ssl.create_default_context()


class SimSocket:
    """A blocking Tradovate-protocol socket client for tests."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.ws = websocket.create_connection(url, timeout=timeout_s, enable_multithread=True)
        self.frames: list[str] = []
        self.pending: list[dict[str, Any]] = []
        self._next_id = 0

    def recv_frame(self, timeout_s: float = 5.0) -> str:
        """Receive one raw frame; ``a`` frames also feed the pending message list."""
        self.ws.settimeout(timeout_s)
        frame = self.ws.recv()
        assert isinstance(frame, str)
        self.frames.append(frame)
        if frame.startswith("a"):
            self.pending.extend(json.loads(frame[1:]))
        return frame

    def send_raw(self, text: str) -> None:
        """Send one text frame as is."""
        self.ws.send(text)

    def heartbeat(self) -> None:
        """Send the client heartbeat ``[]``."""
        self.ws.send("[]")

    def request(self, endpoint: str, body: Any = None, query: str = "") -> int:
        """Send ``endpoint\\nid\\nquery\\nbody`` and return the id."""
        self._next_id += 1
        text = "" if body is None else body if isinstance(body, str) else json.dumps(body)
        self.ws.send(f"{endpoint}\n{self._next_id}\n{query}\n{text}")
        return self._next_id

    def _take(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        for index, message in enumerate(self.pending):
            if match(message):
                return self.pending.pop(index)
        return None

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout_s: float = 5.0) -> Any:
        """Return (and consume) the first message matching ``match``."""
        deadline = time.monotonic() + timeout_s
        while (found := self._take(match)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no matching message")
            try:
                self.recv_frame(remaining)
            except websocket.WebSocketTimeoutException as exc:
                raise TimeoutError("no matching message") from exc
        return found

    def response(self, request_id: int, timeout_s: float = 5.0) -> Any:
        """Wait for the response with ``i == request_id``."""
        return self.wait_for(lambda m: m.get("i") == request_id, timeout_s)

    def call(self, endpoint: str, body: Any = None, query: str = "") -> Any:
        """Send a request and wait for its response."""
        return self.response(self.request(endpoint, body, query))

    def event(self, kind: str, timeout_s: float = 5.0, **fields: Any) -> Any:
        """Wait for an event of ``kind`` whose ``d`` has ``fields`` (props: entityType...)."""

        def match(message: dict[str, Any]) -> bool:
            data = message.get("d")
            return message.get("e") == kind and all(
                isinstance(data, dict) and data.get(k) == v for k, v in fields.items()
            )

        return self.wait_for(match, timeout_s)

    def open_and_authorize(self, token: str) -> None:
        """Read the ``o`` frame and authorize."""
        assert self.recv_frame() == "o"
        assert self.call("authorize", token) == {"s": 200, "i": self._next_id}

    def close(self) -> None:
        """Close the socket (ignoring a server that already went away)."""
        try:
            self.ws.close(timeout=1)
        except (OSError, websocket.WebSocketException):
            self.ws.shutdown()  # type: ignore[no-untyped-call]


@pytest.fixture
def sim(tradovate_sim: SimulatorServer) -> SimulatorServer:
    """The shared simulator, freshly reset."""
    return tradovate_sim


@pytest.fixture
def http(sim: SimulatorServer) -> Iterator[httpx.Client]:
    """An unauthenticated client on the REST base URL."""
    with httpx.Client(base_url=sim.base_url, timeout=10.0, verify=_TLS) as client:
        yield client


def login(http: httpx.Client, **overrides: Any) -> httpx.Response:
    """Post a token request with the default credentials (plus overrides)."""
    return http.post("/auth/accesstokenrequest", json={**CREDENTIALS, **overrides})


@pytest.fixture
def tokens(http: httpx.Client) -> dict[str, Any]:
    """A successful token response."""
    response = login(http)
    assert response.status_code == 200
    return dict(response.json())


@pytest.fixture
def api(sim: SimulatorServer, tokens: dict[str, Any]) -> Iterator[httpx.Client]:
    """A REST client carrying a valid bearer token."""
    headers = {"Authorization": f"Bearer {tokens['accessToken']}"}
    with httpx.Client(base_url=sim.base_url, headers=headers, timeout=10.0, verify=_TLS) as client:
        yield client


@pytest.fixture
def sockets() -> Iterator[Callable[[str], SimSocket]]:
    """Open sockets on demand; all are closed after the test."""
    opened: list[SimSocket] = []

    def open_socket(url: str) -> SimSocket:
        sock = SimSocket(url)
        opened.append(sock)
        return sock

    yield open_socket
    for sock in opened:
        sock.close()


@pytest.fixture
def trading(
    sim: SimulatorServer, tokens: dict[str, Any], sockets: Callable[[str], SimSocket]
) -> SimSocket:
    """An authorized trading socket synced for the user (all accounts)."""
    sock = sockets(sim.ws_url)
    sock.open_and_authorize(tokens["accessToken"])
    reply = sock.call("user/syncrequest", {"users": [USER_ID]})
    assert reply["s"] == 200
    return sock


def front(api: httpx.Client, root: str) -> dict[str, Any]:
    """Return the front contract of a product root via ``contract/suggest``."""
    hits = api.get("/contract/suggest", params={"t": root, "l": 10}).json()
    exact = [c for c in hits if c["name"][: len(root)] == root and len(c["name"]) == len(root) + 2]
    return dict(exact[0])


def order(symbol: str, action: str = "Buy", qty: int = 1, **fields: Any) -> dict[str, Any]:
    """A placeorder body for the default account (market unless overridden)."""
    return {
        "accountSpec": "DEMO10001",
        "accountId": ACCOUNT_ID,
        "action": action,
        "symbol": symbol,
        "orderQty": qty,
        "orderType": "Market",
        "isAutomated": True,
        **fields,
    }
