"""Tie the dev host together: index the app, serve HTTP, run timers and queue triggers."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from local.devhost.http import AdminApi, HostKeys, HttpDispatcher, JsonErrorAppRunner, json_errors
from local.devhost.loader import FunctionSpec, IndexingError, index_function_app
from local.devhost.queues import QueueTrigger, max_lock_renewal_s
from local.devhost.timers import TimerRunner
from shared.adapters.local_queue import LocalQueue
from shared.adapters.redis_connect import RedisOptions, build_async_redis
from shared.config import Settings
from shared.container import close_container

log = logging.getLogger(__name__)

_APP_SETTING = re.compile(r"%([^%]+)%")
TRIGGER_GROUPS = frozenset({"http", "queue", "timer"})
# Loggers whose lines may hold a request line or headers, so the function key (``?code=``,
# ``x-functions-key``): aiohttp's access and error logs, and the host's own.
MASKED_LOGGERS = (
    "aiohttp.access", "aiohttp.client", "aiohttp.internal", "aiohttp.server", "aiohttp.web",
    "aiohttp.websocket", "local.devhost.http", "local.devhost.host",
)  # fmt: skip


def resolve_app_settings(value: str) -> str:
    """Replace ``%NAME%`` with the app setting NAME, as binding expressions do."""

    def lookup(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in os.environ:
            raise IndexingError(f"app setting {name} is referenced by a binding but not set")
        return os.environ[name]

    return _APP_SETTING.sub(lookup, value)


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class DevHostConfig:
    """Where the app is, where to listen, and the local stand-ins for Azure's host settings."""

    app_root: Path
    script: str = "function_app.py"
    host: str = "127.0.0.1"
    port: int = 7071
    function_keys: tuple[str, ...] = ()
    master_key: str | None = None
    redis_url: str | None = None
    max_delivery_count: int = field(
        default_factory=lambda: int(_default("queue_max_delivery_count"))
    )
    lock_duration_s: float = field(default_factory=lambda: float(_default("queue_lock_duration_s")))
    duplicate_window_s: float = field(
        default_factory=lambda: float(_default("queue_duplicate_window_s"))
    )
    message_ttl_s: float = field(default_factory=lambda: float(_default("queue_message_ttl_s")))
    # Which trigger groups this host runs, like one Flex Consumption instance group: "http"
    # (every HTTP function), "queue" (Service Bus functions), "timer". The admin API is served
    # either way.
    groups: frozenset[str] = TRIGGER_GROUPS

    def __post_init__(self) -> None:
        unknown = self.groups - TRIGGER_GROUPS
        if unknown or not self.groups:
            wanted = ", ".join(sorted(TRIGGER_GROUPS))
            raise ValueError(f"trigger groups must be some of {wanted}, got {sorted(self.groups)}")

    @classmethod
    def from_environment(
        cls, app_root: Path, host: str, port: int, groups: frozenset[str] = TRIGGER_GROUPS
    ) -> DevHostConfig:
        """Read keys and queue settings from the environment (local.settings.json Values)."""
        env = os.environ
        keys = tuple(
            k.strip() for k in env.get("DEVHOST_FUNCTION_KEYS", "").split(",") if k.strip()
        )
        return cls(
            app_root=app_root,
            host=host,
            port=port,
            function_keys=keys,
            master_key=env.get("DEVHOST_MASTER_KEY") or None,
            redis_url=env.get("REDIS_URL") or None,
            max_delivery_count=int(
                env.get("QUEUE_MAX_DELIVERY_COUNT", _default("queue_max_delivery_count"))
            ),
            lock_duration_s=float(
                env.get("QUEUE_LOCK_DURATION_S", _default("queue_lock_duration_s"))
            ),
            duplicate_window_s=float(
                env.get("QUEUE_DUPLICATE_WINDOW_S", _default("queue_duplicate_window_s"))
            ),
            message_ttl_s=float(env.get("QUEUE_MESSAGE_TTL_S", _default("queue_message_ttl_s"))),
            groups=groups,
        )


