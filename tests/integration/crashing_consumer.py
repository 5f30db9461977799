"""A consumer process that takes one message and dies holding its lock (no cleanup)."""

from __future__ import annotations

import asyncio
import os
import sys

import redis.asyncio as aioredis

from shared.adapters.local_queue import LocalQueue, new_receiver_token


async def _main(url: str, queue_name: str, lock_s: float) -> None:
    queue = LocalQueue(aioredis.Redis.from_url(url), queue_name, lock_duration_s=lock_s)
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


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
