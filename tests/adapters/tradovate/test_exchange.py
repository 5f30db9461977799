"""The aiohttp exchange against real local servers: what is sent, and how far a failed
request got (the code that decides whether it may be sent again)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from shared.adapters.tradovate.exchange import AiohttpExchange
from shared.adapters.tradovate.transport import RestConfig, TradovateHttp
from shared.domain.errors import TransientBrokerError
from tests.conftest import make_settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Server:
    """A real HTTP server on a loopback port that records what reached it."""

    def __init__(self, handler: Handler, *, keepalive_s: float = 75.0) -> None:
        self.seen: list[dict[str, object]] = []
        self._handler = handler
        self._keepalive_s = keepalive_s
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _record(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.seen.append(
            {
                "port": None if peer is None else peer[1],  # the client's end of the connection
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": await request.read(),
            }
        )
        return await self._handler(request)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._record)
        self._runner = web.AppRunner(app, keepalive_timeout=self._keepalive_s)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def served() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    servers: list[Server] = []

    async def start(handler: Handler, **options: float) -> Server:
        server = Server(handler, **options)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


def _exchange(url: str, **options: float) -> AiohttpExchange:
    values = {"timeout_s": 2.0, "connect_timeout_s": 1.0, "max_connections": 4, **options}
    return AiohttpExchange(
        url,
        timeout_s=values["timeout_s"],
        connect_timeout_s=values["connect_timeout_s"],
        max_connections=int(values["max_connections"]),
        default_headers={"Accept": "application/json"},
    )


async def _ok(request: web.Request) -> web.StreamResponse:
    return web.json_response({"orderId": 7})


async def test_request_sends_method_path_query_headers_and_body_and_returns_the_answer(
    served: Callable[..., Awaitable[Server]],
) -> None:
    server = await served(_ok)
    exchange = _exchange(server.url)
    body = json.dumps({"accountId": 1}).encode()
    status, answer = await exchange.request(
        "POST",
        "order/placeorder",
        headers={"Authorization": "Bearer tok", "Content-Type": "application/json"},
        params={"p-ticket": "t1", "n": 3},
        content=body,
    )
    await exchange.aclose()
    assert (status, json.loads(answer)) == (200, {"orderId": 7})
    (seen,) = server.seen
    assert seen["method"] == "POST"
    assert seen["path"] == "/v1/order/placeorder"
    assert seen["query"] == {"p-ticket": "t1", "n": "3"}
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert headers["Authorization"] == "Bearer tok"
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert seen["body"] == body


async def test_request_returns_error_statuses_as_answers_not_failures(
    served: Callable[..., Awaitable[Server]],
) -> None:
    async def busy(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, text="busy")

    server = await served(busy)
    exchange = _exchange(server.url)
    answer = await exchange.request("GET", "account/list", headers={}, params=None, content=None)
    assert answer == (503, b"busy")
    await exchange.aclose()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_request_to_a_closed_port_fails_as_not_connected() -> None:
    exchange = _exchange(f"http://127.0.0.1:{_closed_port()}/v1")
    with pytest.raises(TransientBrokerError) as info:
        await exchange.request("POST", "order/placeorder", headers={}, params=None, content=b"{}")
    await exchange.aclose()
    assert info.value.code == "broker_connect_failed"


async def test_request_answered_too_late_fails_as_timed_out_after_it_reached_the_server(
    served: Callable[..., Awaitable[Server]],
) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(2.0)
        return web.json_response({})

    server = await served(slow)
    exchange = _exchange(server.url, timeout_s=0.3, connect_timeout_s=0.2)
    with pytest.raises(TransientBrokerError) as info:
        await exchange.request("POST", "order/placeorder", headers={}, params=None, content=b"{}")
    await exchange.aclose()
    assert info.value.code == "broker_timeout"
    assert len(server.seen) == 1  # it was sent: Tradovate may have acted on it


async def test_request_waiting_for_a_pooled_connection_fails_as_not_connected_unsent(
    served: Callable[..., Awaitable[Server]],
) -> None:
    release = asyncio.Event()

    async def held(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.json_response({})

    server = await served(held)
    exchange = _exchange(server.url, timeout_s=5.0, connect_timeout_s=0.2, max_connections=1)
    first = asyncio.create_task(
        exchange.request("POST", "order/placeorder", headers={}, params=None, content=b"{}")
    )
    await asyncio.sleep(0.1)  # the only connection is now busy with the first request
    with pytest.raises(TransientBrokerError) as info:
        await exchange.request("POST", "order/placeorder", headers={}, params=None, content=b"{}")
    assert info.value.code == "broker_connect_failed"
    assert len(server.seen) == 1  # the second never left this process
    release.set()
    assert (await first)[0] == 200
    await exchange.aclose()


async def test_connection_dropped_before_the_answer_fails_as_broken_in_transit() -> None:
    received = asyncio.Event()

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        received.set()
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    exchange = _exchange(f"http://127.0.0.1:{port}/v1")
    try:
        with pytest.raises(TransientBrokerError) as info:
            await exchange.request(
                "POST", "order/placeorder", headers={}, params=None, content=b"{}"
            )
    finally:
        await exchange.aclose()
        server.close()
        await server.wait_closed()
    assert info.value.code == "broker_transport_error"
    assert received.is_set()


async def test_post_after_the_server_closed_an_idle_connection_goes_out_on_a_new_one(
    served: Callable[..., Awaitable[Server]],
) -> None:
    server = await served(_ok, keepalive_s=0.1)
    exchange = _exchange(server.url)

    async def post() -> int:
        status, _ = await exchange.request(
            "POST", "order/placeorder", headers={}, params=None, content=b"{}"
        )
        return status

    assert await post() == 200
    await asyncio.sleep(0.4)  # the server has closed the kept-alive connection by now
    assert await post() == 200  # not a transport error: nothing was lost on the old one
    await exchange.aclose()
    assert len(server.seen) == 2


def test_an_exchange_closed_at_the_end_of_a_loop_serves_a_later_loop() -> None:
    async def one_call(exchange: AiohttpExchange) -> int:
        server = Server(_ok)
        await server.start()
        try:
            exchange._base_url = server.url + "/"  # each loop's server has its own port
            status, _ = await exchange.request(
                "GET", "account/list", headers={}, params=None, content=None
            )
            return status
        finally:
            await exchange.aclose()
            await server.stop()

    exchange = _exchange("http://127.0.0.1:1/v1")
    assert asyncio.run(one_call(exchange)) == 200
    assert asyncio.run(one_call(exchange)) == 200  # a new session, in the new loop


async def test_tradovate_http_retries_a_post_that_never_connected_and_not_one_that_timed_out(
    served: Callable[..., Awaitable[Server]],
) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.0)
        return web.json_response({"orderId": 1})

    server = await served(slow)
    http = TradovateHttp(RestConfig(base_url=server.url, timeout_s=0.3, retry_budget_s=5.0))
    with pytest.raises(TransientBrokerError) as info:
        await http.call("order/placeorder", token="t", body={"a": 1}, idempotent=False)
    await http.aclose()
    assert info.value.code == "broker_timeout"
    assert len(server.seen) == 1  # not repeated: the first may have been acted on


async def test_each_request_is_a_client_span_with_method_url_and_status_for_app_insights(
    served: Callable[..., Awaitable[Server]],
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode

    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("missing"):
            return web.Response(status=404)
        return web.json_response({})

    server = await served(answer)
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    exchange = AiohttpExchange(
        server.url,
        timeout_s=2.0,
        connect_timeout_s=1.0,
        max_connections=2,
        tracer=provider.get_tracer("test"),
    )
    await exchange.request("GET", "account/list", headers={}, params={"t": "x"}, content=None)
    await exchange.request("GET", "missing", headers={}, params=None, content=None)
    await exchange.aclose()
    closed = AiohttpExchange(
        f"http://127.0.0.1:{_closed_port()}/v1",
        timeout_s=1.0,
        connect_timeout_s=0.5,
        max_connections=1,
        tracer=provider.get_tracer("test"),
    )
    with pytest.raises(TransientBrokerError):
        await closed.request("POST", "order/placeorder", headers={}, params=None, content=b"{}")
    await closed.aclose()
    ok, missing, refused = spans.get_finished_spans()
    assert ok.kind == SpanKind.CLIENT
    assert ok.name == "GET"
    assert ok.attributes is not None
    assert ok.attributes["url.full"] == f"{server.url}/account/list"  # no query string
    assert ok.attributes["http.response.status_code"] == 200
    assert ok.status.status_code == StatusCode.UNSET
    assert missing.status.status_code == StatusCode.ERROR
    assert refused.status.status_code == StatusCode.ERROR
    assert refused.status.description == "broker_connect_failed"


_GLOBAL_PROVIDER_SCRIPT = """
import asyncio
from aiohttp import web
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from shared.adapters.tradovate.exchange import AiohttpExchange

