"""In-memory stand-ins for the worker's Redis and Table storage, for unit tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shared.domain.errors import DependencyUnavailable
from shared.ports import LedgerEntry


class FakePipeline:
    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.ops: list[tuple[str, Any]] = []

    async def __aenter__(self) -> FakePipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def zadd(self, key: str, mapping: Mapping[str, float]) -> None:
        self.ops.append(("zadd", (key, mapping)))

    def zremrangebyscore(self, key: str, low: object, high: object) -> None:
        self.ops.append(("zrem", key))

    async def execute(self) -> list[Any]:
        if self.redis.down:
            raise ConnectionError("redis down")
        for op, args in self.ops:
            if op == "zadd":
                key, mapping = args
                self.redis.sets.setdefault(key, {}).update(mapping)
        return []


class FakeRedis:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.sets: dict[str, dict[str, float]] = {}
        self.mgets: list[list[str]] = []
        self.down = False

    async def get(self, key: str) -> str | None:
        if self.down:
            raise ConnectionError("redis down")
        return self.values.get(key)

    async def mget(self, keys: list[str]) -> list[str | None]:
        if self.down:
            raise ConnectionError("redis down")
        self.mgets.append(list(keys))
        return [self.values.get(key) for key in keys]

    async def zmscore(self, key: str, members: list[str]) -> list[float | None]:
        if self.down:
            raise ConnectionError("redis down")
        return [self.sets.get(key, {}).get(m) for m in members]

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline(self)


class FakeHistory:
    """Keeps each table's rows, and each transaction's rows, as written."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {"fills": [], "executions": []}
        self.transactions: list[list[dict[str, Any]]] = []
        self.down_partitions: set[str] = set()
        self.down = False

    async def upsert_partition(self, role: str, entities: Sequence[dict[str, Any]]) -> None:
        partition = {e["PartitionKey"] for e in entities}
        assert len(partition) == 1, "one partition per transaction"
        if self.down or partition & self.down_partitions:
            raise DependencyUnavailable("tables down")
        self.transactions.append(list(entities))
        self.rows[role].extend(entities)


class FakeLedgerWrites:
    """Stands in for the Redis ledger the recorder merges legs' ends into."""

    def __init__(self) -> None:
        self.entries: list[LedgerEntry] = []
        self.down = False
        self.down_signals: set[str] = set()
        self.merges = 0

    async def update_all(self, entries: Sequence[LedgerEntry]) -> None:
        if self.down or {e.signal_id for e in entries} & self.down_signals:
            raise DependencyUnavailable("redis down")
        self.merges += 1
        assert len({e.signal_id for e in entries}) <= 1, "one signal per merge"
        self.entries.extend(entries)


class FakeStore:
    """Stands in for ``LiveStore``: keeps documents, quotes and events in lists."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.quotes: dict[int, Mapping[str, Any]] = {}
        self.events: list[tuple[str, Mapping[str, Any]]] = []
        self.down = False

    async def write_documents(
        self,
        documents: Mapping[str, dict[str, Any]],
        events: Iterable[tuple[str, Mapping[str, Any]]] = (),
    ) -> None:
        if self.down:
            raise DependencyUnavailable("redis down")
        self.documents.update(documents)
        self.events.extend(events)

    async def set_quotes(
        self,
        documents: Mapping[int, Mapping[str, Any]],
        events: Iterable[tuple[str, Mapping[str, Any]]] = (),
    ) -> None:
        self.quotes.update(documents)
        self.events.extend(events)

    async def publish(self, events: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        self.events.extend(events)
