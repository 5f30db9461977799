"""The plan's facts in one read, beside the contract's resolution when the symbol is known.

A store that reads every fact in one round trip (``FactsStore``) is asked once per plan. When
the symbol resolved before in this process, that read goes out beside the resolution under
the contract it resolved to then, and is used only if the symbol still resolves to it (a
roll makes the executor read again under the new contract). The ``trade.signal`` event that
would have travelled with the read then goes out with the claim, or before a denial.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.domain.broker import Contract, ContractSpec, Product
from shared.ports import Events
from shared.services.execute import Executor
from shared.services.live_state import LiveState, LiveView
from tests.fakes import FakeBroker, FakeStore
from tests.unit.services.test_execute import BUY
from tests.unit.services.test_execute import World as ExecuteWorld

EXIT = {"intent": "exit", "symbol": "MNQ1!"}


class NoCache:
    """A worker cache that is not live: every view is None (the plan reads REST)."""

    async def mget(self, names: list[str]) -> list[Any]:
        return [None] * len(names)


class FactsStore(FakeStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[int, str, int]] = []  # contract id, root, events sent with it

    async def plan_facts(
        self,
        account_id: int,
        contract_id: int,
        strategy_id: str,
        account_name: str,
        root: str,
        *,
        events: Events = (),
    ) -> tuple[LiveView | None, tuple[bool, bool, bool, datetime | None], str | None]:
        self.reads.append((contract_id, root, len(events)))
        self.events.extend((e, dict(p)) for e, p in events)
        return None, (*self.kills, None), self.expectations.get((account_id, contract_id))


class Rolling:
    """Resolve MNQ to ``front``, which a test moves to the next contract."""

    def __init__(self) -> None:
        self.front = 777

    async def resolve(self, symbol: Any) -> ContractSpec:
        return ContractSpec(
            contract=Contract(id=self.front, name=f"MNQ{self.front}"),
            product=Product(
                id=7, name="MNQ", tick_size=Decimal("0.25"), value_per_point=Decimal(2)
            ),
        )


class World(ExecuteWorld):
    def __init__(self) -> None:
        super().__init__(broker=FakeBroker())
        self.store = FactsStore()
        self.contracts = Rolling()
        self.executor = Executor(
            replace(
                self.executor._deps,
                store=self.store,
                contracts=self.contracts,
                live=LiveState(NoCache()),
            )
        )


async def test_first_signal_of_a_symbol_reads_facts_once_after_resolving_with_the_event() -> None:
    world = World()
    outcome = await world.run(BUY, "a" * 32)
    assert outcome.status == "done"
    assert world.store.reads == [(777, "MNQ", 1)]
    assert [e for e, _ in world.store.events] == ["trade.signal", "order.request", "order.placed"]


async def test_known_symbol_reads_facts_beside_resolution_and_sends_the_event_with_claim() -> None:
    world = World()
    await world.run(BUY, "a" * 32)
    world.store.events.clear()
    outcome = await world.run(EXIT, "b" * 32)
    assert outcome.status == "done"
    assert world.store.reads[1:] == [(777, "MNQ", 0)]  # one read, no event with it
    assert [e for e, _ in world.store.events] == ["trade.signal", "order.request", "order.placed"]
    assert world.store.events[0][1]["signal_id"] == "b" * 32


async def test_roll_between_signals_reads_facts_again_under_the_new_contract() -> None:
    world = World()
    await world.run(BUY, "a" * 32)
    world.contracts.front = 778
    outcome = await world.run(EXIT, "b" * 32)
    assert outcome.status == "done"
    # The read under the old contract is dropped; the plan's facts are the new contract's.
    assert world.store.reads[1:] == [(777, "MNQ", 0), (778, "MNQ", 1)]
    assert (10001, 778) in world.store.expectations


async def test_denied_known_symbol_still_announces_the_signal_before_the_denial() -> None:
    world = World()
    await world.run(BUY, "a" * 32)
    world.store.events.clear()
    world.store.kills = (True, False, False)  # the global kill switch refuses a new entry
    outcome = await world.run(BUY, "b" * 32)
    assert outcome.status == "denied"
    assert [e for e, _ in world.store.events] == ["trade.signal", "risk.denied"]
