"""Serve HTTP-triggered functions and the host's admin API over aiohttp.

Every error the host itself answers (not a function's own answer) is the functions' JSON shape,
``{"code", "message"}`` (``BridgeError.to_dict``, as ``functions.http_responses.error_response``
renders it), with a stable code from ``HOST_ERRORS``. Three layers produce them: the dispatcher
(bad key, unknown route, wrong method), the ``json_errors`` middleware (``HTTPException``s
aiohttp raises inside a handler, such as a body over ``client_max_size``, and anything a
handler did not catch), and ``JsonErrorAppRunner`` for what aiohttp's HTTP parser refuses before
any handler runs (malformed HTTP, a request line or header over the limit): its connections'
``RequestHandler.handle_error`` answers JSON. That answer never echoes the request line, which
may carry the function key (``?code=``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from aiohttp import web

from local.devhost.invoke import invoke
from local.devhost.loader import FunctionSpec, IndexingError
from local.devhost.routes import RoutePattern, compile_route, route_of
from shared.domain.errors import BridgeError

log = logging.getLogger(__name__)

# status -> (code, message): every error the host answers itself, in one place.
HOST_ERRORS: dict[int, tuple[str, str]] = {
    400: ("malformed_request", "the request is not valid HTTP"),
    401: ("unauthorized_key", "a valid function key is required (?code= or x-functions-key)"),
    404: ("route_not_found", "no function serves this route"),
    405: ("method_not_allowed", "this route does not accept the request's method"),
    413: ("payload_too_large", "the request body is larger than the host accepts"),
    414: ("request_line_too_long", "the request line is longer than the host accepts"),
    431: ("request_header_too_large", "a request header is longer than the host accepts"),
    500: ("function_failed", "the function failed unexpectedly"),
    504: ("function_timeout", "the function did not answer in time"),
}
# A request target starts the request line (C parser: the URL; pure-Python parser: the line).
_REQUEST_TARGET = re.compile(rb"^(?:[A-Za-z]+ +)?(?:/|\*|https?://)")


def error_json(
    status: int,
    code: str | None = None,
    message: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Answer an error in the functions' ``{code, message}`` JSON shape."""
    default_code, default_message = HOST_ERRORS.get(status, ("http_error", "the request failed"))
    body = BridgeError(message or default_message, code=code or default_code).to_dict()
    return web.Response(
        status=status,
        text=json.dumps(body, separators=(",", ":")),
        content_type="application/json",
        headers=headers,
    )


def parser_error(status: int, exc: BaseException | None) -> web.Response:
    """Answer what aiohttp's parser (or its handler wrapper) refused, without echoing it."""
    from aiohttp.http_exceptions import LineTooLong

    if isinstance(exc, LineTooLong):
        line = exc.args[0] if exc.args else b""
        raw = line.encode("latin-1", "replace") if isinstance(line, str) else bytes(line)
        return error_json(414 if _REQUEST_TARGET.match(raw) else 431)
    return error_json(status if status in HOST_ERRORS else 400)


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn errors raised inside a handler (``HTTPException`` >= 400, anything else) into
    ``{code, message}`` JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = exc.headers.get("Allow")
        return error_json(exc.status, headers={"Allow": allow} if allow else None)
    except Exception:  # the process boundary of one request: log, answer 500 JSON
        log.exception("%s %s failed in the host", request.method, request.path)
        return error_json(500, "host_error", "the host failed to serve the request")


class JsonErrorRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering parser-level errors in the JSON shape."""

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """Let aiohttp log the error (through the key-masking filter), then answer JSON."""
        super().handle_error(request, status, exc, message)  # logs; raises if already sent
        response = parser_error(status, exc)
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        # aiohttp 3.14 web_server.Server.__call__, with our handler class.
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorAppRunner(web.AppRunner):
    """An ``AppRunner`` whose connections answer parser-level errors in the JSON shape."""

    async def _make_server(self) -> web.Server:
        # aiohttp has no public hook for the connection handler's class; the request factory
        # runs after the parser already chose the error handler. So the app's own server
        # (app started and frozen) is rebuilt with the same arguments and our handler class.
        server = await super()._make_server()
        return _JsonErrorServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **server._kwargs,
        )


@dataclass(frozen=True)
class HostKeys:
    """The keys the host accepts: function keys and the master (admin) key."""

    function_keys: tuple[str, ...]
    master_key: str | None

    def allows(self, level: str, presented: str | None) -> bool:
        """Tell whether ``presented`` satisfies an auth level, comparing in constant time."""
        level = level.lower()
        if level == "anonymous":
            return True
        if not presented:
            return False
        candidates = (
            [self.master_key] if level == "admin" else [*self.function_keys, self.master_key]
        )
        matched = False
        for key in candidates:
            if key and hmac.compare_digest(key.encode(), presented.encode()):
                matched = True
        return matched


@dataclass(frozen=True)
class _Route:
    spec: FunctionSpec
    pattern: RoutePattern
    methods: frozenset[str]
    auth_level: str


def _presented_key(request: web.Request) -> str | None:
    return request.headers.get("x-functions-key") or request.query.get("code")


def build_routes(specs: list[FunctionSpec], prefix: str) -> list[_Route]:
    """Compile every HTTP trigger's route, most specific first."""
    routes = []
    for spec in specs:
        if spec.trigger_type != "httpTrigger":
            continue
        methods = spec.trigger.get("methods") or ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
        routes.append(
            _Route(
                spec=spec,
                pattern=compile_route(prefix, route_of(spec.trigger, spec.name)),
                methods=frozenset(m.upper() for m in methods),
                auth_level=str(spec.trigger.get("authLevel", "FUNCTION")),
            )
        )
    return sorted(routes, key=lambda r: -r.pattern.literal_segments)


