"""The pipeline batcher across event loops: a batch its loop never sent is not joined.

A pure unit test with a stand-in pipeline (each command's reply is the command itself): the
batcher's use of a real redis-server is tested in ``tests/adapters/test_redis_batch.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from shared.adapters.redis_batch import PipelineBatcher


class _Pipe:
    def __init__(self, client: _Client) -> None:
        self._client = client
        self.command_stack: list[Any] = []
        self.is_transaction = False
        self.scripts: set[Any] = set()

    def __len__(self) -> int:
        return len(self.command_stack)

    def add(self, command: str) -> _Pipe:
        self.command_stack.append(command)
        return self

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        self._client.sends.append(list(self.command_stack))
        replies, self.command_stack = self.command_stack, []
        return replies


class _Client:
    def __init__(self) -> None:
        self.sends: list[list[Any]] = []

    def pipeline(self, transaction: bool = False) -> _Pipe:
        return _Pipe(self)


def test_a_batch_left_unsent_by_a_loop_that_ended_is_not_joined_by_the_next_loop() -> None:
    client = _Client()
    batcher = PipelineBatcher(client)  # type: ignore[arg-type]
    first = asyncio.new_event_loop()
    try:
        caller = first.create_task(batcher.execute(client.pipeline().add("lost")))
        first.call_soon(first.stop)
        first.run_forever()  # one turn: the caller joined a batch; its send never ran
        pending = asyncio.all_tasks(first)
        for task in pending:
            task.cancel()
        first.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    finally:
        first.close()
    assert caller.cancelled()
    assert client.sends == []

    async def later() -> list[Any]:
        return await asyncio.wait_for(batcher.execute(client.pipeline().add("kept")), 2)

    assert asyncio.run(later()) == ["kept"]
    assert client.sends == [["kept"]]


def test_pipelines_joined_in_one_turn_are_sent_once_and_split_back() -> None:
    client = _Client()
    batcher = PipelineBatcher(client)  # type: ignore[arg-type]

    async def both() -> list[list[Any]]:
        return await asyncio.gather(
            batcher.execute(client.pipeline().add("a1").add("a2")),
            batcher.execute(client.pipeline().add("b1")),
        )

    assert asyncio.run(both()) == [["a1", "a2"], ["b1"]]
    assert client.sends == [["a1", "a2", "b1"]]
