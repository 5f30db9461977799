"""Report health: liveness, readiness (each part's status and latency) and a detailed view.

Readiness checks the parts a signal needs, all at once and each bounded by ``timeout_s``
(5 s by default):

=============  ========  ==============================================================
part           required  how
=============  ========  ==============================================================
redis          yes       one pipeline reads everything below that lives in Redis
tables         yes       a point read of a row that does not exist (404 = reachable)
queue          yes       Service Bus: the sender's link opens; local queue: it is Redis
token          no        the shared Tradovate token's expiry; logins suspended (captcha)
contracts      no        each configured root's map: fresh, stale (> 1 h or past its roll)
                         or missing (built on first use)
worker         no        ``worker:heartbeat`` age and ``worker:sync`` (the lean deployment
                         runs without a worker; REST then answers for it)
notifications  no        shown when a channel is configured: each channel's last delivery
                         (``{notify}:status:*``), ``degraded`` when it failed
                         (docs/notifications.md)
=============  ========  ==============================================================

Statuses are ``ok``, ``degraded`` (works, but look), ``down`` and ``unknown`` (Redis, which
holds the facts, is down). A required part that is down makes the answer ``not_ready`` (503
naming it); a part that is not required only degrades it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from shared import redis_keys as keys
from shared.domain.errors import BridgeError
from shared.ports import Clock
from shared.services.contracts import is_stale, strategy_roots
from shared.services.live_state import parse_document, seconds_since
from shared.services.notify.status import notifications_check
from shared.services.ops.control import describe_switch
from shared.services.ops.ports import OpsStore, Probe, Reading
from shared.strategies import StrategyBook

WORKER_MAX_AGE_S = 10.0
MAP_MAX_AGE_S = 3600.0
_REQUIRED = ("redis", "tables", "queue")
_RANK = {"ok": 0, "degraded": 1, "unknown": 2, "down": 3}
LEDGER_DIRTY = keys.LEDGER_DIRTY
JOURNAL_PENDING = "{journal}:pending"  # shared.adapters.tables_pending.PENDING_KEY


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """What health reports about the deployment: names and places, never secrets."""

    version: str
    queue_backend: str
    tradovate_base_url: str
    token_key: str
    captcha_key: str
    renew_margin_s: float
    paper: bool
    table_prefix: str
    timeout_s: float = 5.0
    notify_channels: tuple[str, ...] = ()  # configured notification channels (webhook, email)


def token_check(
    raw: str | None, suspended: str | None, now: datetime, margin_s: float
) -> dict[str, Any]:
    """Judge the shared Tradovate token from its stored JSON (the token itself is not shown)."""
    if suspended is not None:
        return {"status": "down", "detail": "logins are suspended after a captcha"}
    token = parse_document(raw)
    if token is None:
        return {"status": "down", "detail": "no shared token (the token timer logs in)"}
    left = seconds_since(token.get("expirationTime"), now)
    expires_in_s = None if left is None else -left
    if expires_in_s is None or expires_in_s <= 0:
        return {
            "status": "down",
            "detail": "the shared token expired",
            "expires_in_s": expires_in_s,
        }
    status = "ok" if expires_in_s > margin_s else "degraded"
    detail = "valid" if status == "ok" else "inside the renewal margin; renewal is due"
    return {"status": status, "detail": detail, "expires_in_s": round(expires_in_s, 1)}


def maps_check(roots: list[str], raws: list[str | None], now: datetime) -> dict[str, Any]:
    """Judge each configured root's contract map: fresh, stale or missing."""
    per_root: dict[str, Any] = {}
    for root, raw in zip(roots, raws, strict=True):
        doc = parse_document(raw)
        if doc is None:
            per_root[root] = {"status": "degraded", "detail": "missing (built on first use)"}
            continue
        stale = is_stale(doc, now, MAP_MAX_AGE_S)
        per_root[root] = {
            "status": "degraded" if stale else "ok",
            "detail": "stale" if stale else "fresh",
            "age_s": seconds_since(doc.get("updated_at"), now),
            "front": doc.get("front"),
            "next_roll_at": doc.get("next_roll_at"),
        }
    worst = max((v["status"] for v in per_root.values()), key=_RANK.__getitem__, default="ok")
    return {"status": worst, "roots": per_root}


def worker_check(raw: str | None, sync: str | None, now: datetime) -> dict[str, Any]:
    """Judge the worker from its heartbeat and sync flag."""
    heartbeat = parse_document(raw)
    if heartbeat is None:
        return {"status": "down", "detail": "no heartbeat: the worker is not running"}
    age_s = seconds_since(heartbeat.get("at"), now)
    view = {
        "heartbeat_age_s": age_s,
        "state": heartbeat.get("state"),
        "sync": sync,
        "md_state": heartbeat.get("md_state"),
    }
    if sync != "synced":
        return {"status": "degraded", "detail": f"the cache is {sync or 'not synced'}", **view}
    if age_s is None or age_s > WORKER_MAX_AGE_S:
        return {"status": "degraded", "detail": "the heartbeat is late", **view}
    return {"status": "ok", "detail": "synced", **view}


