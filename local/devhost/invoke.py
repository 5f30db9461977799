"""Call a user function the way the worker does: async on the loop, sync in a thread."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from local.devhost.loader import FunctionSpec


async def invoke(spec: FunctionSpec, argument: Any) -> Any:
    """Call ``spec``'s function with its trigger argument and return what it returns."""
    kwargs = {str(spec.trigger["name"]): argument}
    if inspect.iscoroutinefunction(spec.user_function):
        return await spec.user_function(**kwargs)
    return await asyncio.to_thread(spec.user_function, **kwargs)
