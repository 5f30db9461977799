"""Every category's shapes in one registry, and the seeded plan that draws requests from it."""

from __future__ import annotations

import random

from bench.fuzz import shapes_body, shapes_envelope, shapes_fields
from bench.fuzz.requests import Ctx, FuzzRequest, ShapeFn, marker

# In this order in the plan and the table.
CATEGORIES: dict[str, tuple[ShapeFn, ...]] = {
    **shapes_body.CATEGORIES,
    **shapes_fields.CATEGORIES,
    **shapes_envelope.CATEGORIES,
}


def build(ctx: Ctx, category: str, index: int) -> FuzzRequest:
    """Build request ``index`` of ``category``: its shapes in turn, varied by its own seed."""
    shapes = CATEGORIES[category]
    shape = shapes[index % len(shapes)]
    rng = random.Random(f"{ctx.seed}/{category}/{index}")
    return FuzzRequest(
        category, shape.__name__.lstrip("_"), index, shape(ctx, rng, marker(ctx, category, index))
    )


def plan(ctx: Ctx, total: int, categories: list[str]) -> list[tuple[str, int]]:
    """Spread ``total`` requests evenly over the categories, in a seeded interleaved order."""
    order = [
        (c, i)
        for n, c in enumerate(categories)
        for i in range(total // len(categories) + (n < total % len(categories)))
    ]
    random.Random(ctx.seed).shuffle(order)
    return order
