"""TradingView webhook: ``POST /api/webhook/{strategy}`` (auth level function: ``?code=``)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import azure.functions as func

from functions.http_responses import error_response, json_response
from shared.container import get_container
from shared.domain.errors import BridgeError, DependencyUnavailable
from shared.telemetry_names import ATTR_OUTCOME, ATTR_STRATEGY

if TYPE_CHECKING:
    from shared.services.ingest import IncomingAlert

# The ingest use case (the alert readers, pydantic models) and telemetry are imported by the
# first request, not at indexing: an instance that runs only the queue function never needs them.

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.route(route="webhook/{strategy}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def webhook(req: func.HttpRequest) -> func.HttpResponse:
    """Accept one alert: 202 after a durable enqueue, 4xx with a code, 503 if nothing was queued."""
    started = time.perf_counter()
    from shared.services.ingest import IncomingAlert
    from shared.telemetry import correlation_scope, get_metrics, new_correlation_id

    alert = IncomingAlert(
        strategy_id=req.route_params.get("strategy", ""),
        body=req.get_body(),
        forwarded_for=req.headers.get("x-forwarded-for"),
        received_at=datetime.now(UTC),
        correlation_id=new_correlation_id(),
    )
    with correlation_scope(alert.correlation_id):
        response, outcome = await _ingest(alert, started)
    metrics = get_metrics()
    labels = {ATTR_STRATEGY: alert.strategy_id[:64], ATTR_OUTCOME: outcome}
    metrics.signals_received.add(1, labels)
    metrics.webhook_ack_ms.record((time.perf_counter() - started) * 1000, labels)
    return response


async def _ingest(alert: IncomingAlert, started: float) -> tuple[func.HttpResponse, str]:
    try:
        result = await get_container().ingestor.ingest(alert)
    except BridgeError as exc:
        if isinstance(exc, DependencyUnavailable):
            log.warning("alert %s not queued: %s", alert.correlation_id, exc.message)
        return error_response(exc, started), exc.code
    except Exception:
        # Nothing is sent before the enqueue succeeds, and nothing after it can raise, so
        # an unexpected error here means nothing was queued: 503 lets TradingView re-send.
        log.exception("alert %s failed unexpectedly before it was queued", alert.correlation_id)
        error = DependencyUnavailable("the alert could not be queued")
        return error_response(error, started), "unexpected_error"
    body = {"id": result.signal_id, "status": result.status, "messages": result.messages}
    headers = {"X-Correlation-Id": alert.correlation_id}
    return json_response(body, 202, started, headers), result.status
