"""In-memory implementations of the ports, for unit tests of the use cases."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from shared.domain.errors import ConfigError, DependencyUnavailable
from shared.ports import AlertRecord, OutboundMessage


class FakeQueue:
    def __init__(self) -> None:
        self.batches: list[list[OutboundMessage]] = []
        self.fail_next: Exception | None = None

    async def send(self, messages: Sequence[OutboundMessage]) -> None:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        self.batches.append(list(messages))

    async def close(self) -> None:
        return None

    @property
    def messages(self) -> list[OutboundMessage]:
        return [m for batch in self.batches for m in batch]


class FakeGate:
    def __init__(self) -> None:
        self.now = 0.0
        self.counts: dict[str, int] = {}
        self.claims: dict[str, tuple[str, float]] = {}
        self.unavailable = False

    async def hit(self, strategy_id: str, limit_per_min: int) -> int | None:
        if self.unavailable:
            raise DependencyUnavailable("redis down")
        key = f"{strategy_id}:{int(self.now // 60)}"
        self.counts[key] = self.counts.get(key, 0) + 1
        return None if self.counts[key] <= limit_per_min else int(60 - self.now % 60) or 1

    async def claim(self, key: str, value: str, ttl_s: int) -> str | None:
        held = self.claims.get(key)
        if held is not None and held[1] > self.now:
            return held[0]
        self.claims[key] = (value, self.now + ttl_s)
        return None

    async def release(self, key: str, value: str) -> None:
        if self.claims.get(key, ("", 0))[0] == value:
            del self.claims[key]


class FakeJournal:
    def __init__(self) -> None:
        self.records: list[AlertRecord] = []
        self.delay_s = 0.0
        self.fail = False

    async def record_alert(self, record: AlertRecord) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise DependencyUnavailable("tables down")
        self.records.append(record)

    async def get_alert(self, strategy_id: str, signal_id: str) -> AlertRecord | None:
        for record in self.records:
            if (record.strategy_id, record.signal_id) == (strategy_id, signal_id):
                return record
        return None


class FakeSecrets:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    async def get_secret(self, key_vault_name: str, env_name: str) -> str:
        if env_name not in self.values:
            raise ConfigError(f"secret {env_name} is not set", code="missing_secret")
        return self.values[env_name]
