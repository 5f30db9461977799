"""Fire timer-triggered functions on their NCRONTAB schedules, with their retry policy."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.functions.timer import TimerRequest
from croniter import croniter

from local.devhost.invoke import invoke
from local.devhost.loader import FunctionSpec
from local.queue_processor import sleep_or_stop

log = logging.getLogger(__name__)


def _interval_s(value: Any) -> float:
    """Parse a retry interval ("00:00:05" or seconds) into seconds."""
    if isinstance(value, int | float):
        return float(value)
    hours, minutes, seconds = str(value).split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def retry_delays(policy: dict[str, Any] | None) -> list[float]:
    """Return the waits between attempts that a timer retry policy asks for."""
    if not policy:
        return []
    count = int(policy.get("max_retry_count", 0))
    if policy.get("strategy") == "fixed_delay":
        return [_interval_s(policy.get("delay_interval", 0))] * count
    low = _interval_s(policy.get("minimum_interval", 1))
    high = _interval_s(policy.get("maximum_interval", 60))
    return [min(low * 2**n, high) for n in range(count)]


def next_fire(schedule: str, after: datetime) -> datetime:
    """Return the first NCRONTAB occurrence strictly after ``after`` (seconds field first)."""
    fire: datetime = croniter(schedule, after, second_at_beginning=True).get_next(datetime)
    return fire


class TimerRunner:
    """Own one timer function's schedule loop; never overlaps itself."""

    def __init__(self, spec: FunctionSpec, schedule: str) -> None:
        next_fire(schedule, datetime.now(UTC))  # reject a bad schedule at start
        self.spec = spec
        self.schedule = schedule
        self.runs = 0
        self.failures = 0
        self._running = asyncio.Lock()
        self._fired: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Fire on schedule until ``stop`` is set."""
        if self.spec.trigger.get("runOnStartup"):
            await self.fire(past_due=False)
        while not stop.is_set():
            due = next_fire(self.schedule, datetime.now(UTC))
            wait_s = (due - datetime.now(UTC)).total_seconds()
            await sleep_or_stop(stop, max(wait_s, 0))
            if stop.is_set():
                return
            late = datetime.now(UTC) - due > timedelta(seconds=1)
            task = asyncio.create_task(self.fire(past_due=late))
            self._fired.add(task)
            task.add_done_callback(self._fired.discard)
        if self._fired:
            await asyncio.gather(*self._fired, return_exceptions=True)

    async def fire(self, *, past_due: bool) -> None:
        """Run the function once, retrying per its policy; skip if a run is in progress."""
        if self._running.locked():
            log.warning("timer %s is still running; skipping this occurrence", self.spec.name)
            return
        async with self._running:
            request = TimerRequest(past_due=past_due)
            delays = retry_delays(self.spec.retry_policy)
            for attempt in range(len(delays) + 1):
                try:
                    await invoke(self.spec, request)
                    self.runs += 1
                    return
                except Exception:
                    log.exception("timer %s failed (attempt %d)", self.spec.name, attempt + 1)
                    if attempt < len(delays):
                        await asyncio.sleep(delays[attempt])
            self.failures += 1
