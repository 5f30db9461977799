"""Deliver local-queue messages to a handler the way the Service Bus session trigger does.

Up to ``max_concurrent_sessions`` sessions are processed in parallel; within a session one
message at a time, in order (``maxConcurrentCallsPerSession`` = 1). A handler that returns
completes the message; one that raises abandons it, so it is redelivered with a higher
delivery count until the queue dead-letters it.

Lock renewal follows the Functions host, whose Service Bus extension runs the SDK's session
processor: the session lock is renewed from the moment the session is accepted, for at most
``max_lock_renewal_s`` (host.json ``maxAutoLockRenewalDuration``), so a handler may run for
longer than the lock (github.com/Azure/azure-sdk-for-net, sdk/servicebus/Azure.Messaging.
ServiceBus/src/Processor/SessionReceiverManager.cs ``RenewSessionLock``). We renew every
third of the lock, a little sooner than the SDK, which renews min(half the remaining time,
10 s) before expiry (``ReceiverManager.CalculateRenewDelay``), so a renewal that fails
(Redis busy or restarting) is tried again before the lock lapses. If renewal fails for good,
or the lock lapses or is taken over, the message is not settled at all: it stays in the
queue, and once the lock has lapsed it is delivered again with a higher delivery count,
which is what Service Bus does when ``Complete`` meets ``SessionLockLost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

from shared.adapters.local_queue import (
    LocalQueue,
    ReceivedMessage,
    SessionLockLost,
    new_receiver_token,
)

log = logging.getLogger(__name__)

Handler = Callable[[ReceivedMessage], Awaitable[None]]

# host.json maxAutoLockRenewalDuration's default (ServiceBusOptions.cs), and ours.
DEFAULT_MAX_LOCK_RENEWAL_S = 300.0


class _Lease:
    """One accepted session: who holds it, until when, and whether the hold is over."""

    def __init__(self, session: str, token: str, lock_s: float, now: float) -> None:
        self.session = session
        self.token = token
        self.lock_s = lock_s
        self.accepted_at = now
        self.expires_at = now + lock_s  # loop time; Redis keeps the authoritative expiry
        self.lost: str | None = None  # why the lock is gone, once it is
        self.renewing = True  # False once max_lock_renewal_s has passed since acceptance

    def extend(self, from_time: float) -> None:
        """Record a renewal (or a receive, which renews too) sent at ``from_time``."""
        self.expires_at = max(self.expires_at, from_time + self.lock_s)

    def usable(self, now: float) -> bool:
        """Tell whether the lock is still ours by our own reckoning."""
        return self.lost is None and now < self.expires_at


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
        max_lock_renewal_s: float = DEFAULT_MAX_LOCK_RENEWAL_S,
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
            while await self._take_slot(stop):
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

    async def _take_slot(self, stop: asyncio.Event) -> bool:
        """Wait for a free session slot; return False (holding none) once ``stop`` is set."""
        # Waiting on the semaphore alone would not notice ``stop`` while every slot is busy,
        # and shutdown would then wait for the slowest handler instead of the grace period.
        acquire = asyncio.ensure_future(self._slots.acquire())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({acquire, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (acquire, stopper):
                task.cancel()
            await asyncio.wait({acquire, stopper})
        got = not acquire.cancelled()
        if got and stop.is_set():
            self._slots.release()
            return False
        return got

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
        loop = asyncio.get_running_loop()
        lease = _Lease(session, token, self._queue.lock_duration_s, loop.time())
        renewer = asyncio.create_task(self._keep_locked(lease))
        try:
            for _ in range(self._per_turn):
                # Once renewal has stopped, take no new message: release the session so it is
                # accepted again (with a fresh renewal budget) instead of letting it lapse.
                if not lease.renewing or lease.lost is not None:
                    break
                sent_at = loop.time()
                message = await self._queue.receive(session, token)
                if message is None:
                    break
                lease.extend(sent_at)  # RECEIVE resets the session lock
                if not await self._deliver(message, lease):
                    break
        except SessionLockLost as exc:
            log.warning("local queue %s: %s", self._queue.queue_name, exc)
        except Exception:
            log.exception("local queue %s: session %s failed", self._queue.queue_name, session)
        finally:
            renewer.cancel()
            try:
                await asyncio.wait([renewer])  # not `await renewer`: that re-raises its cancel
                with contextlib.suppress(Exception):
                    await self._queue.release_session(session, token)
            finally:
                self._slots.release()

    async def _deliver(self, message: ReceivedMessage, lease: _Lease) -> bool:
        """Run the handler and settle; return False if the lock was lost (nothing settled)."""
        failure: Exception | None = None
        try:
            await self._handler(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = exc
        if not lease.usable(asyncio.get_running_loop().time()):
            # Settling now could only fail, or worse, act on a lock someone else holds by
            # then: leave the message; it comes back once the lock has lapsed.
            log.warning(
                "message %s (session %s, delivery %d) not settled: %s; it will be redelivered",
                message.message_id,
                message.session_id,
                message.delivery_count,
                lease.lost or "the session lock lapsed",
            )
            return False
        if failure is None:
            await self._queue.complete(message)
            return True
        description = f"{type(failure).__name__}: {failure}"
        dead = await self._queue.abandon(message, description)
        log.warning(
            "message %s (session %s) failed on delivery %d: %s%s",
            message.message_id,
            message.session_id,
            message.delivery_count,
            description,
            "; dead-lettered" if dead else "; will be redelivered",
        )
        return True

    async def _keep_locked(self, lease: _Lease) -> None:
        loop = asyncio.get_running_loop()
        interval = max(lease.lock_s / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            if now - lease.accepted_at >= self._max_renewal_s:
                lease.renewing = False  # like the SDK: from here the lock simply runs out
                return
            try:
                await self._queue.renew_session_lock(lease.session, lease.token)
            except SessionLockLost as exc:
                lease.lost = str(exc)
                return
            except (RedisError, OSError) as exc:
                if loop.time() >= lease.expires_at:
                    lease.lost = f"could not renew the session lock in time ({exc})"
                    return
                log.warning(
                    "local queue %s: renewing session %s failed, retrying: %s",
                    self._queue.queue_name,
                    lease.session,
                    exc,
                )
                continue
            lease.extend(now)


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