async def main():
    async def ok(request):
        return web.json_response({})
    app = web.Application()
    app.router.add_get("/v1/account/list", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    exchange = AiohttpExchange(url, timeout_s=2, connect_timeout_s=1, max_connections=1)
    send = lambda: exchange.request("GET", "account/list", headers={}, params=None, content=None)
    await send()  # before telemetry is configured: no span
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(provider)  # what configure_azure_monitor does
    await send()
    await exchange.aclose()
    await runner.cleanup()
    print([(s.name, s.attributes["http.response.status_code"]) for s in spans.get_finished_spans()])

asyncio.run(main())
"""


def test_spans_start_once_the_process_configures_a_tracer_provider() -> None:
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", _GLOBAL_PROVIDER_SCRIPT],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[('GET', 200)]"


async def _ports(server: Server, keepalive_s: float, gap_s: float) -> list[object]:
    exchange = AiohttpExchange(
        server.url, timeout_s=2.0, connect_timeout_s=1.0, max_connections=2, keepalive_s=keepalive_s
    )
    for _ in range(2):
        await exchange.request("GET", "account/list", headers={}, params=None, content=None)
        await asyncio.sleep(gap_s)
    await exchange.aclose()
    ports = [seen["port"] for seen in server.seen]
    server.seen.clear()
    return ports


async def test_an_idle_connection_is_kept_for_the_keepalive_and_not_longer(
    served: Callable[..., Awaitable[Server]],
) -> None:
    server = await served(_ok)
    first, second = await _ports(server, keepalive_s=5.0, gap_s=0.3)
    assert first == second  # reused within the keep-alive
    first, second = await _ports(server, keepalive_s=0.1, gap_s=0.4)
    assert first != second  # closed once idle longer than it
    first, second = await _ports(server, keepalive_s=0, gap_s=0)
    assert first != second  # 0: a connection per request


def test_the_keepalive_setting_reaches_the_client() -> None:
    assert RestConfig.from_settings(make_settings()).keepalive_s == 5.0
    chosen = make_settings(tradovate_keepalive_s=60)
    assert RestConfig.from_settings(chosen).keepalive_s == 60.0
    with pytest.raises(ValueError, match=r"tradovate_keepalive_s|TRADOVATE_KEEPALIVE_S"):
        make_settings(tradovate_keepalive_s=600)  # past Azure's idle timeout for outbound flows
