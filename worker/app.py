"""Build the worker from settings (its composition root) and run it until told to stop.

``WorkerApp.from_settings`` makes the Redis client, the Tradovate REST client and shared
token manager, the Table history and the socket configs; nothing connects until ``start``.
Tests pass a ``WorkerConfig`` tweak (shorter timers) and read ``app.worker`` directly.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis

from shared.adapters.redis_ledger import LedgerOutbox, RedisLedger
from shared.adapters.tables_common import table_service_factory
from shared.adapters.tables_ledger import TablesLedger
from shared.adapters.tradovate.backoff import Backoff
from shared.adapters.tradovate.client import TradovateClient
from shared.adapters.tradovate.wsconn import Connector
from shared.adapters.tradovate.wstypes import SocketConfig
from shared.config import Settings
from shared.services.ledger_mirror import LedgerMirror
from shared.telemetry import get_metrics
from worker.health import HealthServer
from worker.history import TablesHistory
from worker.live_store import LiveStore
from worker.pipeline import LivePipeline
from worker.recorder import HistoryRecorder, SignalLinker
from worker.service import Worker, WorkerConfig
from worker.specs import ContractTermsResolver
from worker.stops import StopManager

logger = logging.getLogger(__name__)


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
        redis = Redis.from_url(
            settings.redis_url.get_secret_value(),
            socket_connect_timeout=2.0,
            socket_timeout=5.0,
            health_check_interval=30,
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
        )
        return cls(worker, HealthServer(worker.health, host, port), redis, client, history, archive)

    async def start(self) -> int:
        """Start the health endpoint, then the worker; return the health port."""
        self.port = await self.health.start()
        await self.worker.start()
        logger.info("worker started", extra={"port": self.port})
        return self.port

    async def stop(self) -> None:
        """Stop everything, in reverse order (a second call does nothing)."""
        if self.stopped:
            return
        self.stopped = True
        await self.worker.stop()
        await self.health.stop()
        await self.history.close()
        await self.archive.close()
        await self.client.aclose()
        await self.redis.aclose()
        logger.info("worker stopped")
