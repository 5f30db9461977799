"""Run ``function_app.py``'s functions without the Azure Functions host.

The dev host indexes the app the way the Python worker does, serves its HTTP routes
(route templates, methods, auth levels with keys from local settings), fires its timers on
their NCRONTAB schedules, and delivers messages from the local Redis-backed queue to its
Service Bus-triggered functions as real ``azure.functions.ServiceBusMessage`` objects.

The names below are imported on first use, not with the package: ``python -m local.devhost``
imports this package before its ``__main__`` has put ``--app-root`` first on ``sys.path``,
and the host modules import the app's ``shared`` package, which must come from there.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.devhost.host import DevHost, DevHostConfig
    from local.devhost.loader import FunctionSpec, IndexingError, index_function_app

__all__ = ["DevHost", "DevHostConfig", "FunctionSpec", "IndexingError", "index_function_app"]

_HOMES = {
    "DevHost": "local.devhost.host",
    "DevHostConfig": "local.devhost.host",
    "FunctionSpec": "local.devhost.loader",
    "IndexingError": "local.devhost.loader",
    "index_function_app": "local.devhost.loader",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
