"""Timer triggers: contract maps, the shared Tradovate token, reconciliation, the ledger copy.

Schedules are NCRONTAB (six fields, seconds first) in UTC, read from app settings as
``%NAME%`` so an operator can change them without a deploy. Each function only runs its use
case from the container and turns the result into logs and metrics. A transient failure
raises, so the host retries with exponential backoff (``@bp.retry``); every use case is safe
when two instances fire together (per-root and per-run locks in Redis, deterministic journal
rows and signal ids).
"""

from __future__ import annotations

import logging
import os

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)

# The defaults of shared.config.Settings (tests/functions/test_indexing.py keeps them equal).
SCHEDULE_DEFAULTS = {
    "CONTRACT_REFRESH_SCHEDULE": "0 */15 * * * *",
    "TOKEN_REFRESH_SCHEDULE": "0 */5 * * * *",
    "RECONCILE_SCHEDULE": "30 */5 * * * *",
    "LEDGER_MIRROR_SCHEDULE": "15 * * * * *",
}


def _schedule(name: str) -> str:
    # Azure resolves %NAME% from the app settings infra/ writes. A local host started with a
    # hand-made environment has none, and one missing setting would stop every function from
    # indexing, so the documented default is filled in for this process only.
    os.environ.setdefault(name, SCHEDULE_DEFAULTS[name])
    return f"%{name}%"


@bp.function_name("contract_refresh")
@bp.timer_trigger(arg_name="timer", schedule=_schedule("CONTRACT_REFRESH_SCHEDULE"))
@bp.retry(
    strategy="exponential_backoff",
    max_retry_count="3",
    minimum_interval="00:00:10",
    maximum_interval="00:02:00",
)
async def contract_refresh(timer: func.TimerRequest) -> None:
    """Rebuild the contract map of every root the strategies name or the executor resolved."""
    from shared.container import get_container
    from shared.services.contracts import strategy_roots

    container = get_container()
    roots = strategy_roots(container.strategies.values())
    results = await container.contract_refresher.refresh_all(roots)
    log.info(
        "contract maps: %s",
        ", ".join(f"{r.root} {r.status} {r.front or '-'}" for r in results) or "no roots",
        extra={"past_due": timer.past_due},
    )


@bp.function_name("token_refresh")
@bp.timer_trigger(arg_name="timer", schedule=_schedule("TOKEN_REFRESH_SCHEDULE"))
@bp.retry(
    strategy="exponential_backoff",
    max_retry_count="2",
    minimum_interval="00:00:15",
    maximum_interval="00:01:00",
)
async def token_refresh(timer: func.TimerRequest) -> None:
    """Renew the shared Tradovate token well before it expires (log in only without one)."""
    from shared.container import get_container
    from shared.domain.clock import SystemClock
    from shared.services.token_refresh import refresh_token
    from shared.telemetry import get_metrics
    from shared.telemetry_names import ATTR_REASON

    container = get_container()
    status = await refresh_token(container.timer_tokens, SystemClock())
    if status.alert_worthy:
        get_metrics().auth_failures.add(1, {ATTR_REASON: status.code or status.state})
        # The trader is told (docs/notifications.md: token_renewal).
        failing = {"check": "token_renewal", "status": "failing", "state": status.state}
        await container.timer_store.publish("system.health", {**failing, "code": status.code})


@bp.function_name("reconcile")
@bp.timer_trigger(arg_name="timer", schedule=_schedule("RECONCILE_SCHEDULE"))
@bp.retry(
    strategy="exponential_backoff",
    max_retry_count="2",
    minimum_interval="00:00:10",
    maximum_interval="00:01:00",
)
async def reconcile(timer: func.TimerRequest) -> None:
    """Compare intended and broker positions; journal, publish, count and (if on) heal drift."""
    from shared.container import get_container
    from shared.telemetry import get_metrics
    from shared.telemetry_names import ATTR_ACCOUNT, ATTR_STRATEGY

    report = await get_container().reconciler.run()
    metrics = get_metrics()
    for drift in report.drifts:
        metrics.position_drift.add(
            1, {ATTR_STRATEGY: drift.strategy_id, ATTR_ACCOUNT: drift.account}
        )
    log.info(
        "reconcile: %s",
        f"{report.checked} checked, {len(report.drifts)} drift, {report.healed} healed"
        if report.ran
        else "another instance is running",
        extra={"problems": list(report.problems)},
    )


@bp.function_name("ledger_mirror")
@bp.timer_trigger(arg_name="timer", schedule=_schedule("LEDGER_MIRROR_SCHEDULE"))
@bp.retry(
    strategy="exponential_backoff",
    max_retry_count="2",
    minimum_interval="00:00:10",
    maximum_interval="00:01:00",
)
async def ledger_mirror(timer: func.TimerRequest) -> None:
    """Copy ledger rows changed in Redis to Table storage (the worker does it every second;
    this catches up when it is down, and is the only copier when no worker is deployed), then
    write alert-journal rows parked while Table storage was away."""
    from shared.container import get_container

    container = get_container()
    run = await container.ledger_mirror.drain()
    log.info(
        "ledger mirror: %d signal(s), %d row(s) copied, %d waiting on Table storage",
        run.mirrored,
        run.rows,
        run.failed,
        extra={"past_due": timer.past_due},
    )
    await _drain_parked_journal_rows(container.alert_journal)


async def _drain_parked_journal_rows(journal: object) -> None:
    from shared.adapters.tables_journal import TablesAlertJournal
    from shared.domain.errors import DependencyUnavailable

    if not isinstance(journal, TablesAlertJournal):
        return
    try:
        drained = await journal.drain_pending()
    except DependencyUnavailable as exc:  # the rows stay parked; the next run tries again
        log.warning("parked journal rows not drained: %s", exc.message)
        return
    if drained.written or drained.buried or drained.waiting:
        log.info(
            "journal: %d parked row(s) written, %d dead-lettered, %d still waiting",
            drained.written,
            drained.buried,
            drained.waiting,
        )
