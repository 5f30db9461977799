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
import time
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

# How many sessions an idle pump accepts at most in the turn of the send that wakes it.
_WAKE_ACCEPTS = 4

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
    """Pump one local queue into ``handler`` until told to stop.

    An idle pump sleeps in Redis until a send wakes it, or until a scheduled message is due
    or a waiting session's lock lapses (its own timer); ``idle_poll_s`` only caps that sleep,
    as a safety net for anything nothing announces.
    """

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
                    # Accept a session and take its first message in one round trip; with
                    # none to take, wait (holding the slot) for work to arrive.
                    first = await self._queue.accept_and_receive(token)
                    taken = [first] if first is not None else await self._wait_for_work(stop)
                except Exception:
                    self._slots.release()
                    log.exception(
                        "local queue %s: accepting a session failed", self._queue.queue_name
                    )
                    await sleep_or_stop(stop, 1.0)
                    continue
                if not taken:
                    self._slots.release()
                    continue
                for message in taken:  # one slot each: the one taken above, and the extras
                    task = asyncio.create_task(self._drain(message, message.lock_token))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            await self._drain_in_flight()

    async def _take_slot(self, stop: asyncio.Event) -> bool:
        """Wait for a free session slot; return False (holding none) once ``stop`` is set."""
        if stop.is_set():
            return False
        if not self._slots.locked():
            await self._slots.acquire()  # free: returns at once, no task or loop turn
            return True
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

    async def _wait_for_work(self, stop: asyncio.Event) -> list[ReceivedMessage]:
        """Sleep until a send or a release announces work (a wake token, popped in Redis),
        a scheduled message falls due or a waiting session's lock lapses, at most
        ``idle_poll_s``, or ``stop``; return the messages accepted on waking, if any.

        Called holding one session slot; each message returned holds one (the extra slots
        are taken here, and those not needed are given back here).
        """
        try:
            due_s = await self._queue.next_wake_s()
        except (RedisError, OSError) as exc:
            log.warning(
                "local queue %s: reading the next due time failed: %s", self._queue.queue_name, exc
            )
            await sleep_or_stop(stop, min(self._idle_poll_s, 1.0))
            return []
        if due_s == 0:
            return []  # a session became free since the accept: take it now
        if due_s is not None and due_s < self._idle_poll_s:
            await self._wait_until(stop, due_s)
            return []
        # Nothing due before the cap, so Redis's own timeout will do: block and accept in one
        # pipeline, which Redis runs in the turn of the send that wakes it; one accept per
        # free slot (a few at most), so an alert fanned out to several sessions is taken whole.
        extra = 0
        while extra < _WAKE_ACCEPTS - 1 and not self._slots.locked():
            await self._slots.acquire()  # free: returns at once
            extra += 1
        tokens = [new_receiver_token() for _ in range(1 + extra)]
        taken: list[ReceivedMessage] = []
        try:
            waiter = asyncio.create_task(self._queue.wait_and_accept(tokens, self._idle_poll_s))
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper
            if waiter.done():
                taken = waiter.result()  # a failed accept is the caller's to log
            else:
                # Only when stopping: a delivery the server made in this instant stays
                # locked until its lock lapses, then comes back with its count + 1.
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await waiter
        finally:
            # The caller's slot stays held when nothing was taken (it gives it back itself).
            for _ in range(1 + extra - max(len(taken), 1)):
                self._slots.release()
        return taken

    async def _wait_until(self, stop: asyncio.Event, due_s: float) -> None:
        """Wait for a wake token, ``due_s`` (kept by a timer here) or ``stop``."""
        # Redis ends a blocked command only on its clock tick (100 ms), so the due time is
        # kept here; the 1 ms covers the lock's or the due time's rounding. A BLPOP
        # cancelled here closes its connection; a token it may have taken with it is not
        # needed: the accept that follows finds the work anyway.
        waiter = asyncio.create_task(self._queue.wait_for_work(due_s + 1.0))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait(
            {waiter, stopper}, timeout=due_s + 0.001, return_when=asyncio.FIRST_COMPLETED
        )
        for task in (waiter, stopper):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _drain(self, first: ReceivedMessage, token: str) -> None:
        loop = asyncio.get_running_loop()
        session = first.session_id
        lock_s = self._queue.lock_duration_s
        accepted_at = loop.time()
        if first.locked_until is not None:
            # Reckon the lock from when the accept took it (it may have waited in Redis).
            age_s = time.time() - (first.locked_until.timestamp() - lock_s)
            accepted_at -= max(age_s, 0.0)
        lease = _Lease(session, token, lock_s, accepted_at)
        renewer = asyncio.create_task(self._keep_locked(lease))
        try:
            if not await self._deliver(first, lease):
                return
            for _ in range(self._per_turn - 1):
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
