"""Store a plan with its execution summary, and read it back on a re-delivery.

A re-delivered message must finish the plan made the first time, not a new one: by then the
first attempt may have moved the position, and a fresh plan would see a different world.
"""

from __future__ import annotations

import json
from typing import Any

from shared.domain.codec import decode, encode
from shared.domain.planning.model import (
    CancelOrder,
    Command,
    Instruction,
    ModifyOrder,
    MoveStopToBreakeven,
    PlaceBracketOrder,
    PlaceOrder,
    Plan,
    ProtectAfterFill,
    TrailStop,
)

_COMMANDS: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (CancelOrder, ModifyOrder, PlaceOrder, PlaceBracketOrder)
}
_INSTRUCTIONS: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (MoveStopToBreakeven, TrailStop)
}


def dump_plan(plan: Plan) -> str:
    """Render the parts of a plan needed to finish it (not its withheld denial)."""
    return json.dumps(
        {
            "commands": [{"t": type(c).__name__, "d": encode(c)} for c in plan.commands],
            "instructions": [{"t": type(i).__name__, "d": encode(i)} for i in plan.instructions],
            "deferred": [encode(d) for d in plan.deferred],
            "position_before": plan.position_before,
            "position_after": plan.position_after,
            "note": plan.note,
        },
        separators=(",", ":"),
    )


def load_plan(text: str) -> Plan:
    """Rebuild a plan stored by ``dump_plan``."""
    data = json.loads(text)
    commands: list[Command] = [decode(_COMMANDS[c["t"]], c["d"]) for c in data["commands"]]
    instructions: list[Instruction] = [
        decode(_INSTRUCTIONS[i["t"]], i["d"]) for i in data["instructions"]
    ]
    return Plan(
        commands=tuple(commands),
        position_before=int(data["position_before"]),
        position_after=int(data["position_after"]),
        instructions=tuple(instructions),
        deferred=tuple(decode(ProtectAfterFill, d) for d in data.get("deferred", ())),
        note=str(data["note"]),
    )
