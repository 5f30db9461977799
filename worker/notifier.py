"""Run the notifier inside the worker: block on the feed and notify within about a second.

One task on the worker's event loop, apart from the trading tasks: it waits on the feed
(``XREADGROUP ... BLOCK``) and hands each event to the notifier (``shared.services.notify``),
which retries a failing channel a bounded number of times and records the failure. Nothing
the trading path does waits on it; a Redis failure pauses it for ``pause_s`` and it reads
again, leaving unacknowledged entries to be taken over later (by itself or the timer).

``stop`` asks the loop to end after its current step (each waits at most ``block_ms`` on the
feed) rather than cancelling it in the middle of a Redis command, which can leave the client's
connection pool waiting; only a loop that does not end in ``stop_timeout_s`` is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from shared.domain.errors import DependencyUnavailable
from shared.services.notify.notifier import Notifier

logger = logging.getLogger(__name__)


class NotifierLoop:
    """Own the worker's notifier task."""

    def __init__(
        self,
        notifier: Notifier,
        *,
        block_ms: int = 1000,
        pause_s: float = 2.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self.notifier = notifier
        self._block_ms = block_ms
        self._pause_s = pause_s
        self._stop_timeout_s = stop_timeout_s
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the task (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="worker-notifier")

    async def _run(self) -> None:
        logger.info("notifier started", extra={"channels": list(self.notifier.channels)})
        while not self._stopping.is_set():
            try:
                await self.notifier.step(self._block_ms)
            except DependencyUnavailable as exc:
                logger.warning("notifier paused: %s", exc.message)
                await self._pause()
            except Exception:
                # A bug must not end notifications for good, nor spin: log it, pause, go on.
                logger.exception("notifier step failed")
                await self._pause()

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self._pause_s)

    async def stop(self) -> None:
        """End the task after its current step, then close the channels' clients."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=self._stop_timeout_s)
            if not done:
                logger.warning("notifier did not stop in time; cancelling it")
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
        await self.notifier.aclose()
