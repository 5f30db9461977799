"""In-memory implementations of the ports, for unit tests of the use cases."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from shared.domain.errors import ConfigError, DependencyUnavailable
from shared.ports import Admission, AlertRecord, OutboundMessage


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

    async def admit(
        self,
        strategy_id: str,
        limit_per_min: int,
        dedupe_key: str | None,
        signal_id: str,
        ttl_s: int,
    ) -> Admission:
        if self.unavailable:
            raise DependencyUnavailable("redis down")
        window = f"{strategy_id}:{int(self.now // 60)}"
        self.counts[window] = self.counts.get(window, 0) + 1
        if self.counts[window] > limit_per_min:
            return Admission(retry_after_s=int(60 - self.now % 60) or 1)
        if dedupe_key is None:
            return Admission()
        key = f"{strategy_id}:{dedupe_key}"
        held = self.claims.get(key)
        if held is not None and held[1] > self.now:
            return Admission(duplicate_of=held[0])
        self.claims[key] = (signal_id, self.now + ttl_s)
        return Admission()

    async def release(self, strategy_id: str, dedupe_key: str, signal_id: str) -> None:
        key = f"{strategy_id}:{dedupe_key}"
        if self.claims.get(key, ("", 0.0))[0] == signal_id:
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
