"""Timer triggers for notifications: drain the feed, and watch the worker.

``notify`` (``NOTIFY_SCHEDULE``, every 15 s by default) hands the events waiting on the
notification feed to the trader's channels: it is the only notifier of the lean deployment,
and the worker's backstop otherwise (the worker's own notifier acts within about a second).
``watchdog`` (``WATCHDOG_SCHEDULE``, every 30 s) publishes ``system.health`` when the worker's
heartbeat goes stale or its trading socket stays down, once per transition. See
docs/notifications.md. No retry policy: each run is the next run's catch-up.
"""

from __future__ import annotations

import logging
import os

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)

# The defaults of shared.config.Settings (tests/functions/test_notify_functions.py checks).
SCHEDULE_DEFAULTS = {
    "NOTIFY_SCHEDULE": "*/15 * * * * *",
    "WATCHDOG_SCHEDULE": "*/30 * * * * *",
}
# A run stops taking new entries after this long, well inside host.json's functionTimeout.
DRAIN_BUDGET_S = 60.0


def _schedule(name: str) -> str:
    # As functions/timers.py: a host started without the setting indexes with the default.
    os.environ.setdefault(name, SCHEDULE_DEFAULTS[name])
    return f"%{name}%"


@bp.function_name("notify")
@bp.timer_trigger(arg_name="timer", schedule=_schedule("NOTIFY_SCHEDULE"))
async def notify(timer: func.TimerRequest) -> None:
    """Send the notifications waiting on the feed (nothing when no channel is configured)."""
    from shared.container import get_container

    notifier = get_container().notifier
    if notifier is None:
        return
    report = await notifier.drain(DRAIN_BUDGET_S)
    if report.read:
        log.info(
            "notify: %d event(s), %d sent, %d duplicate, %d folded, %d summary, %d failed",
            report.read,
            report.sent,
            report.duplicates,
            report.folded,
            report.summaries,
            report.failed,
            extra={"past_due": timer.past_due},
        )


@bp.function_name("watchdog")
@bp.timer_trigger(arg_name="timer", schedule=_schedule("WATCHDOG_SCHEDULE"))
async def watchdog(timer: func.TimerRequest) -> None:
    """Publish the worker's health transitions (stale heartbeat, socket down, recovered)."""
    from shared.container import get_container

    report = await get_container().watchdog.run()
    if report.events:
        log.info("watchdog: %d transition(s)", len(report.events))
