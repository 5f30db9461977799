"""The server's mutable holder: the current ``Simulation``, the socket hub and the optional
random-walk ticker. Reset swaps in a fresh ``Simulation`` after closing every socket."""

from __future__ import annotations

import asyncio
import contextlib
import random

from local.tradovate_sim.config import SimConfig
from local.tradovate_sim.hub import Hub
from local.tradovate_sim.sim import Simulation


class ServerState:
    """What the aiohttp handlers share."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.sim = Simulation(config)
        self.hub = Hub()
        self.ticker_interval_s: float | None = None
        self._ticker: asyncio.Task[None] | None = None

    async def reset(self) -> None:
        """Start again from the original config and close the sockets of the old state.

        The new state is in place before the closes go out, so a client that reconnects at
        once lands on the new state, never on the discarded one.
        """
        old, self.sim = self.sim, Simulation(self.config)
        await self.hub.close_all("Simulator reset", sim=old)
        self.set_ticker(self.config.random_walk_s)

    def set_ticker(self, interval_s: float | None) -> None:
        """Start (or stop, with None) the random walk that moves every price by one tick."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        self.ticker_interval_s = interval_s
        if interval_s:
            self._ticker = asyncio.ensure_future(self._walk(interval_s))

    async def _walk(self, interval_s: float) -> None:
        rng = random.Random(self.config.seed)
        while True:
            await asyncio.sleep(interval_s)
            sim = self.sim
            for contract in sorted(sim.library.contracts.values(), key=lambda c: c.id):
                if sim.library.has_stopped_trading(contract, sim.clock.now()):
                    continue
                tick = contract.product.tick_size
                price = sim.engine.market.price(contract.id) + tick * rng.choice((-1, 1))
                if price > 0:
                    sim.engine.set_price(contract.id, price)
            self.hub.flush(sim)

    async def close(self) -> None:
        """Stop the ticker and close every socket."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.hub.close_all("Simulator stopping")
