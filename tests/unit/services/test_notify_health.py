"""The health routes' notifications part: shown for configured channels, degrading only."""

from __future__ import annotations

import dataclasses
import json

from shared import redis_keys as keys
from shared.domain.clock import ManualClock
from shared.domain.errors import DependencyUnavailable
from shared.services.ops.health import Health
from tests.unit.services.ops.fakes import NOW, book
from tests.unit.services.ops.test_health import SETTINGS, Probe, healthy_store

WITH_CHANNELS = dataclasses.replace(SETTINGS, notify_channels=("webhook", "email"))
FAILED = {
    "sent": 3,
    "failed": 1,
    "last_success_at": "2026-11-20T14:00:00+00:00",
    "last_failure_at": "2026-11-20T14:05:00+00:00",
    "last_error": "webhook answered HTTP 404: Unknown Webhook",
}


def health(store: object) -> Health:
    return Health(book(), store, Probe(), Probe(), ManualClock(NOW), WITH_CHANNELS)  # type: ignore[arg-type]


async def test_ready_with_a_failing_channel_is_degraded_not_unready() -> None:
    store = healthy_store()
    store.strings[keys.notify_status("webhook")] = json.dumps(FAILED)
    ok, report = await health(store).ready()
    assert ok is True
    assert report["status"] == "degraded"
    part = report["checks"]["notifications"]
    assert part["status"] == "degraded"
    assert part["channels"]["webhook"]["last_error"] == FAILED["last_error"]
    assert part["channels"]["email"] == {
        "status": "ok",
        "detail": "nothing sent yet",
        "sent": None,
        "failed": None,
        "last_success_at": None,
        "last_failure_at": None,
        "last_error": None,
    }
    # The contract maps are still read from their own keys.
    assert report["checks"]["contracts"]["status"] == "ok"


async def test_detailed_with_delivering_channels_is_ready() -> None:
    store = healthy_store()
    delivered = {**FAILED, "last_success_at": "2026-11-20T14:06:00+00:00"}
    store.strings[keys.notify_status("webhook")] = json.dumps(delivered)
    ok, report = await health(store).detailed()
    assert ok is True
    assert report["status"] == "ready"
    assert report["checks"]["notifications"]["detail"] == "every channel delivers"


async def test_ready_with_redis_down_marks_the_channels_unknown() -> None:
    store = healthy_store()
    store.fail = DependencyUnavailable("down")
    _, report = await health(store).ready()
    assert report["checks"]["notifications"]["status"] == "unknown"
