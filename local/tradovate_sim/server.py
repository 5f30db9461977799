"""``build_app`` wires the routes; ``SimulatorServer`` runs the app on its own event loop in a
background thread, so synchronous tests and thread-based clients can talk to it.

Routes: ``/v1/websocket`` (trading socket), ``/md/v1/websocket`` (market data socket),
``/v1/{entity}/{operation}`` (REST) and ``/admin/...`` (see ``admin.py``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from types import TracebackType
from typing import Any

import httpx
from aiohttp import web

from local.tradovate_sim.admin import add_admin_routes
from local.tradovate_sim.config import SimConfig
from local.tradovate_sim.rest import rest_endpoint
from local.tradovate_sim.state import ServerState
from local.tradovate_sim.ws import websocket_endpoint

STATE_KEY = web.AppKey("tradovate_sim_state", ServerState)


def build_app(config: SimConfig) -> web.Application:
    """Build the aiohttp application for one simulator."""
    app = web.Application()
    state = ServerState(config)
    app[STATE_KEY] = state

    async def trading_socket(request: web.Request) -> Any:
        return await websocket_endpoint(request, "trading", state.sim, state.hub)

    async def md_socket(request: web.Request) -> Any:
        return await websocket_endpoint(request, "md", state.sim, state.hub)

    async def rest(request: web.Request) -> web.StreamResponse:
        return await rest_endpoint(request, state.sim, state.hub)

    async def on_startup(app: web.Application) -> None:
        state.set_ticker(config.random_walk_s)

    async def on_shutdown(app: web.Application) -> None:
        await state.close()

    app.router.add_get("/v1/websocket", trading_socket)
    app.router.add_get("/md/v1/websocket", md_socket)
    add_admin_routes(app, state)
    app.router.add_route("*", "/v1/{path:.+}", rest)
    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return app


def _require_loopback(host: str) -> None:
    if host == "localhost":
        return
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the simulator only listens on loopback addresses, not {host!r}")


class SimulatorServer:
    """Run the simulator in a background thread; use as a context manager or start/stop."""

    def __init__(
        self, config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        _require_loopback(host)
        self.config = config or SimConfig()
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._client: httpx.Client | None = None

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> SimulatorServer:
        """Start listening; return once the port is open."""
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        self._thread = threading.Thread(target=self._run, name="tradovate-sim", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=15)
        if self._error is not None:
            raise RuntimeError("simulator failed to start") from self._error
        if self._port is None:
            raise RuntimeError("simulator did not start within 15 s")
        self._client = httpx.Client(base_url=self.admin_url, timeout=10.0)
        return self

    def stop(self) -> None:
        """Close every socket, stop listening and join the thread."""
        if self._client is not None:
            self._client.close()
            self._client = None
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(self._cleanup(), loop).result(timeout=15)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=15)
        self._thread = self._loop = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:  # reported to the starting thread, which raises it
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self) -> None:
        runner = web.AppRunner(build_app(self.config), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- addresses ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._port is None:
            raise RuntimeError("simulator not started")
        return self._port

    @property
    def _origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """REST base, like ``https://demo.tradovateapi.com/v1``."""
        return f"http://{self._origin}/v1"

    @property
    def ws_url(self) -> str:
        """Trading WebSocket URL."""
        return f"ws://{self._origin}/v1/websocket"

    @property
    def md_ws_url(self) -> str:
        """Market-data WebSocket URL."""
        return f"ws://{self._origin}/md/v1/websocket"

    @property
    def admin_url(self) -> str:
        """Admin base URL."""
        return f"http://{self._origin}/admin"

    def urls(self) -> dict[str, str]:
        """Return every URL, as the CLI prints them."""
        return {
            "rest": self.base_url,
            "ws": self.ws_url,
            "md_ws": self.md_ws_url,
            "admin": self.admin_url,
        }

    # ---- admin conveniences (HTTP calls to /admin) ----------------------------------------

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call an admin endpoint and return its JSON answer."""
        if self._client is None:
            raise RuntimeError("simulator not started")
        response = self._client.request(method, path, json=body)
        if response.status_code != 200:
            raise RuntimeError(f"admin {path} failed: {response.status_code} {response.text}")
        return response.json()

    def set_price(self, symbol: str | int, price: float | str) -> Any:
        """Move a price (contract name, product name or contract id); orders react."""
        key = "contractId" if isinstance(symbol, int) else "symbol"
        return self.admin("POST", "/price", {key: symbol, "price": str(price)})

    def set_liquidity(self, symbol: str | int, max_qty: int | None) -> Any:
        """Let an order trade at most ``max_qty`` of a contract per price move (None: all)."""
        key = "contractId" if isinstance(symbol, int) else "symbol"
        return self.admin("POST", "/liquidity", {key: symbol, "maxQty": max_qty})

    def price(self, symbol: str) -> Any:
        """Return the current price(s) of a contract or product."""
        return self.admin("GET", f"/price?symbol={symbol}")

    def inject(self, **faults: Any) -> Any:
        """Merge fault settings (see ``FaultConfig``), e.g. ``inject(fail_next=2)``."""
        return self.admin("POST", "/faults", faults)

    def clear_faults(self) -> Any:
        """Turn every fault off."""
        return self.admin("POST", "/faults", {"clear": True})

    def configure(self, **changes: Any) -> Any:
        """Change ``SimConfig`` settings until the next reset."""
        return self.admin("POST", "/config", changes)

    def stats(self) -> Any:
        """Return request counters per endpoint and more."""
        return self.admin("GET", "/stats")

    def reset_stats(self) -> Any:
        """Zero the counters."""
        return self.admin("POST", "/stats/reset")

    def state(self) -> Any:
        """Return the whole simulated state."""
        return self.admin("GET", "/state")

    def reset(self) -> Any:
        """Close sockets and restore the state the server started with."""
        return self.admin("POST", "/reset")

    def advance_clock(self, seconds: float) -> Any:
        """Move simulated time forward (token expiry, p-time)."""
        return self.admin("POST", "/clock", {"advance_s": seconds})

    def revoke_tokens(self, token: str | None = None) -> Any:
        """Revoke one token's session, or all sessions, and close their sockets."""
        return self.admin("POST", "/tokens/revoke", {"token": token} if token else {})

    def drop_sockets(self, kind: str | None = None, count: int | None = None) -> Any:
        """Cut sockets without a close handshake (all, or the first ``count``)."""
        return self.admin("POST", "/sockets/drop", {"kind": kind, "count": count})

    def send_shutdown(
        self,
        reason_code: str = "Maintenance",
        reason: str = "Server maintenance",
        close: bool = True,
        kind: str | None = None,
    ) -> Any:
        """Send the ``shutdown`` event (and close the sockets when ``close``)."""
        body = {"reasonCode": reason_code, "reason": reason, "close": close, "kind": kind}
        return self.admin("POST", "/shutdown", body)

    def set_account(self, account_id: int, **flags: Any) -> Any:
        """Set account switches: locked, liquidationOnly, active, maxOrderQty, maxPosition."""
        return self.admin("POST", "/account", {"accountId": account_id, **flags})
