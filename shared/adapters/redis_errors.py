"""Turn a Redis failure into the domain's ``DependencyUnavailable``, counting it once."""

from __future__ import annotations

from shared.domain.errors import DependencyUnavailable


def redis_unavailable(exc: BaseException) -> DependencyUnavailable:
    """Count a Redis error in the ``redis_errors`` metric and return the error to raise."""
    from shared.telemetry import get_metrics
    from shared.telemetry_names import ATTR_ERROR_TYPE

    get_metrics().redis_errors.add(1, {ATTR_ERROR_TYPE: type(exc).__name__})
    return DependencyUnavailable(f"Redis could not be reached: {type(exc).__name__}")