HOST_OVERRIDE_PREFIX = "AzureFunctionsJobHost__"


def read_host_json(app_root: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    """Read the app's host.json with the app settings that override it applied, as the
    Functions host does (``AzureFunctionsJobHost__extensions__serviceBus__maxConcurrentSessions``
    replaces ``extensions.serviceBus.maxConcurrentSessions``; learn.microsoft.com/azure/
    azure-functions/functions-host-json#override-hostjson-values)."""
    path = app_root / "host.json"
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return apply_host_overrides(document, environ)


def apply_host_overrides(document: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Return ``document`` with every ``AzureFunctionsJobHost__a__b`` setting written to
    ``a.b``: path parts match the document's keys without regard to case (the host reads
    configuration that way), missing sections are made, the value stays text (each reader
    converts it, as the host's option binding does)."""
    result = copy.deepcopy(document)
    for name in sorted(environ):
        if not name.lower().startswith(HOST_OVERRIDE_PREFIX.lower()):
            continue
        parts = [p for p in name[len(HOST_OVERRIDE_PREFIX) :].split("__") if p]
        if not parts:
            continue
        section = result
        for part in parts[:-1]:
            key = _matching_key(section, part)
            if not isinstance(section.get(key), dict):
                section[key] = {}
            section = section[key]
        section[_matching_key(section, parts[-1])] = environ[name]
    return result


def _matching_key(section: dict[str, Any], part: str) -> str:
    return next((k for k in section if k.lower() == part.lower()), part)


class DevHost:
    """Run one Functions app locally until stopped."""

    def __init__(self, config: DevHostConfig) -> None:
        self.config = config
        self.specs: list[FunctionSpec] = []
        self.timers: dict[str, TimerRunner] = {}
        self.queue_triggers: dict[str, QueueTrigger] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._redis: aioredis.Redis | None = None
        self._started = time.monotonic()
        self.port = config.port
        self._log_mask: logging.Filter | None = None

    @property
    def url(self) -> str:
        """Return the base URL the host listens on."""
        return f"http://{self.config.host}:{self.port}"

    async def start(self) -> None:
        """Index the app, then start serving, scheduling and delivering."""
        self._mask_logs()
        self.specs = index_function_app(self.config.app_root, self.config.script)
        host_json = read_host_json(self.config.app_root, os.environ)
        extensions = host_json.get("extensions", {})
        prefix = str(extensions.get("http", {}).get("routePrefix", "api"))
        groups = self.config.groups
        self._check_keys()
        if "timer" in groups:
            self._build_timers()
        if "queue" in groups:
            self._build_queue_triggers(extensions.get("serviceBus", {}))
        keys = HostKeys(self.config.function_keys, self.config.master_key)
        routes = [s for s in self.specs if "http" in groups or s.trigger_type != "httpTrigger"]
        dispatcher = HttpDispatcher(routes, prefix, keys, AdminApi(self.specs, self))
        app = web.Application(client_max_size=4 * 1024 * 1024, middlewares=[json_errors])
        app.router.add_route("*", "/{tail:.*}", dispatcher.handle)
        self._runner = JsonErrorAppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        server = site._server
        if server is not None and getattr(server, "sockets", None):
            self.port = int(server.sockets[0].getsockname()[1])
        for runner in [*self.timers.values(), *self.queue_triggers.values()]:
            self._tasks.append(asyncio.create_task(runner.run(self._stop)))
        self._started = time.monotonic()

    def _mask_logs(self) -> None:
        """Mask the host's keys and every ``code=`` / ``x-functions-key`` value in its logs."""
        from shared.telemetry import mask_process_logs

        keys = [*self.config.function_keys, self.config.master_key or ""]
        self._log_mask = mask_process_logs([k for k in keys if k], MASKED_LOGGERS)

    def _check_keys(self) -> None:
        needs_key = any(
            s.trigger_type == "httpTrigger"
            and str(s.trigger.get("authLevel", "")).lower() != "anonymous"
            for s in self.specs
        )
        if needs_key and not (self.config.function_keys or self.config.master_key):
            raise IndexingError(
                "the app has function-level HTTP routes but DEVHOST_FUNCTION_KEYS is not set"
            )

    def _build_timers(self) -> None:
        for spec in self.specs:
            if spec.trigger_type == "timerTrigger":
                schedule = resolve_app_settings(str(spec.trigger["schedule"]))
                self.timers[spec.name] = TimerRunner(spec, schedule)

    def _build_queue_triggers(self, service_bus: dict[str, Any]) -> None:
        max_sessions = int(service_bus.get("maxConcurrentSessions", 8))
        # The host renews a session's lock for at most this long after it accepted the session.
        renewal_s = max_lock_renewal_s(service_bus)
        specs = [s for s in self.specs if s.trigger_type == "serviceBusTrigger"]
        if not specs:
            return
        if not self.config.redis_url:
            raise IndexingError("Service Bus triggers need REDIS_URL for the local queue")
        # Signed in per REDIS_AUTH, like the Functions host's own Container.
        options = RedisOptions.from_environment({**os.environ, "REDIS_URL": self.config.redis_url})
        # No socket timeout: the queue's wait_for_work blocks in BLPOP for longer than 1 s.
        self._redis = build_async_redis(options, socket_connect_timeout=None, socket_timeout=None)
        for spec in specs:
            queue = LocalQueue(
                self._redis,
                resolve_app_settings(str(spec.trigger["queueName"])),
                duplicate_window_s=self.config.duplicate_window_s,
                max_delivery_count=self.config.max_delivery_count,
                lock_duration_s=self.config.lock_duration_s,
                default_ttl_s=self.config.message_ttl_s,
            )
            self.queue_triggers[spec.name] = QueueTrigger(
                spec, queue, max_sessions, max_lock_renewal_s=renewal_s
            )

    async def stop(self) -> None:
        """Stop accepting work, let in-flight messages finish, and close everything."""
        self._stop.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        await close_container()  # the functions' clients: Table storage, Tradovate, Redis
        if self._redis is not None:
            await self._redis.aclose()
        if self._log_mask is not None:
            from shared.telemetry import unmask_process_logs

            unmask_process_logs(self._log_mask, MASKED_LOGGERS)
            self._log_mask = None

    # --- admin API ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Describe the host and its functions."""
        return {
            "state": "Running",
            "uptime_s": round(time.monotonic() - self._started, 1),
            "functions": [
                {"name": s.name, "trigger": s.trigger_type}
                for s in sorted(self.specs, key=lambda s: s.name)
            ],
            "timers": {n: {"runs": t.runs, "failures": t.failures} for n, t in self.timers.items()},
            "queues": {
                n: {"delivered": q.delivered, "max_concurrent_sessions": q.max_concurrent_sessions}
                for n, q in self.queue_triggers.items()
            },
        }

    def run_now(self, spec: FunctionSpec) -> None:
        """Run a timer function now, as ``POST /admin/functions/{name}`` does in Azure."""
        timer = self.timers.get(spec.name)
        if timer is None:
            raise IndexingError(
                f"{spec.name} cannot be run on demand by this dev host (not a timer, or its "
                "timer group is not run here)"
            )
        self._tasks.append(asyncio.create_task(timer.fire(past_due=False)))

    async def queue_report(self, queue_name: str) -> dict[str, Any] | None:
        """Return counts and dead letters of a queue a trigger listens on."""
        for trigger in self.queue_triggers.values():
            if trigger.queue.queue_name == queue_name:
                letters = await trigger.queue.dead_letters()
                return {
                    "counts": await trigger.queue.counts(),
                    "dead_letters": [
                        {
                            "message_id": d.message_id,
                            "session_id": d.session_id,
                            "reason": d.reason,
                            "description": d.description,
                            "delivery_count": d.delivery_count,
                            "dead_lettered_at": d.dead_lettered_at.isoformat(),
                        }
                        for d in letters
                    ],
                }
        return None
