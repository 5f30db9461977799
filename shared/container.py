"""Build the real adapters from settings, lazily and once per process (the composition root).

Nothing here connects at import time, or even when the container is made: each adapter is
built on first use, so ``import function_app`` stays cheap and a cold start only pays for
what its first invocation touches. Tests build a ``Container`` with their own settings, or
hand the use cases in-memory fakes directly.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    import redis.asyncio as aioredis
    from azure.data.tables.aio import TableServiceClient

    from shared.adapters.ops_redis import RedisOpsStore
    from shared.adapters.ops_tables import TablesFillReader, TablesJournalReader
    from shared.adapters.redis_timers import RedisTimerStore
    from shared.adapters.tables_events import TablesEventJournal
    from shared.adapters.tables_ledger import TablesLedger
    from shared.adapters.tradovate.client import TradovateClient
    from shared.adapters.tradovate.token import TokenManager
    from shared.config import Settings
    from shared.ports import (
        AlertGate,
        AlertJournal,
        ContractSource,
        Ledger,
        SecretStore,
        SignalQueue,
    )
    from shared.services.contracts import ContractRefresher
    from shared.services.execute import Executor
    from shared.services.ingest import Ingestor
    from shared.services.ledger_mirror import LedgerMirror
    from shared.services.notify.notifier import Notifier
    from shared.services.notify.watchdog import Watchdog
    from shared.services.ops.alert_template import AlertTemplates
    from shared.services.ops.broker_state import BrokerState
    from shared.services.ops.config_check import ConfigCheck
    from shared.services.ops.control import TradingControl
    from shared.services.ops.dead_letters import DeadLetterOps, DeadLetters, DeadLetterWatch
    from shared.services.ops.flatten import Flatten
    from shared.services.ops.health import Health
    from shared.services.ops.market import MarketData
    from shared.services.ops.metrics import Metrics
    from shared.services.ops.signals import SignalLog
    from shared.services.reconcile import Reconciler
    from shared.strategies import StrategyBook

log = logging.getLogger(__name__)


class Container:
    """Own this process's adapters; every property is built on first access."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    @cached_property
    def settings(self) -> Settings:
        """Return the settings (read from the environment unless given)."""
        # Imported here: pydantic-settings is most of what reading settings costs, and
        # `import function_app` (the host's indexing) must not pay for it.
        from shared.config import get_settings

        return self._settings or get_settings()

    @cached_property
    def redis(self) -> aioredis.Redis:
        """Return the process's async Redis client (connection pool), signed in per REDIS_AUTH."""
        from shared.adapters.redis_connect import build_async_redis

        return build_async_redis(
            self.settings, socket_connect_timeout=1.0, socket_timeout=1.0, health_check_interval=30
        )

    @cached_property
    def signal_queue(self) -> SignalQueue:
        """Return the signals queue: Azure Service Bus, or the local Redis queue."""
        s = self.settings
        if s.queue_backend == "local":
            from shared.adapters.local_queue import LocalQueue

            return LocalQueue(
                self.redis,
                s.signals_queue_name,
                duplicate_window_s=s.queue_duplicate_window_s,
                max_delivery_count=s.queue_max_delivery_count,
                lock_duration_s=s.queue_lock_duration_s,
                default_ttl_s=s.queue_message_ttl_s,
            )
        from shared.adapters.servicebus import ServiceBusSignalQueue

        factory = self._servicebus_client_factory()

        return ServiceBusSignalQueue(s.signals_queue_name, factory)

    @cached_property
    def strategies(self) -> StrategyBook:
        """Return the strategy book from ``STRATEGIES_FILE``, validated."""
        from shared.strategies import load_strategies

        return load_strategies(self.settings.strategies_path)

    @cached_property
    def secrets(self) -> SecretStore:
        """Return Key Vault when ``KEY_VAULT_URI`` is set, else the environment."""
        from shared.adapters.secrets import EnvSecretStore, KeyVaultSecretStore, build_secret_client

        uri = self.settings.key_vault_uri
        if not uri:
            return EnvSecretStore()
        client_id = self.settings.azure_client_id
        return KeyVaultSecretStore(lambda: build_secret_client(uri, client_id))

    @cached_property
    def alert_gate(self) -> AlertGate:
        """Return the Redis-backed rate limiter and de-duplicator."""
        from shared.adapters.redis_gate import RedisAlertGate

        return RedisAlertGate(self.redis)

    @cached_property
    def alert_journal(self) -> AlertJournal:
        """Return the Table storage alert journal."""
        from shared.adapters.tables_journal import TablesAlertJournal
        from shared.adapters.tables_pending import RedisPendingRows

        factory = self._table_service_factory()
        # A row Table storage does not take after its retries waits in Redis with its reason.
        pending = RedisPendingRows(self.redis)
        return TablesAlertJournal(factory, f"{self.settings.table_prefix}Alerts", pending=pending)

    @cached_property
    def ingestor(self) -> Ingestor:
        """Return the webhook's use case wired to this process's adapters."""
        from shared.services.ingest import TRADINGVIEW_IPS, IngestDeps, Ingestor

        extra = frozenset(self.settings.webhook_extra_allowed_ips)
        return Ingestor(
            IngestDeps(
                strategies=self.strategies,
                secrets=self.secrets,
                gate=self.alert_gate,
                queue=self.signal_queue,
                journal=self.alert_journal,
                allowed_ips=TRADINGVIEW_IPS | extra,
                max_body_bytes=self.settings.webhook_max_body_bytes,
                journal_timeout_s=self.settings.webhook_journal_timeout_s,
            )
        )

    @cached_property
    def tradovate(self) -> TradovateClient:
        """Return the process's Tradovate REST client and shared token manager."""
        from shared.adapters.tradovate.client import TradovateClient

        return TradovateClient.from_settings(self.settings, self.redis)

    def _servicebus_client_factory(self) -> Callable[[], Any]:
        """Return how to make a Service Bus client with the app's identity (or the connection
        string where one is set), for the signals queue and its dead letters alike."""
        from shared.adapters.servicebus import build_client

        s = self.settings
        s.require_servicebus()
        conn = s.servicebus_connection_string

        def factory() -> Any:
            return build_client(
                fully_qualified_namespace=s.servicebus_namespace,
                connection_string=conn.get_secret_value() if conn else None,
                client_id=s.servicebus_client_id or s.azure_client_id,
            )

        return factory

    def _table_service_factory(self) -> Callable[[], TableServiceClient]:
        from shared.adapters.tables_common import table_service_factory

        self.settings.require_tables()
        return table_service_factory(self.settings)

    @cached_property
    def ledger(self) -> Ledger:
        """Return the execution ledger: Redis, backed by its Table-storage copy."""
        from shared.adapters.redis_ledger import RedisLedger

        ttl_s = self.settings.ledger_ttl_days * 86_400
        return RedisLedger(self.redis, ttl_s=ttl_s, archive=self.ledger_archive)

    @cached_property
    def ledger_archive(self) -> TablesLedger:
        """Return the ledger's durable copy in Table storage."""
        from shared.adapters.tables_ledger import TablesLedger

        return TablesLedger(self._table_service_factory(), f"{self.settings.table_prefix}Ledger")

    @cached_property
    def ledger_mirror(self) -> LedgerMirror:
        """Return the copier of changed ledger rows from Redis to Table storage."""
        from shared.adapters.redis_ledger import LedgerOutbox
        from shared.services.ledger_mirror import LedgerMirror

        return LedgerMirror(LedgerOutbox(self.redis), self.ledger_archive)

    @cached_property
    def contracts(self) -> ContractSource:
        """Return the contract resolver over the Redis contract maps (refreshing on a miss)."""
        from shared.domain.clock import SystemClock
        from shared.services.contracts import ContractResolver

        return ContractResolver(self.timer_store, self.contract_refresher, SystemClock())

    @cached_property
    def timer_store(self) -> RedisTimerStore:
        """Return the Redis store of contract maps, locks, intents and timer events."""
        from shared.adapters.redis_timers import RedisTimerStore

        return RedisTimerStore(self.redis)

    @cached_property
    def event_journal(self) -> TablesEventJournal:
        """Return the Table storage journal of contract rolls and position drift."""
        from shared.adapters.tables_events import TablesEventJournal

        prefix = self.settings.table_prefix
        return TablesEventJournal(self._table_service_factory(), f"{prefix}Events")

    @cached_property
    def contract_refresher(self) -> ContractRefresher:
        """Return the contract-map builder (the timer's, and the resolver's on a miss)."""
        from shared.domain.clock import SystemClock
        from shared.services.contracts import ContractRefresher

        store = self.timer_store
        return ContractRefresher(
            self.tradovate.rest, store, store, store, self.event_journal, SystemClock(),
            overrides=self.settings.roll_overrides,
        )  # fmt: skip

    @cached_property
    def timer_tokens(self) -> TokenManager:
        """Return a manager of the shared token that renews earlier than the hot path does."""
        from shared.adapters.tradovate.client import token_manager
        from shared.services.token_refresh import RENEW_LEAD_S

        return token_manager(
            self.settings, self.redis, self.tradovate.http, renew_lead_s=RENEW_LEAD_S
        )

    @cached_property
    def reconciler(self) -> Reconciler:
        """Return the reconcile use case wired to this process's adapters."""
        from shared.domain.clock import SystemClock
        from shared.services.reconcile import ReconcileDeps, Reconciler

        store = self.timer_store
        return Reconciler(
            ReconcileDeps(
                strategies=self.strategies,
                intents=store,
                broker=self.tradovate.rest,
                maps=store,
                locks=store,
                bus=store,
                journal=self.event_journal,
                queue=self.signal_queue,
                clock=SystemClock(),
            )
        )

    @cached_property
    def executor(self) -> Executor:
        """Return the queue function's use case wired to this process's adapters."""
        from shared.adapters.redis_exec import RedisExecutionStore
        from shared.domain.clock import SystemClock
        from shared.services.execute import ExecuteDeps, Executor
        from shared.services.live_state import LiveState
        from shared.services.settle import Timing

        settings = self.settings
        timing = Timing(
            view_wait_s=settings.executor_view_wait_ms / 1000,
            fill_cache_s=settings.executor_fill_cache_s,
            fill_timeout_s=settings.executor_fill_timeout_s,
        )
        return Executor(
            ExecuteDeps(
                strategies=self.strategies,
                broker=self.tradovate.rest,
                contracts=self.contracts,
                ledger=self.ledger,
                store=RedisExecutionStore(self.redis),
                live=LiveState(self.redis),
                clock=SystemClock(),
                timing=timing,
            )
        )

    # --- the ops API (shared/services/ops) ------------------------------------------------------

    @cached_property
    def ops_store(self) -> RedisOpsStore:
        """Return the ops API's Redis reads and kill-switch writes."""
        from shared.adapters.ops_redis import RedisOpsStore

        return RedisOpsStore(self.redis)

    @cached_property
    def journal_reader(self) -> TablesJournalReader:
        """Return the ops API's reader of the alert journal (also the Tables probe)."""
        from shared.adapters.ops_tables import TablesJournalReader

        prefix = self.settings.table_prefix
        return TablesJournalReader(self._table_service_factory(), f"{prefix}Alerts")

    @cached_property
    def ops_health(self) -> Health:
        """Return the readiness checks of this deployment's parts."""
        from shared import __version__
        from shared.adapters.notify_channels import configured_channels
        from shared.adapters.tradovate.token import namespace_for
        from shared.domain.clock import SystemClock
        from shared.services.ops.health import Health, HealthSettings
        from shared.services.ops.ports import Probe

        s = self.settings
        namespace = namespace_for(s.tradovate_base_url, s.tradovate_username)
        # Service Bus opens its sender link; the local queue lives in Redis, checked anyway.
        queue = self.signal_queue if s.queue_backend != "local" else None
        return Health(
            self.strategies,
            self.ops_store,
            self.journal_reader,
            queue if isinstance(queue, Probe) else None,
            SystemClock(),
            HealthSettings(
                version=__version__,
                queue_backend=s.queue_backend,
                tradovate_base_url=s.tradovate_base_url,
                token_key=f"{namespace}:token",
                captcha_key=f"{namespace}:captcha",
                renew_margin_s=s.tradovate_token_renew_margin_s,
                paper=s.paper,
                table_prefix=s.table_prefix,
                notify_channels=configured_channels(s),
            ),
        )

    @cached_property
    def broker_state(self) -> BrokerState:
        """Return the reader of accounts, positions, orders and balances (cache, else REST)."""
        from shared.domain.clock import SystemClock
        from shared.services.ops.broker_state import BrokerState

        return BrokerState(self.strategies, self.ops_store, self.tradovate.rest, SystemClock())

    @cached_property
    def flattener(self) -> Flatten:
        """Return the flatten use case: flat signals through the signals queue."""
        from shared.domain.clock import SystemClock
        from shared.services.ops.flatten import Flatten

        return Flatten(
            self.strategies,
            self.broker_state,
            self.tradovate.rest,
            self.signal_queue,
            self.alert_journal,
            self.ops_store,
            SystemClock(),
        )

    @cached_property
    def trading_control(self) -> TradingControl:
        """Return the kill-switch use case (status, disable, enable)."""
        from shared.domain.clock import SystemClock
        from shared.services.ops.control import TradingControl

        return TradingControl(
            self.strategies, self.ops_store, self.event_journal, self.flattener, SystemClock()
        )

    @cached_property
    def signal_log(self) -> SignalLog:
        """Return the reader of the journal and ledger for ``/api/signals``."""
        from shared.domain.clock import SystemClock
        from shared.services.ops.signals import SignalLog

        return SignalLog(
            self.strategies,
            self.journal_reader,
            self.ops_store,
            self.ledger,
            SystemClock(),
            ledger_ttl_s=self.settings.ledger_ttl_days * 86_400,
            fills=self.fill_reader,
        )

    @cached_property
    def fill_reader(self) -> TablesFillReader:
        """Return the ops API's reader of the worker's fill history (``{prefix}Fills``)."""
        from shared.adapters.ops_tables import TablesFillReader

        prefix = self.settings.table_prefix
        return TablesFillReader(self._table_service_factory(), f"{prefix}Fills")

    @cached_property
    def market_data(self) -> MarketData:
        """Return the reader of contract maps and quotes."""
        from shared.domain.clock import SystemClock
        from shared.services.ops.market import MarketData

        return MarketData(self.strategies, self.ops_store, SystemClock())

    @cached_property
    def ops_metrics(self) -> Metrics:
        """Return the counts and latency percentiles of signals (``/api/health/metrics``)."""
        from shared.domain.clock import SystemClock
        from shared.services.ops.metrics import Metrics

        return Metrics(self.strategies, self.journal_reader, self.ops_store, SystemClock())

    @cached_property
    def config_check(self) -> ConfigCheck:
        """Return the check of a strategy file against this deployment (``/api/config/check``)."""
        from shared.config import load_settings
        from shared.services.ops.config_check import ConfigCheck

        # The file is read again from disk (not self.strategies): the check reports a file
        # that does not load instead of failing with it.
        return ConfigCheck(
            load_settings,
            lambda: self.settings.strategies_path,
            self.secrets,
            lambda: self.tradovate.rest,
            lambda: self.contracts,
        )

    @cached_property
    def alert_templates(self) -> AlertTemplates:
        """Return the writer of strategies' TradingView alerts (``alert-template``)."""
        from shared.services.ops.alert_template import AlertTemplates

        return AlertTemplates(self.strategies, self.secrets)

    @cached_property
    def dead_letters(self) -> DeadLetters:
        """Return the signals queue's dead letters, on the same backend as the sender."""
        from shared.domain.clock import SystemClock

        s = self.settings
        if s.queue_backend == "local":
            from shared.adapters.dlq_redis import LocalDeadLetters
            from shared.adapters.local_queue import LocalQueue

            queue = self.signal_queue
            if not isinstance(queue, LocalQueue):  # signal_queue is the local queue here
                raise TypeError("the local backend's signal queue is not a LocalQueue")
            return LocalDeadLetters(queue, SystemClock())
        from shared.adapters.servicebus_dlq import ServiceBusDeadLetters

        factory = self._servicebus_client_factory()

        return ServiceBusDeadLetters(
            s.signals_queue_name,
            factory,
            SystemClock(),
            duplicate_window_s=s.queue_duplicate_window_s,
        )

    @cached_property
    def dead_letter_ops(self) -> DeadLetterOps:
        """Return the ops API's dead-letter use case (list, show, replay, purge)."""
        from shared.adapters.dlq_redis import RedisChangeLog
        from shared.domain.clock import SystemClock
        from shared.services.ops.dead_letters import DeadLetterOps

        return DeadLetterOps(
            self.dead_letters, RedisChangeLog(self.redis), self.event_journal, SystemClock()
        )

    # --- notifications (shared/services/notify, docs/notifications.md) --------------------------

    @cached_property
    def notifier(self) -> Notifier | None:
        """Return the notifier of the configured channels (None when there is none)."""
        from shared.adapters.notify_channels import build_notifier
        from shared.domain.clock import SystemClock

        return build_notifier(self.settings, self.redis, SystemClock())

    @cached_property
    def watchdog(self) -> Watchdog:
        """Return the worker watchdog (heartbeat and socket transitions on system.health)."""
        from shared.adapters.notify_state import RedisWatchStore
        from shared.domain.clock import SystemClock
        from shared.services.notify.watchdog import Limits, Watchdog

        s = self.settings
        limits = Limits(worker_stale_s=s.worker_stale_s, socket_down_s=s.socket_down_s)
        return Watchdog(RedisWatchStore(self.redis), self.timer_store, SystemClock(), limits)

    @cached_property
    def dead_letter_watch(self) -> DeadLetterWatch:
        """Return the timer's reporter of new dead letters (``queue.dead_lettered``)."""
        from shared.adapters.dlq_redis import RedisReportedMarks
        from shared.domain.clock import SystemClock
        from shared.services.ops.dead_letters import DeadLetterWatch

        marks = RedisReportedMarks(self.redis, self.settings.signals_queue_name)
        return DeadLetterWatch(self.dead_letters, marks, self.timer_store, SystemClock())

    async def aclose(self) -> None:
        """Close the clients this process built (Table, HTTP, queue, Key Vault), Redis last.

        Azure ends a Functions worker without a hook, so only hosts that stop on their own
        (the dev host, tests) call this; a client that fails to close is logged and skipped.
        """
        built = self.__dict__  # cached_property keeps each adapter here once it is built
        if "alert_journal" in built:
            from shared.services.ingest import flush_journal_writes

            await flush_journal_writes()  # alerts answered before the stop keep their record
        closable = (
            "alert_journal", "journal_reader", "fill_reader", "event_journal", "ledger_archive",
            "signal_queue", "secrets", "dead_letters",
        )  # fmt: skip
        for name in closable:
            await _close(name, built.get(name), "close")
        await _close("notifier", built.get("notifier"), "aclose")
        await _close("tradovate", built.get("tradovate"), "aclose")
        await _close("redis", built.get("redis"), "aclose")


async def _close(name: str, adapter: object, method: str) -> None:
    closer = getattr(adapter, method, None)
    if closer is None:
        return  # not built in this process, or nothing to release (the environment's secrets)
    try:
        await closer()
    except Exception:  # one client failing to close must not keep the others open
        log.warning("closing %s failed", name, exc_info=True)


_container: Container | None = None


def get_container() -> Container:
    """Return this process's container, made (and telemetry configured) on first call."""
    global _container
    if _container is None:
        from shared.telemetry import configure_telemetry

        _container = Container()
        # On first use, not at import: cold start pays for it only once it is needed, and
        # without APPLICATIONINSIGHTS_CONNECTION_STRING (the local stack) it does nothing.
        configure_telemetry(_container.settings)
    return _container


async def close_container() -> None:
    """Close this process's container, if one was made, and forget it."""
    global _container
    container, _container = _container, None
    if container is not None:
        await container.aclose()


def reset_container(container: Container | None = None) -> None:
    """Replace the process's container (tests and the dev host's reloads)."""
    global _container
    _container = container
