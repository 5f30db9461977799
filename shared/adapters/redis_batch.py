"""Send the pipelines a process starts in one event-loop turn as one pipeline.

An executor instance runs up to ``maxConcurrentSessions`` deliveries on one event loop, and
an alert fanned out to several accounts starts its deliveries together. Each delivery makes
the same few round trips (read the plan's facts, claim, record the fills), so deliveries
that are ready in the same loop turn reach the same step together. Sending each of their
pipelines alone costs the client a connection checkout, an encode, a send, a wake-up and a
parse per pipeline, on the one core the whole instance runs on; sent together, they cost
that once (``docs/performance.md``).

``PipelineBatcher.execute(pipe)`` takes a caller's non-transactional pipeline (built with
``client.pipeline(transaction=False)``), joins it to the batch of the current loop turn, and
returns that caller's replies, as ``pipe.execute(raise_on_error=False)`` would: a command's
error is its reply, in place. The batch is sent from a task of its own, in the loop turn
after the first pipeline joined it, so a caller's commands never wait longer than one turn.

What callers keep, and why it is safe:

- **Order.** A caller's commands go out in the order it queued them, one after the other in
  the combined pipeline. Nothing was atomic before (no ``MULTI``): another client's
  commands could always run between two of them, so another caller's can too.
- **Errors.** A command's error goes back to the caller that queued it, in its place. A
  failure of the whole send (connection refused, timeout after the client's own retries)
  is raised in every caller of that batch, as each of their own sends would have raised it.
- **Cancellation.** A caller cancelled while waiting stops waiting; the batch is sent for
  the others (its commands too: they were already on their way, as with a plain pipeline
  cancelled after its send). A batch whose event loop stopped before sending it (a
  shutdown) is left behind: a caller on another loop opens a batch of its own.

A transactional pipeline, or one that runs registered ``Script`` objects (redis-py loads
those first), is executed on its own, unchanged.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis


@dataclass
class _Batch:
    loop: asyncio.AbstractEventLoop
    pipes: list[Any] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)  # commands per pipeline, as joined
    waiters: list[asyncio.Future[list[Any]]] = field(default_factory=list)


class PipelineBatcher:
    """Join the pipelines started in one loop turn into one round trip (module docstring)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._open: _Batch | None = None
        self._sending: set[asyncio.Task[None]] = set()

    async def execute(self, pipe: Any) -> list[Any]:
        """Return ``pipe``'s replies (errors in place), sent with this turn's other pipelines."""
        if pipe.is_transaction or pipe.scripts:
            return list(await pipe.execute(raise_on_error=False))
        if len(pipe) == 0:
            return []
        loop = asyncio.get_running_loop()
        batch = self._open
        # A batch whose loop ended before it was sent (a shutdown) is left behind, not joined.
        if batch is None or batch.loop is not loop:
            batch = self._open = _Batch(loop)
            task = loop.create_task(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        waiter: asyncio.Future[list[Any]] = loop.create_future()
        batch.pipes.append(pipe)
        batch.sizes.append(len(pipe))
        batch.waiters.append(waiter)
        return await waiter

    async def _send(self, batch: _Batch) -> None:
        # Runs in the loop turn after the batch opened: every pipeline that joined it in
        # that turn is in; later ones open the next batch.
        if self._open is batch:
            self._open = None
        try:
            replies = await self._replies(batch.pipes)
        except asyncio.CancelledError:  # the loop is closing: so is every caller's wait
            for waiter in batch.waiters:
                waiter.cancel()
            raise
        except Exception as exc:  # every caller's send failed with it
            for waiter in batch.waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        start = 0
        for size, waiter in zip(batch.sizes, batch.waiters, strict=True):
            if not waiter.done():
                waiter.set_result(replies[start : start + size])
            start += size

    async def _replies(self, pipes: list[Any]) -> list[Any]:
        """Send the pipelines' commands in one pipeline and return every reply in order."""
        if len(pipes) == 1:
            return list(await pipes[0].execute(raise_on_error=False))
        combined = self._client.pipeline(transaction=False)
        for pipe in pipes:
            combined.command_stack.extend(pipe.command_stack)
        return list(await combined.execute(raise_on_error=False))