async def _timed(
    call: Callable[[], Awaitable[Any]], timeout_s: float
) -> tuple[Any, float, str | None]:
    started = time.perf_counter()
    # Shielded: a probe that outlives the answer finishes in the background, so a slow first
    # connection (Service Bus's link, a Tables client) is ready for the next check instead of
    # being cancelled half-open every time.
    work = asyncio.ensure_future(call())
    try:
        result = await asyncio.wait_for(asyncio.shield(work), timeout_s)
        error = None
    except TimeoutError:
        work.add_done_callback(_quiet)
        result, error = None, f"no answer within {timeout_s:g} s"
    except BridgeError as exc:
        result, error = None, exc.message
    return result, round((time.perf_counter() - started) * 1000, 2), error


def _quiet(work: asyncio.Future[Any]) -> None:
    if not work.cancelled():
        work.exception()  # retrieved: a late failure of an abandoned probe is not news


class Health:
    """Check this deployment's parts for the health routes."""

    def __init__(
        self,
        strategies: StrategyBook,
        store: OpsStore,
        tables: Probe,
        queue: Probe | None,
        clock: Clock,
        settings: HealthSettings,
    ) -> None:
        self._strategies = strategies
        self._store = store
        self._tables = tables
        self._queue = queue
        self._clock = clock
        self._settings = settings

    async def ready(self) -> tuple[bool, dict[str, Any]]:
        """Check every part; return (ready, report)."""
        ok, report, _ = await self._check(detailed=False)
        return ok, report

    async def detailed(self) -> tuple[bool, dict[str, Any]]:
        """Check every part and add the deployment's shape, backlogs and trading state."""
        ok, report, reading = await self._check(detailed=True)
        s = self._settings
        strategies = list(self._strategies.values())
        report.update(
            environment={
                "queue_backend": s.queue_backend,
                "tradovate_host": urlsplit(s.tradovate_base_url).hostname,
                "paper": s.paper,
                "table_prefix": s.table_prefix,
            },
            strategies={
                "count": len(strategies),
                "enabled": sum(1 for x in strategies if x.enabled and not x.risk.kill_switch),
                "accounts": len({a.name for x in strategies for a in x.accounts}),
            },
        )
        if reading is not None:
            report["backlog"] = {
                "ledger_unmirrored": reading.sizes.get(LEDGER_DIRTY),
                "journal_pending": reading.sizes.get(JOURNAL_PENDING),
            }
            report["trading"] = describe_switch(reading.strings[4])
        return ok, report

    async def _check(self, *, detailed: bool) -> tuple[bool, dict[str, Any], Reading | None]:
        s = self._settings
        roots = sorted(strategy_roots(self._strategies.values()))
        wanted = [
            keys.WORKER_HEARTBEAT,
            keys.WORKER_SYNC_STATE,
            s.token_key,
            s.captcha_key,
            keys.KILL_GLOBAL,
            *(keys.contract_map(r) for r in roots),
            *(keys.notify_status(c) for c in s.notify_channels),
        ]

        async def read() -> Reading:
            if not detailed:
                return await self._store.read(wanted)
            return await self._store.read(
                wanted, list_sizes=[JOURNAL_PENDING], set_sizes=[LEDGER_DIRTY]
            )

        calls: list[Callable[[], Awaitable[Any]]] = [read, self._tables.probe]
        if self._queue is not None:
            calls.append(self._queue.probe)
        results = await asyncio.gather(*(_timed(c, s.timeout_s) for c in calls))
        reading, redis_ms, redis_error = results[0]
        checks: dict[str, dict[str, Any]] = {
            "redis": _probe_view(redis_ms, redis_error),
            "tables": _probe_view(results[1][1], results[1][2]),
        }
        if self._queue is not None:
            checks["queue"] = {
                **_probe_view(results[2][1], results[2][2]),
                "backend": s.queue_backend,
            }
        else:
            checks["queue"] = {
                **checks["redis"],
                "backend": s.queue_backend,
                "detail": "the local queue lives in Redis",
            }
        checks.update(self._from_redis(reading, roots, redis_ms))
        failing = [name for name in _REQUIRED if checks[name]["status"] == "down"]
        worst = max((c["status"] for c in checks.values()), key=_RANK.__getitem__)
        status = "not_ready" if failing else ("ready" if worst == "ok" else "degraded")
        report: dict[str, Any] = {
            "status": status,
            "version": self._settings.version,
            "timestamp": self._clock.now().isoformat(),
            "checks": checks,
        }
        if failing:
            report.update(
                code="not_ready",
                message=f"required part(s) down: {', '.join(failing)}",
                failing=failing,
            )
        return not failing, report, reading

    def _from_redis(
        self, reading: Reading | None, roots: list[str], latency_ms: float
    ) -> Mapping[str, dict[str, Any]]:
        channels = self._settings.notify_channels
        if reading is None:
            unknown = {"status": "unknown", "detail": "Redis holds this and is down"}
            names = ("token", "contracts", "worker", *(("notifications",) if channels else ()))
            return {name: unknown for name in names}
        now = self._clock.now()
        values = reading.strings
        parts = {
            "token": token_check(values[2], values[3], now, self._settings.renew_margin_s),
            "contracts": maps_check(roots, list(values[5 : 5 + len(roots)]), now),
            "worker": worker_check(values[0], values[1], now),
        }
        if channels:  # optional: a failing channel degrades the answer, never fails it
            parts["notifications"] = notifications_check(channels, values[5 + len(roots) :])
        return {name: {**part, "latency_ms": latency_ms} for name, part in parts.items()}


def _probe_view(latency_ms: float, error: str | None) -> dict[str, Any]:
    if error is None:
        return {"status": "ok", "latency_ms": latency_ms}
    return {"status": "down", "latency_ms": latency_ms, "detail": error}
