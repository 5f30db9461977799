"""A Tradovate demo-environment simulator: REST, trading and market-data WebSockets, a contract
library around today's date, an order engine with positions and P&L, and fault injection.

Faithful to ``reference/tradovate-api.md``; every UNCONFIRMED point there is a ``SimConfig``
setting. Start it in-process with ``SimulatorServer`` or alone with
``python -m local.tradovate_sim``.
"""

from local.tradovate_sim.config import AccountConfig, SimConfig
from local.tradovate_sim.faults import FaultConfig
from local.tradovate_sim.server import SimulatorServer

__all__ = ["AccountConfig", "FaultConfig", "SimConfig", "SimulatorServer"]
