"""Ops API dead letters of the signals queue, and the timer that reports new ones.

Reads (function level): ``GET /api/dlq`` (``limit``, ``order``, ``cursor``) and
``GET /api/dlq/{id}`` (a sequence number, or a MessageId). Changes (admin level: the master
key), each with a ``reason`` in the JSON body, journaled and published on ``risk.alert``:
``POST /api/dlq/{id}/replay``, ``POST /api/dlq/replay`` (every dead letter, up to ``limit``)
and ``DELETE /api/dlq/{id}`` (purge). The ``dlq_watch`` timer publishes one
``queue.dead_lettered`` event per dead letter, once. See ``docs/ops-api.md``.
"""

from __future__ import annotations

import logging
import os

import azure.functions as func

from functions.ops_common import Answer, actor, answer, query

bp = func.Blueprint()
log = logging.getLogger(__name__)
_NONE: frozenset[str] = frozenset()
_LIST = frozenset({"limit", "order", "cursor"})
# The default of shared.config.Settings.dlq_watch_schedule (tests/unit keep them equal).
WATCH_SCHEDULE_SETTING = "DLQ_WATCH_SCHEDULE"
WATCH_SCHEDULE_DEFAULT = "*/30 * * * * *"


def _schedule() -> str:
    # As functions/timers.py: a host started without the setting still indexes every function.
    os.environ.setdefault(WATCH_SCHEDULE_SETTING, WATCH_SCHEDULE_DEFAULT)
    return f"%{WATCH_SCHEDULE_SETTING}%"


def _id(req: func.HttpRequest) -> str:
    return str(req.route_params.get("id", ""))


@bp.route(route="dlq", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def dlq_list(req: func.HttpRequest) -> func.HttpResponse:
    """List dead letters (newest first by default); ``next`` is the following page's cursor."""

    async def call() -> Answer:
        from shared.container import get_container
        from shared.services.ops.dead_letters import read_list_query

        params = query(req, _LIST)
        return 200, await get_container().dead_letter_ops.page(read_list_query(params))

    return await answer("dlq", call)


@bp.route(route="dlq/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def dlq_show(req: func.HttpRequest) -> func.HttpResponse:
    """Show one dead letter whole: the envelope, properties, reason, times."""

    async def call() -> Answer:
        from shared.container import get_container

        query(req, _NONE)
        return 200, await get_container().dead_letter_ops.show(_id(req))

    return await answer("dlq/{id}", call)


@bp.route(route="dlq/{id}/replay", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
async def dlq_replay(req: func.HttpRequest) -> func.HttpResponse:
    """Send one dead letter back to the signals queue (same MessageId and session)."""

    async def call() -> Answer:
        from shared.container import get_container
        from shared.services.ops.dead_letters import read_change

        query(req, _NONE)
        change = read_change(req.get_body(), actor(req, "admin"))
        return 200, await get_container().dead_letter_ops.replay(_id(req), change)

    return await answer("dlq/{id}/replay", call)


@bp.route(route="dlq/replay", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
async def dlq_replay_all(req: func.HttpRequest) -> func.HttpResponse:
    """Send every dead letter back (up to ``limit``), oldest first."""

    async def call() -> Answer:
        from shared.container import get_container
        from shared.services.ops.dead_letters import read_change

        query(req, _NONE)
        change = read_change(req.get_body(), actor(req, "admin"), replay_all=True)
        return 200, await get_container().dead_letter_ops.replay_all(change)

    return await answer("dlq/replay", call)


@bp.route(route="dlq/{id}", methods=["DELETE"], auth_level=func.AuthLevel.ADMIN)
async def dlq_purge(req: func.HttpRequest) -> func.HttpResponse:
    """Delete one dead letter for good."""

    async def call() -> Answer:
        from shared.container import get_container
        from shared.services.ops.dead_letters import read_change

        query(req, _NONE)
        change = read_change(req.get_body(), actor(req, "admin"))
        return 200, await get_container().dead_letter_ops.purge(_id(req), change)

    return await answer("dlq/{id} (purge)", call)


@bp.function_name("dlq_watch")
@bp.timer_trigger(arg_name="timer", schedule=_schedule())
async def dlq_watch(timer: func.TimerRequest) -> None:
    """Publish one ``queue.dead_lettered`` event per dead letter not reported before.

    No retry policy: a failed run (Redis or Service Bus away) is simply the next run's work,
    30 seconds later, and the marks make sure nothing is reported twice.
    """
    from shared.container import get_container

    report = await get_container().dead_letter_watch.run()
    if report.reported:
        log.warning(
            "dead letters: %d new (%s) of %d",
            len(report.reported),
            ", ".join(str(n) for n in report.reported),
            report.seen,
            extra={"past_due": timer.past_due},
        )
