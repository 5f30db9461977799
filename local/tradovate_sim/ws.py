"""The two WebSocket endpoints: trading (``/v1/websocket``) and market data
(``/md/v1/websocket``), framed as reference §4 describes.

Server frames: ``o`` on connect, ``h`` when nothing else was sent for ``server_heartbeat_s``,
``a[...]`` with responses and events, ``c[code,"reason"]`` before a planned close. Client frames:
``[]`` heartbeats (only these count; a client must send them even while requests flow) and
requests ``endpoint\\nid\\nquery\\nbody``. A socket silent for ``heartbeat_timeout_s`` is cut
without a close handshake, as Tradovate's "Closed abnormally" drops look to a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from local.tradovate_sim.api import NO_BODY, ApiRequest, ApiResponse, Handler, handle, normalise
from local.tradovate_sim.auth import AuthFailure, Token
from local.tradovate_sim.handlers import REST_HANDLERS
from local.tradovate_sim.hub import Hub, shutdown_event
from local.tradovate_sim.sim import Simulation
from local.tradovate_sim.sync import SyncScope, parse_scope, snapshot
from local.tradovate_sim.validation import BadRequest
from local.tradovate_sim.wire import (
    CLIENT_HEARTBEAT,
    HEARTBEAT_FRAME,
    OPEN_FRAME,
    array_frame,
    close_frame,
    event_message,
    response_message,
)

_numbers = itertools.count(1)


class Connection:
    """One client socket: its send queue, authorization, sync scope and quote subscriptions."""

    def __init__(self, kind: str, sim: Simulation, hub: Hub, request: web.Request) -> None:
        self.kind = kind
        self.sim = sim
        self.hub = hub
        self.request = request
        self.number = next(_numbers)
        self.ws = web.WebSocketResponse(autoping=True, timeout=1.0, max_msg_size=1 << 20)
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(sim.config.ws_queue_limit)
        self.token: Token | None = None
        self.scope: SyncScope | None = None
        self.quotes: set[int] = set()
        self.opened = self.last_heartbeat = self.last_sent = time.monotonic()
        self.closing = False
        self.writer_done = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()

    def send(self, frame: str) -> None:
        """Queue a frame; a client too slow to drain its queue is dropped."""
        if self.closing:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.abort()

    async def writer(self) -> None:
        """Send queued frames in order until told to stop."""
        try:
            while (frame := await self.queue.get()) is not None:
                await self.ws.send_str(frame)
                self.last_sent = time.monotonic()
        except (ConnectionError, RuntimeError):
            self.abort()
        finally:
            self.writer_done.set()

    def abort(self) -> None:
        """Cut the TCP connection without a close handshake."""
        self.closing = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def close(self, code: int, reason: str, shutdown: tuple[str, str] | None = None) -> None:
        """Close politely: optional ``shutdown`` event, then ``c`` frame, then a WS close."""
        if self.closing:
            return
        self.closing = True
        frames: list[str | None] = [close_frame(code, reason), None]
        if shutdown is not None:
            frames.insert(0, array_frame([shutdown_event(*shutdown)]))
        try:
            for frame in frames:
                self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.abort()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.writer_done.wait(), 1.0)
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=reason.encode()), 1.0)
        except (TimeoutError, ConnectionError, RuntimeError):
            self.abort()

    def describe(self) -> dict[str, Any]:
        """Return what ``/admin/state`` shows about this socket."""
        return {
            "number": self.number,
            "kind": self.kind,
            "authorized": self.token is not None,
            "session": self.token.session_id if self.token else None,
            "synced_accounts": sorted(self.scope.accounts) if self.scope else None,
            "quotes": sorted(self.quotes),
        }


async def watchdog(conn: Connection) -> None:
    """Enforce heartbeats and authorization, and send ``h`` frames when idle."""
    while not conn.closing:
        cfg = conn.sim.config
        tick_s = min(0.25, cfg.server_heartbeat_s / 4, cfg.heartbeat_timeout_s / 4)
        await asyncio.sleep(max(0.01, tick_s))
        now = time.monotonic()
        if now - conn.last_heartbeat > cfg.heartbeat_timeout_s:
            conn.sim.stats.faults["heartbeat-timeout"] += 1
            conn.abort()
            return
        if conn.token is None and now - conn.opened > cfg.authorize_timeout_s:
            conn.hub.spawn(conn.close(1008, "Authorization timeout"))
            return
        if (
            cfg.ws_closes_on_token_expiry
            and conn.token is not None
            and conn.sim.auth.expired(conn.token.value)
        ):
            conn.hub.spawn(conn.close(1008, "Access token expired"))
            return
        if now - conn.last_sent >= cfg.server_heartbeat_s and conn.queue.empty():
            conn.send(HEARTBEAT_FRAME)
            conn.last_sent = now


def _authorize(conn: Connection) -> Handler:
    def authorize(sim: Simulation, req: ApiRequest) -> ApiResponse:
        raw = req.body.strip() if isinstance(req.body, str) else ""
        if raw.startswith('"'):
            with contextlib.suppress(ValueError):
                raw = str(json.loads(raw))  # the JSON-quoted form official helpers send
        checked = sim.auth.check(raw, allow_md=conn.kind == "md")
        if isinstance(checked, AuthFailure):
            return ApiResponse(401, "Invalid access token")
        conn.token = checked
        return ApiResponse(200, NO_BODY, token=checked)

    return authorize


def _sync(conn: Connection) -> Handler:
    def sync(sim: Simulation, req: ApiRequest) -> ApiResponse:
        scope = parse_scope(sim, req.body)
        conn.scope = scope
        return ApiResponse(200, snapshot(sim, scope))

    return sync


def _quote_symbol(sim: Simulation, body: Any) -> int:
    symbol = body.get("symbol") if isinstance(body, dict) else None
    if isinstance(symbol, bool) or not isinstance(symbol, int | str):
        raise BadRequest(
            "No usable value for symbol\n"
            "Did not find value which can be converted into java.lang.String"
        )
    contract = (
        sim.library.contracts.get(symbol)
        if isinstance(symbol, int)
        else sim.library.contract(symbol.strip().upper())
    )
    if contract is None:
        raise BadRequest(f"Unknown symbol {symbol}", status=404)
    return contract.id


def _subscribe(conn: Connection, pending: list[int]) -> Handler:
    def subscribe(sim: Simulation, req: ApiRequest) -> ApiResponse:
        contract_id = _quote_symbol(sim, req.body)
        conn.quotes.add(contract_id)
        pending.append(contract_id)
        return ApiResponse(200, NO_BODY)

    return subscribe


def _unsubscribe(conn: Connection) -> Handler:
    def unsubscribe(sim: Simulation, req: ApiRequest) -> ApiResponse:
        conn.quotes.discard(_quote_symbol(sim, req.body))
        return ApiResponse(200, NO_BODY)

    return unsubscribe


def connection_handlers(conn: Connection, pending_quotes: list[int]) -> dict[str, Handler]:
    """Return the endpoints one socket serves."""
    if conn.kind == "md":
        return {
            "authorize": _authorize(conn),
            "md/subscribequote": _subscribe(conn, pending_quotes),
            "md/unsubscribequote": _unsubscribe(conn),
        }
    return {**REST_HANDLERS, "authorize": _authorize(conn), "user/syncrequest": _sync(conn)}


def parse_frame(text: str) -> tuple[str, int, dict[str, str], str] | None:
    """Split ``endpoint\\nid\\nquery\\nbody``; None when there is no usable id."""
    parts = text.split("\n", 3)
    if len(parts) < 2:
        return None
    try:
        request_id = int(parts[1].strip())
    except ValueError:
        return None
    query = dict(parse_qsl(parts[2], keep_blank_values=True)) if len(parts) > 2 else {}
    return parts[0], request_id, query, parts[3] if len(parts) > 3 else ""


async def serve_request(conn: Connection, text: str) -> None:
    """Answer one request frame, then deliver the events it caused."""
    parsed = parse_frame(text)
    if parsed is None:
        return  # nothing to correlate an answer with
    endpoint, request_id, query, raw_body = parsed
    name = normalise(endpoint)
    body: Any = raw_body if name == "authorize" else None
    pending_quotes: list[int] = []
    response: ApiResponse | None = None
    if name != "authorize" and raw_body.strip():
        try:
            body = json.loads(raw_body)
        except ValueError:
            response = ApiResponse(400, "Invalid JSON in request body")
    if response is None:
        req = ApiRequest(name, query, body, "ws", token=conn.token)
        response = await handle(conn.sim, req, connection_handlers(conn, pending_quotes))
    payload = None if response.payload is NO_BODY else response.payload
    conn.send(array_frame([response_message(request_id, response.status, payload)]))
    now = conn.sim.clock.now()
    for contract_id in pending_quotes:
        quote = conn.sim.engine.quote(conn.sim.library.contracts[contract_id], now)
        conn.send(array_frame([event_message("md", {"quotes": [quote]})]))
    after_request(conn.hub, conn.sim, response)


def after_request(hub: Hub, sim: Simulation, response: ApiResponse) -> None:
    """Push the request's events and close sockets of sessions it pushed out."""
    hub.flush(sim)
    if response.closed_sessions:
        hub.close_sessions(
            response.closed_sessions, "ConnectionQuotaReached", "Session limit reached"
        )


