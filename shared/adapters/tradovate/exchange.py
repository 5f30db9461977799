"""One HTTP request and its answer, and what a failure on the way means for repeating it.

``Exchange`` is the Tradovate client's one I/O seam: ``TradovateHttp`` decides what to
send and whether to send it again; an exchange sends it and reports either the answer
(status and body) or a ``TransientBrokerError`` whose code says how far the request got:

- ``broker_connect_failed``: no connection was made (refused, DNS, TLS, or no pooled
  connection within the connect timeout), so nothing reached Tradovate and any request may
  be sent again;
- ``broker_timeout``: sent, but no complete answer in time; Tradovate may have acted on it;
- ``broker_transport_error``: the connection broke after the request went out (reset,
  closed mid-answer, a malformed answer); Tradovate may have acted on it.

``AiohttpExchange`` is the production one. aiohttp parses HTTP in C: a request and its
answer cost this process about a fifth of the CPU httpx's pure-Python stack does
(``docs/tradovate-client.md``), and on the order path that CPU delays every other delivery
the process is working on. Each request is an OpenTelemetry client span (method, URL without
its query, status), so Application Insights lists Tradovate calls as dependencies; without a
configured provider (the local stack) no span is made at all.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

import aiohttp

from shared.adapters.tables_common import proxy_configured
from shared.domain.errors import TransientBrokerError
from shared.telemetry_names import INSTRUMENTATION_SCOPE

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

__all__ = ["AiohttpExchange", "Exchange"]


class Exchange(Protocol):
    """Send one HTTP request to Tradovate and return its status and body."""

    async def request(
        self,
        method: str,
        endpoint: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str | int] | None,
        content: bytes | None,
    ) -> tuple[int, bytes]:
        """Send ``method`` to ``endpoint`` (relative to the base URL); raise
        ``TransientBrokerError`` (module docstring) when no answer came back."""
        ...

    async def aclose(self) -> None:
        """Close pooled connections."""
        ...


def _tls_context() -> ssl.SSLContext:
    # The CA bundle httpx used (certifi) when it is installed, else the system's.
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with httpx and requests
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


class AiohttpExchange:
    """Send requests through one pooled ``aiohttp`` session per event loop.

    The session is made on the first request, inside the loop that sends it (aiohttp binds a
    session to its loop). ``aclose`` closes it; a later request, in the same loop or a new
    one, makes a new session.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        max_connections: int,
        keepalive_s: float = 5.0,
        default_headers: Mapping[str, str] | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/") + "/"
        self._tracer = tracer
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=connect_timeout_s)
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s  # TRADOVATE_KEEPALIVE_S
        self._headers = dict(default_headers or {})
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _current(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            # 0 keeps nothing: a new connection per request (aiohttp's force_close).
            kept = (
                {"keepalive_timeout": self._keepalive_s}
                if self._keepalive_s
                else {"force_close": True}
            )
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, ssl=_tls_context(), **kept
            )
            self._session = aiohttp.ClientSession(
                base_url=self._base_url,
                connector=connector,
                timeout=self._timeout,
                headers=self._headers,
                # Proxy settings and ~/.netrc are read per request when trusted: only then.
                trust_env=proxy_configured(os.environ),
            )
            self._loop = loop
        return self._session

    async def request(
        self,
        method: str,
        endpoint: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str | int] | None,
        content: bytes | None,
    ) -> tuple[int, bytes]:
        """Send one request (``Exchange.request``)."""
        session = self._current()
        path = endpoint.lstrip("/")
        tracer = self._span_tracer()
        if tracer is None:  # no telemetry configured: not even a no-op span on the order path
            return await self._send(session, method, path, headers, params, content)
        from opentelemetry.trace import SpanKind, StatusCode

        attributes = {"http.request.method": method, "url.full": self._base_url + path}
        with tracer.start_as_current_span(
            method,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,  # set below, with the code that says how far it got
        ) as span:
            try:
                status, body = await self._send(session, method, path, headers, params, content)
            except TransientBrokerError as exc:
                span.set_status(StatusCode.ERROR, exc.code)
                raise
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                span.set_status(StatusCode.ERROR)
            return status, body

    def _span_tracer(self) -> Tracer | None:
        # The tracer of the configured provider (shared.telemetry), or None while none is.
        if self._tracer is None:
            from opentelemetry import trace

            provider = trace.get_tracer_provider()
            if isinstance(provider, trace.ProxyTracerProvider):
                return None
            self._tracer = provider.get_tracer(INSTRUMENTATION_SCOPE)
        return self._tracer

    async def _send(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        headers: Mapping[str, str],
        params: Mapping[str, str | int] | None,
        content: bytes | None,
    ) -> tuple[int, bytes]:
        try:
            async with session.request(
                method,
                path,
                headers=dict(headers),
                params=None if params is None else dict(params),
                data=content,
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise TransientBrokerError(
                f"cannot connect to Tradovate for {path}: {type(exc).__name__}",
                code="broker_connect_failed",
            ) from None
        except TimeoutError as exc:  # aiohttp's read timeouts are TimeoutErrors too
            raise TransientBrokerError(
                f"Tradovate {path} timed out ({type(exc).__name__})", code="broker_timeout"
            ) from None
        except aiohttp.ClientError as exc:
            raise TransientBrokerError(
                f"Tradovate {path} failed in transit ({type(exc).__name__})",
                code="broker_transport_error",
            ) from None

    async def aclose(self) -> None:
        """Close the session of the running loop (another loop's went with that loop)."""
        session, self._session = self._session, None
        if session is not None and self._loop is asyncio.get_running_loop():
            await session.close()
