"""Judge the notification channels for ``/api/health`` from their records in Redis (pure).

Each channel's record (``{notify}:status:CHANNEL``) holds ``sent``, ``failed``,
``last_success_at``, ``last_failure_at`` and ``last_error`` (sanitised when written). A channel
whose last attempt failed is ``degraded``; notifications are never required, so this part
can degrade the health answer but never make it ``not_ready``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

_FIELDS = ("sent", "failed", "last_success_at", "last_failure_at", "last_error")


def channel_check(raw: str | None) -> dict[str, Any]:
    """Judge one channel from its record (None: nothing sent yet)."""
    try:
        doc = json.loads(raw) if raw else {}
    except ValueError:
        doc = {}
    view = {name: doc.get(name) for name in _FIELDS} if isinstance(doc, dict) else {}
    success, failure = view.get("last_success_at"), view.get("last_failure_at")
    if failure and (not success or str(failure) > str(success)):
        return {"status": "degraded", "detail": "the last delivery failed", **view}
    detail = "the last delivery succeeded" if success else "nothing sent yet"
    return {"status": "ok", "detail": detail, **view}


def notifications_check(channels: Sequence[str], raws: Sequence[str | None]) -> dict[str, Any]:
    """Judge every configured channel; none configured is ``ok`` (notifications are optional)."""
    if not channels:
        return {"status": "ok", "detail": "no channel configured", "channels": {}}
    views = {name: channel_check(raw) for name, raw in zip(channels, raws, strict=True)}
    failing = sorted(name for name, view in views.items() if view["status"] != "ok")
    return {
        "status": "degraded" if failing else "ok",
        "detail": f"failing: {', '.join(failing)}" if failing else "every channel delivers",
        "channels": views,
    }