async def _receive(conn: Connection) -> None:
    async for message in conn.ws:
        if message.type != WSMsgType.TEXT:
            continue
        if message.data == CLIENT_HEARTBEAT:
            conn.last_heartbeat = time.monotonic()
            conn.sim.stats.heartbeats += 1
            continue
        task = asyncio.ensure_future(serve_request(conn, message.data))
        conn.tasks.add(task)
        task.add_done_callback(conn.tasks.discard)


async def websocket_endpoint(request: web.Request, kind: str, sim: Simulation, hub: Hub) -> Any:
    """Serve one WebSocket connection from open to close."""
    conn = Connection(kind, sim, hub, request)
    await conn.ws.prepare(request)
    hub.add(conn)
    sim.stats.connections[kind] += 1
    writer = asyncio.ensure_future(conn.writer())
    guard = asyncio.ensure_future(watchdog(conn))
    conn.send(OPEN_FRAME)
    if sim.faults.take_dropped_connection():
        sim.stats.faults["dropped-connection"] += 1
        await asyncio.sleep(0.05)  # let the "o" frame out, then fail like a network drop
        conn.abort()
    try:
        await _receive(conn)
    finally:
        conn.closing = True
        hub.remove(conn)
        for task in (guard, *conn.tasks):
            task.cancel()
        if conn.queue.full():
            writer.cancel()
        else:
            conn.queue.put_nowait(None)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(writer, 1.0)
    return conn.ws
