"""Build the worker from settings (its composition root) and run it until told to stop.

``WorkerApp.from_settings`` makes the Redis client (signed in per ``REDIS_AUTH``), the
Tradovate REST client and shared token manager, the Table history and the socket configs,
and the notifier's loop when a notification channel is configured (``worker.notifier``);
nothing connects until ``start``.
Tests pass a ``WorkerConfig`` tweak (shorter timers) and read ``app.worker`` directly.

``start`` first asks Redis for a PING. If Redis refuses this app's credentials (with
``REDIS_AUTH=entra``: the identity has no access policy on the cache), nothing would work,
so the worker does not start: ``/healthz`` answers 503 with ``redis_auth_failed`` and the
sentence saying what to grant, one error log carries ``alert: redis_auth_failed``, and the
PING is retried every ``REDIS_AUTH_RETRY_S`` (no hot loop) until an access policy arrives.
A Redis that is merely unreachable does not hold the worker back; its loops retry on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.adapters.notify_channels import build_notifier
from shared.adapters.redis_connect import build_async_redis
from shared.adapters.redis_errors import REDIS_AUTH_FAILED, redis_unavailable
from shared.adapters.redis_ledger import LedgerOutbox, RedisLedger
from shared.adapters.redis_timers import RedisTimerStore
from shared.adapters.tables_common import table_service_factory
from shared.adapters.tables_ledger import TablesLedger
from shared.adapters.tradovate.backoff import Backoff
from shared.adapters.tradovate.client import TradovateClient
from shared.adapters.tradovate.wsconn import Connector
from shared.adapters.tradovate.wstypes import SocketConfig
from shared.config import Settings
from shared.domain.clock import SystemClock
from shared.domain.errors import DependencyUnavailable
from shared.services.ledger_mirror import LedgerMirror
from shared.telemetry import get_metrics
from worker.health import HealthServer
from worker.history import TablesHistory
from worker.instruments import ConfiguredInstruments
from worker.live_store import LiveStore
from worker.notifier import NotifierLoop
from worker.pipeline import LivePipeline
from worker.recorder import HistoryRecorder, SignalLinker
from worker.service import Worker, WorkerConfig
from worker.specs import ContractTermsResolver
from worker.stops import StopManager

logger = logging.getLogger(__name__)

# How often a worker whose identity Redis refuses asks again (an access policy can take a
# few minutes to apply); slow enough never to hammer the cache or the identity endpoint.
REDIS_AUTH_RETRY_S = 30.0


def socket_configs(settings: Settings) -> tuple[SocketConfig, SocketConfig]:
    """Return the trading and market-data socket configs, with the worker's back-off."""
    cap = max(settings.tradovate_ws_reconnect_max_s, settings.tradovate_ws_reconnect_base_s)
    backoff = Backoff(base_s=settings.tradovate_ws_reconnect_base_s, cap_s=cap)
    made = []
    for market_data in (False, True):
        base = SocketConfig.from_settings(settings, market_data=market_data)
        made.append(
            dataclasses.replace(
                base, backoff=backoff, stable_after_s=settings.tradovate_ws_stable_after_s
            )
        )
    return made[0], made[1]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class WorkerApp:
    """Hold the worker, its health server and the clients it owns."""

    worker: Worker
    health: HealthServer
    redis: Redis
    client: TradovateClient
    history: TablesHistory
    archive: TablesLedger
    port: int | None = None
    stopped: bool = False
    redis_refusal: DependencyUnavailable | None = None
    redis_auth_retry_s: float = REDIS_AUTH_RETRY_S
    notifier: NotifierLoop | None = None  # None when no notification channel is configured
    _waiting: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        tune: Callable[[WorkerConfig], WorkerConfig] | None = None,
        connector: Connector | None = None,
    ) -> WorkerApp:
        """Wire every part from settings; ``tune`` may adjust the worker's timers."""
        settings.require_tables()
        redis = build_async_redis(
            settings, socket_connect_timeout=2.0, socket_timeout=5.0, health_check_interval=30
        )
        client = TradovateClient.from_settings(settings, redis)
        tables = table_service_factory(settings)
        history = TablesHistory(tables, settings.table_prefix)
        trading, market_data = socket_configs(settings)
        config = WorkerConfig(trading=trading, market_data=market_data)
        if tune is not None:
            config = tune(config)
        metrics = get_metrics()
        store = LiveStore(
            redis,
            now=_now,
            liveness_ttl_s=config.liveness_ttl_s,
            quote_ttl_s=config.quote_ttl_s,
            on_error=lambda: metrics.redis_errors.add(1, {"scope": "worker"}),
        )
        ledger = RedisLedger(redis, ttl_s=settings.ledger_ttl_days * 86_400)
        recorder = HistoryRecorder(
            redis, history, ledger, linker=SignalLinker(redis), publish=store.publish, now=_now
        )
        archive = TablesLedger(tables, f"{settings.table_prefix}Ledger")
        mirror = LedgerMirror(LedgerOutbox(redis), archive, settle_s=config.ledger_settle_s)
        terms = ContractTermsResolver(redis, client.rest)
        pipeline = LivePipeline(store, recorder, terms, now=_now)

        def stops(worker: Worker) -> StopManager:
            return StopManager(
                redis,
                client.rest,
                lambda: worker.pipeline.book,
                lambda: worker.pipeline.marks,
                terms,
                is_live=lambda: worker.live,
                refresh_s=config.management_refresh_s,
            )

        worker = Worker(
            config,
            pipeline=pipeline,
            store=store,
            tokens=client.tokens,
            rest=client.rest,
            stops=stops,
            connector=connector,
            mirror=mirror,
            instruments=ConfiguredInstruments(RedisTimerStore(redis), _now),
        )
        # The health endpoint answers from the app: the worker's health, or the Redis refusal
        # that keeps it from starting (``app`` is bound before the first request arrives).
        health = HealthServer(lambda: app.health_report(), host, port)
        app = cls(worker, health, redis, client, history, archive)
        notifier = build_notifier(settings, redis, SystemClock())
        app.notifier = NotifierLoop(notifier) if notifier is not None else None
        return app

    async def start(self) -> int:
        """Start the health endpoint, then the worker once Redis accepts us; return the port."""
        self.port = await self.health.start()
        self.redis_refusal = await self._redis_refusal()
        if self.redis_refusal is None:
            await self._start_worker()
        else:
            self._report_refusal(self.redis_refusal)
            self._waiting = asyncio.create_task(self._wait_for_redis(), name="worker-redis-auth")
        return self.port

    def health_report(self) -> dict[str, Any]:
        """Return the worker's health, or the Redis refusal that keeps it from starting."""
        refusal = self.redis_refusal
        if refusal is None:
            return self.worker.health()
        return {
            "status": "unhealthy",
            "healthy": False,
            "state": "waiting_for_redis",
            "error": refusal.to_dict(),
        }

    async def _start_worker(self) -> None:
        await self.worker.start()
        if self.notifier is not None:
            self.notifier.start()
        logger.info("worker started", extra={"port": self.port})

    async def _redis_refusal(self) -> DependencyUnavailable | None:
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            error = redis_unavailable(exc)
            return error if error.code == REDIS_AUTH_FAILED else None
        return None

    def _report_refusal(self, error: DependencyUnavailable) -> None:
        logger.error(
            "worker waiting: Redis refused this app's identity",
            extra={"alert": REDIS_AUTH_FAILED, "code": error.code, "error": error.message},
        )

    async def _wait_for_redis(self) -> None:
        while self.redis_refusal is not None:
            await asyncio.sleep(self.redis_auth_retry_s)
            self.redis_refusal = await self._redis_refusal()
        await self._start_worker()

    async def stop(self) -> None:
        """Stop everything, in reverse order (a second call does nothing)."""
        if self.stopped:
            return
        self.stopped = True
        if self._waiting is not None:
            self._waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._waiting
        await self.worker.stop()
        if self.notifier is not None:
            await self.notifier.stop()
        await self.health.stop()
        await self.history.close()
        await self.archive.close()
        await self.client.aclose()
        await self.redis.aclose()
        logger.info("worker stopped")
