"""Plan broker commands from a signal: pure, deterministic, tested without I/O.

Entry point: :func:`plan` (``shared.domain.planning.planner``). The modules, in reading order:

* ``targets``: the position a signal wants (target positions, opposite-signal policy, adds);
* ``quantities``: multiplier scaling (rounds down), the split across targets, order-size caps;
* ``prices``: tick rounding in the safe direction and distance units;
* ``orders``: entry and exit order terms; ``brackets``: OSO exits and worker instructions;
* ``model``: inputs (``Book``, ``WorkingOrder``) and outputs (commands, ``Plan``, instructions);
* ``rails``: the hard bounds every plan keeps, whatever its facts say (checked last).
"""

from shared.domain.planning.model import (
    Book,
    CancelOrder,
    Command,
    Instruction,
    ModifyOrder,
    MoveStopToBreakeven,
    PlaceBracketOrder,
    PlaceOrder,
    Plan,
    TrailStop,
    WorkingOrder,
    client_order_id,
)
from shared.domain.planning.planner import plan

__all__ = [
    "Book",
    "CancelOrder",
    "Command",
    "Instruction",
    "ModifyOrder",
    "MoveStopToBreakeven",
    "PlaceBracketOrder",
    "PlaceOrder",
    "Plan",
    "TrailStop",
    "WorkingOrder",
    "client_order_id",
    "plan",
]