def _to_request(
    request: web.Request, body: bytes, route_params: dict[str, str]
) -> func.HttpRequest:
    headers = {k.lower(): v for k, v in request.headers.items()}
    # Azure's front end appends the caller's address to X-Forwarded-For; a caller cannot
    # remove that last entry, which is why the webhook's IP allowlist reads it.
    peer = request.transport.get_extra_info("peername") if request.transport else None
    if peer:
        own = f"{peer[0]}:{peer[1]}"
        prior = headers.get("x-forwarded-for")
        headers["x-forwarded-for"] = f"{prior}, {own}" if prior else own
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params={k: request.query[k] for k in request.query},
        route_params=route_params,
        body=body,
    )


def _to_response(result: Any) -> web.Response:
    if isinstance(result, func.HttpResponse):
        headers = {k: v for k, v in result.headers.items() if k.lower() != "content-type"}
        content_type = result.mimetype or "text/plain"
        if result.charset:
            content_type = f"{content_type}; charset={result.charset}"
        headers["Content-Type"] = content_type
        return web.Response(status=result.status_code, body=result.get_body(), headers=headers)
    if isinstance(result, str | bytes):
        return web.Response(status=200, body=result)
    raise TypeError(f"an HTTP function returned {type(result).__name__}, not an HttpResponse")


class HttpDispatcher:
    """Route requests to functions, enforce auth levels, and serve the admin API."""

    def __init__(
        self, specs: list[FunctionSpec], prefix: str, keys: HostKeys, admin: AdminApi
    ) -> None:
        self._routes = build_routes(specs, prefix)
        self._keys = keys
        self._admin = admin

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one request."""
        started = time.perf_counter()
        path = request.path
        if path.startswith("/admin/"):
            if not self._keys.allows("admin", _presented_key(request)):
                return error_json(401, message="the master key is required")
            return await self._admin.handle(request)
        matched = [(r, p) for r in self._routes if (p := r.pattern.match(path)) is not None]
        if not matched:
            return error_json(404)
        allowed = [(r, p) for r, p in matched if request.method.upper() in r.methods]
        if not allowed:
            methods = sorted({m for r, _ in matched for m in r.methods})
            return error_json(405, headers={"Allow": ", ".join(methods)})
        route, params = allowed[0]
        if not self._keys.allows(route.auth_level, _presented_key(request)):
            return error_json(401)
        body = await request.read()  # over client_max_size: 413, answered by json_errors
        try:
            result = await invoke(route.spec, _to_request(request, body, params))
            response = _to_response(result)
        except Exception:
            log.exception("function %s failed", route.spec.name)
            response = error_json(500)
        log.info(
            "%s %s -> %s %d (%.1f ms)",
            request.method,
            path,
            route.spec.name,
            response.status,
            (time.perf_counter() - started) * 1000,
        )
        return response


class AdminApi:
    """The host's admin endpoints: status, and running a non-HTTP function on demand."""

    def __init__(self, specs: list[FunctionSpec], host: Any) -> None:
        self._specs = {s.name.lower(): s for s in specs}
        self._host = host

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve ``/admin/host/status``, ``/admin/functions/{name}`` and ``/admin/queues/{q}``."""
        parts = request.path.strip("/").split("/")
        if parts[1:] == ["host", "status"] and request.method == "GET":
            return web.json_response(self._host.status())
        if len(parts) == 3 and parts[1] == "functions" and request.method == "POST":
            spec = self._specs.get(parts[2].lower())
            if spec is None:
                return error_json(404, "function_not_found", "the app has no such function")
            if spec.trigger_type == "httpTrigger":
                return error_json(
                    400, "http_function_not_runnable", "call HTTP functions through their route"
                )
            try:
                self._host.run_now(spec)
            except IndexingError as exc:
                return error_json(409, "function_not_runnable", str(exc))
            return web.Response(status=202)
        if len(parts) == 3 and parts[1] == "queues" and request.method == "GET":
            report = await self._host.queue_report(parts[2])
            if report is None:
                return error_json(404, "queue_not_found", "no queue trigger listens on it")
            return web.Response(text=json.dumps(report), content_type="application/json")
        return error_json(404, message="the admin API has no such endpoint")
