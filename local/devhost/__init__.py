"""Run ``function_app.py``'s functions without the Azure Functions host.

The dev host indexes the app the way the Python worker does, serves its HTTP routes
(route templates, methods, auth levels with keys from local settings), fires its timers on
their NCRONTAB schedules, and delivers messages from the local Redis-backed queue to its
Service Bus-triggered functions as real ``azure.functions.ServiceBusMessage`` objects.
"""

from local.devhost.host import DevHost, DevHostConfig
from local.devhost.loader import FunctionSpec, IndexingError, index_function_app

__all__ = ["DevHost", "DevHostConfig", "FunctionSpec", "IndexingError", "index_function_app"]
