"""Deliver local-queue messages to a handler the way the Service Bus session trigger does.

Up to ``max_concurrent_sessions`` sessions are processed in parallel; within a session one
message at a time, in order (``maxConcurrentCallsPerSession`` = 1). A handler that returns
completes the message; one that raises abandons it, so it is redelivered with a higher
delivery count until the queue dead-letters it. The session lock is renewed while the
handler runs, up to ``max_lock_renewal_s`` (host.json ``maxAutoLockRenewalDuration``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from shared.adapters.local_queue import (
    LocalQueue,
    ReceivedMessage,
    SessionLockLost,
    new_receiver_token,
)

log = logging.getLogger(__name__)

Handler = Callable[[ReceivedMessage], Awaitable[None]]


class SessionProcessor:
    """Pump one local queue into ``handler`` until told to stop."""

    def __init__(
        self,
        queue: LocalQueue,
        handler: Handler,
        *,
        max_concurrent_sessions: int = 8,
        max_messages_per_turn: int = 64,
        idle_poll_s: float = 0.25,
        max_lock_renewal_s: float = 300.0,
        shutdown_grace_s: float = 5.0,
    ) -> None:
        self._queue = queue
        self._handler = handler
        self._slots = asyncio.Semaphore(max_concurrent_sessions)
        self._per_turn = max_messages_per_turn
        self._idle_poll_s = idle_poll_s
        self._max_renewal_s = max_lock_renewal_s
        self._shutdown_grace_s = shutdown_grace_s
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Accept sessions and process them until ``stop`` is set, then drain in-flight work."""
        try:
            while not stop.is_set():
                await self._slots.acquire()
                token = new_receiver_token()
                try:
                    session = await self._queue.accept_session(token)
                except Exception:
                    self._slots.release()
                    log.exception(
                        "local queue %s: accepting a session failed", self._queue.queue_name
                    )
                    await sleep_or_stop(stop, 1.0)
                    continue
                if session is None:
                    self._slots.release()
                    await self._wait_for_work(stop)
                    continue
                task = asyncio.create_task(self._drain(session, token))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            await self._drain_in_flight()

    async def _drain_in_flight(self) -> None:
        # Like the Functions host: in-flight work gets a grace period, then is cancelled; a
        # cancelled message keeps its lock until it lapses and is then delivered again.
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=self._shutdown_grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _wait_for_work(self, stop: asyncio.Event) -> None:
        waiter = asyncio.create_task(self._queue.wait_for_work(self._idle_poll_s))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, stopper):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _drain(self, session: str, token: str) -> None:
        try:
            for _ in range(self._per_turn):
                message = await self._queue.receive(session, token)
                if message is None:
                    break
                await self._deliver(message)
        except SessionLockLost as exc:
            log.warning("local queue %s: %s", self._queue.queue_name, exc)
        except Exception:
            log.exception("local queue %s: session %s failed", self._queue.queue_name, session)
        finally:
            with contextlib.suppress(Exception):
                await self._queue.release_session(session, token)
            self._slots.release()

    async def _deliver(self, message: ReceivedMessage) -> None:
        renewer = asyncio.create_task(self._renew(message.session_id, message.lock_token))
        try:
            await self._handler(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            renewer.cancel()
            description = f"{type(exc).__name__}: {exc}"
            dead = await self._queue.abandon(message, description)
            log.warning(
                "message %s (session %s) failed on delivery %d: %s%s",
                message.message_id,
                message.session_id,
                message.delivery_count,
                description,
                "; dead-lettered" if dead else "; will be redelivered",
            )
            return
        finally:
            renewer.cancel()
        await self._queue.complete(message)

    async def _renew(self, session: str, token: str) -> None:
        interval = max(self._queue.lock_duration_s / 3, 0.05)
        waited = 0.0
        while waited < self._max_renewal_s:
            await asyncio.sleep(interval)
            waited += interval
            try:
                await self._queue.renew_session_lock(session, token)
            except SessionLockLost:
                return


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
