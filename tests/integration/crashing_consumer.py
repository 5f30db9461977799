"""A consumer process for the crash tests: ``python -m tests.integration.crashing_consumer``.

Arguments: ``REDIS_URL QUEUE LOCK_S [MODE]``, where MODE is

- ``exit`` (default): take one message by hand and die holding its lock (``os._exit``: no
  complete, no abandon, no release, no renewal);
- ``hold``: run a real ``SessionProcessor`` (one session at a time) whose handler prints
  ``got <id> <delivery>`` and then never returns, so the process holds the session and keeps
  renewing its lock until the test SIGKILLs it;
- ``record``: run a ``SessionProcessor`` that appends ``<id>:<delivery>`` to the Redis list
  ``seen:<QUEUE>`` and completes each message, until SIGTERM.

``hold`` and ``record`` print ``ready`` once they are consuming.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import redis.asyncio as aioredis

from local.queue_processor import SessionProcessor
from shared.adapters.local_queue import LocalQueue, ReceivedMessage, new_receiver_token


async def _exit_holding_one(queue: LocalQueue) -> None:
    for _ in range(200):
        token = new_receiver_token()
        session = await queue.accept_session(token)
        if session is not None:
            message = await queue.receive(session, token)
            if message is not None:
                print(f"got {message.message_id} {message.delivery_count}", flush=True)
                os._exit(17)  # killed mid-message: no complete, no abandon, no release
        await asyncio.sleep(0.05)
    os._exit(3)


async def _hold(message: ReceivedMessage) -> None:
    print(f"got {message.message_id} {message.delivery_count}", flush=True)
    await asyncio.Event().wait()  # "works" until the process is killed


async def _consume(queue: LocalQueue, client: aioredis.Redis, mode: str) -> None:
    async def record(message: ReceivedMessage) -> None:
        await client.rpush(
            f"seen:{queue.queue_name}", f"{message.message_id}:{message.delivery_count}"
        )

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    # A holder takes one session and sits on it; a recorder works like a host.
    handler, sessions = (_hold, 1) if mode == "hold" else (record, 8)
    processor = SessionProcessor(queue, handler, max_concurrent_sessions=sessions, idle_poll_s=0.05)
    runner = asyncio.create_task(processor.run(stop))
    print("ready", flush=True)
    await runner


async def _main(url: str, queue_name: str, lock_s: float, mode: str) -> None:
    client = aioredis.Redis.from_url(url)
    queue = LocalQueue(client, queue_name, lock_duration_s=lock_s)
    if mode == "exit":
        await _exit_holding_one(queue)
    elif mode in {"hold", "record"}:
        await _consume(queue, client, mode)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    await queue.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(_main(args[0], args[1], float(args[2]), args[3] if len(args) > 3 else "exit"))
