"""The composition root closes what it built, and only that."""

from __future__ import annotations

from shared.container import Container


class Closable:
    def __init__(self, calls: list[str], name: str, *, fails: bool = False) -> None:
        self.calls, self.name, self.fails = calls, name, fails

    async def close(self) -> None:
        self.calls.append(self.name)
        if self.fails:
            raise OSError("the link broke")

    async def aclose(self) -> None:
        await self.close()


async def test_aclose_closes_each_built_client_once_and_redis_last_even_after_a_failure() -> None:
    calls: list[str] = []
    container = Container()
    # What earlier invocations built (cached_property keeps it in the instance's dict).
    container.__dict__.update(
        alert_journal=Closable(calls, "journal", fails=True),
        ledger_archive=Closable(calls, "ledger"),
        tradovate=Closable(calls, "tradovate"),
        redis=Closable(calls, "redis"),
    )
    await container.aclose()
    assert calls == ["journal", "ledger", "tradovate", "redis"]


async def test_aclose_with_nothing_built_builds_nothing() -> None:
    container = Container()
    await container.aclose()
    assert "redis" not in container.__dict__
    assert "settings" not in container.__dict__  # not even the settings were read
