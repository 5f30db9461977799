"""The ops API's end-to-end tests reuse the execution tests' running system (dev host, real
Redis, Azurite, the simulator) and its worker."""

from __future__ import annotations

from tests.integration.execution.conftest import fresh, stack_settings, system, worker

__all__ = ["fresh", "stack_settings", "system", "worker"]
