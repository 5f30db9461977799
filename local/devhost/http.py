"""Serve HTTP-triggered functions and the host's admin API over aiohttp."""

from __future__ import annotations

import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from aiohttp import web

from local.devhost.invoke import invoke
from local.devhost.loader import FunctionSpec, IndexingError
from local.devhost.routes import RoutePattern, compile_route, route_of

log = logging.getLogger(__name__)


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
                return web.Response(status=401)
            return await self._admin.handle(request)
        matched = [(r, p) for r in self._routes if (p := r.pattern.match(path)) is not None]
        if not matched:
            return web.Response(status=404)
        allowed = [(r, p) for r, p in matched if request.method.upper() in r.methods]
        if not allowed:
            return web.Response(status=405)
        route, params = allowed[0]
        if not self._keys.allows(route.auth_level, _presented_key(request)):
            return web.Response(status=401)
        body = await request.read()
        try:
            result = await invoke(route.spec, _to_request(request, body, params))
            response = _to_response(result)
        except Exception:
            log.exception("function %s failed", route.spec.name)
            response = web.Response(status=500)
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
                return web.Response(status=404)
            if spec.trigger_type == "httpTrigger":
                return web.Response(status=400, text="call HTTP functions through their route")
            try:
                self._host.run_now(spec)
            except IndexingError as exc:
                return web.Response(status=409, text=str(exc))
            return web.Response(status=202)
        if len(parts) == 3 and parts[1] == "queues" and request.method == "GET":
            report = await self._host.queue_report(parts[2])
            if report is None:
                return web.Response(status=404)
            return web.Response(text=json.dumps(report), content_type="application/json")
        return web.Response(status=404)
