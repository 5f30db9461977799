"""Name every custom metric, attribute and property that telemetry, alerts and dashboards share.

The alert rules in ``infra/alerts/*.kql`` and the workbook in ``infra/workbook/`` query these
exact names in Application Insights ``customMetrics``; ``tests/infra`` fails when a query names a
metric that is not declared here. Change a name here and in the queries together, never one alone.

Names use underscores and carry their unit (``_ms``), because Application Insights keeps the
OpenTelemetry instrument name verbatim as ``customMetrics.name``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: The OpenTelemetry meter and tracer name (instrumentation scope) for everything Tradebridge emits.
INSTRUMENTATION_SCOPE = "tradebridge"

#: The id that follows one alert from the webhook to the fill, under one name everywhere: the
#: Service Bus application property, the journal column, the span attribute and the log record
#: attribute (so ``customDimensions.correlation_id`` finds every trace, request and dependency).
CORRELATION_PROPERTY = "correlation_id"

# --- metric names ---------------------------------------------------------------------------
SIGNALS_RECEIVED = "tradebridge_signals_received"
WEBHOOK_ACK_MS = "tradebridge_webhook_ack_ms"
SIGNAL_TO_ORDER_MS = "tradebridge_signal_to_order_ms"
ORDERS_PLACED = "tradebridge_orders_placed"
ORDERS_REJECTED = "tradebridge_orders_rejected"
ORDERS_DENIED = "tradebridge_orders_denied"
DEAD_LETTERS = "tradebridge_dead_letters"
WS_CONNECTED = "tradebridge_ws_connected"
WS_DISCONNECTS = "tradebridge_ws_disconnects"
REDIS_ERRORS = "tradebridge_redis_errors"
AUTH_FAILURES = "tradebridge_auth_failures"
KILL_SWITCH_ENGAGED = "tradebridge_kill_switch_engaged"
POSITION_DRIFT = "tradebridge_position_drift"

# --- attribute keys (become customDimensions) ------------------------------------------------
ATTR_STRATEGY = "strategy"
ATTR_ACCOUNT = "account"
ATTR_OUTCOME = "outcome"
ATTR_REASON = "reason"
ATTR_SCOPE = "scope"
ATTR_ERROR_TYPE = "error_type"

InstrumentKind = Literal["counter", "histogram", "gauge"]


@dataclass(frozen=True)
class MetricSpec:
    """Describe one custom metric: its name, instrument kind, unit and meaning."""

    name: str
    kind: InstrumentKind
    unit: str
    description: str


#: Every custom metric, in the order ``shared.telemetry.Metrics`` declares them.
METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(SIGNALS_RECEIVED, "counter", "1", "Alerts received by the webhook, by outcome"),
    MetricSpec(WEBHOOK_ACK_MS, "histogram", "ms", "Webhook own time from request to response"),
    MetricSpec(
        SIGNAL_TO_ORDER_MS, "histogram", "ms", "Time from webhook receipt to Tradovate's ack"
    ),
    MetricSpec(ORDERS_PLACED, "counter", "1", "Orders Tradovate accepted"),
    MetricSpec(ORDERS_REJECTED, "counter", "1", "Orders Tradovate rejected (failureReason)"),
    MetricSpec(ORDERS_DENIED, "counter", "1", "Orders a risk gate denied before any I/O"),
    MetricSpec(DEAD_LETTERS, "counter", "1", "Queue messages the executor dead-lettered"),
    MetricSpec(WS_CONNECTED, "gauge", "1", "1 while the worker's WebSocket is connected, else 0"),
    MetricSpec(WS_DISCONNECTS, "counter", "1", "WebSocket drops seen by the worker"),
    MetricSpec(REDIS_ERRORS, "counter", "1", "Redis commands that failed on the client side"),
    MetricSpec(AUTH_FAILURES, "counter", "1", "Tradovate token renewals or logins that failed"),
    MetricSpec(KILL_SWITCH_ENGAGED, "counter", "1", "Kill switch engagements, by scope"),
    MetricSpec(
        POSITION_DRIFT, "counter", "1", "Intended and broker positions that differ, per reconcile"
    ),
)

#: Metric names by value, for lookups in tests and queries.
METRIC_NAMES: frozenset[str] = frozenset(spec.name for spec in METRICS)
