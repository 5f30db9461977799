"""Send traces, custom metrics and logs to Application Insights, with one correlation id.

How this fits the Functions Python worker (see README "Deploy"): the app setting
``PYTHON_ENABLE_OPENTELEMETRY=true`` makes the worker propagate the host's trace context into
each invocation, and this module configures the exporter itself (``configure_telemetry``). We
never also set ``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY``, which would make the worker call
``configure_azure_monitor`` a second time and export everything twice; if it is set anyway,
``configure_telemetry`` backs off. Self-configuration is chosen because the worker on App
Service needs it anyway (one code path for both processes), and because only here can the
secret-redacting log processor and the correlation span processor join the pipeline.

Nothing happens at import: the SDKs are imported inside ``configure_telemetry`` (cold start
matters), and instruments from ``get_metrics`` bind to whichever provider is configured later.

Structured logs: ``install_json_logging`` writes one JSON object per line with the correlation
id, and masks every configured secret value and token-like string, in both the JSON output and
what goes to Application Insights. ``mask_process_logs`` pins the same masking on a process's
handlers and on library loggers (the dev host's keys and aiohttp's access and error logs).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from pydantic import SecretStr

from shared import telemetry_names as names

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram, MeterProvider, _Gauge
    from opentelemetry.sdk._logs import LogRecordProcessor
    from opentelemetry.sdk._logs.export import LogRecordExporter
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace.export import SpanExporter

    from shared.config import Settings

_log = logging.getLogger(__name__)

# --- correlation id ---------------------------------------------------------------------------

_correlation_id: ContextVar[str | None] = ContextVar("tradebridge_correlation_id", default=None)
_CORRELATION_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new_correlation_id() -> str:
    """Return a fresh correlation id (32 hex characters)."""
    return uuid.uuid4().hex


def get_correlation_id() -> str | None:
    """Return the correlation id of the current context, if any."""
    return _correlation_id.get()


def set_correlation_id(value: str) -> Token[str | None]:
    """Set the current correlation id; reset with the returned token. Rejects unsafe text."""
    if not _CORRELATION_RE.fullmatch(value):
        raise ValueError("correlation id must be 1-128 characters of [A-Za-z0-9._:-]")
    return _correlation_id.set(value)


@contextmanager
def correlation_scope(value: str | None = None) -> Iterator[str]:
    """Run a block under ``value`` (or a new id) as the correlation id, then restore the old one."""
    cid = value or new_correlation_id()
    token = set_correlation_id(cid)
    try:
        yield cid
    finally:
        _correlation_id.reset(token)


def correlation_properties(value: str | None = None) -> dict[str, str]:
    """Return Service Bus application properties carrying the id (current one by default)."""
    cid = value or get_correlation_id()
    return {names.CORRELATION_PROPERTY: cid} if cid else {}


def correlation_from_properties(properties: Mapping[Any, Any] | None) -> str | None:
    """Read the id from a received message's application properties (keys may be bytes)."""
    for key, value in (properties or {}).items():
        key_text = key.decode() if isinstance(key, bytes) else str(key)
        if key_text == names.CORRELATION_PROPERTY and value is not None:
            text = value.decode() if isinstance(value, bytes) else str(value)
            return text if _CORRELATION_RE.fullmatch(text) else None
    return None


# --- redaction ------------------------------------------------------------------------------

_MASK = "***"
_MIN_SECRET_LEN = 4  # shorter values would mask ordinary words
_TOKEN_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + _MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), _MASK),
    (
        re.compile(
            r'(?i)("(?:access_?token|md_?access_?token|password|sec|secret|passphrase|token|'
            r'api_?key|key|code|client_?secret)"\s*:\s*")[^"]*(")'
        ),
        r"\1" + _MASK + r"\2",
    ),
    (
        re.compile(
            r"(?i)\b(code|sig|secret|password|passphrase|token|key|sec|access_token|"
            r"api_?key|accountkey|sharedaccesskey)=([^&;\s\"',]+)"
        ),
        r"\1=" + _MASK,
    ),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s:]*:[^/@\s]+@"), r"\1" + _MASK + "@"),
    # The Functions key as a header, however it is printed: ``x-functions-key: k``,
    # ``'x-functions-key': 'k'``, ``x-functions-key=k``.
    (
        re.compile(r"(?i)(x-functions-key[\"']?\s*[:=]\s*[\"']?)[^\"'\s,;&}]+"),
        r"\1" + _MASK,
    ),
)


class SecretRedactor:
    """Mask configured secret values and token-like strings in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if len(s) >= _MIN_SECRET_LEN}, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, values))) if values else None

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret and token-like string replaced by ``***``."""
        if self._secrets is not None:
            text = self._secrets.sub(_MASK, text)
        for pattern, replacement in _TOKEN_PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def redact_value(self, value: object) -> object:
        """Redact strings (and strings inside lists/tuples); leave other values alone."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, list | tuple):
            return type(value)(self.redact_value(v) for v in value)
        return value


def secret_values(settings: Settings) -> list[str]:
    """Return every secret the settings hold: each ``SecretStr`` and passwords inside URLs."""
    found: list[str] = []
    for field_name in type(settings).model_fields:
        value = getattr(settings, field_name)
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            found.append(secret)
            match = re.search(r"://[^/@\s:]*:([^/@\s]+)@", secret)
            if match:
                found.append(match.group(1))
    return [s for s in found if s]


class CorrelationFilter(logging.Filter):
    """Stamp ``correlation_id`` on every record (None outside a correlation scope)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the attribute and keep the record."""
        if not hasattr(record, names.CORRELATION_PROPERTY):
            setattr(record, names.CORRELATION_PROPERTY, get_correlation_id())
        return True


class RedactingFilter(logging.Filter):
    """Redact a record's message and exception text before any handler formats or exports it."""

    def __init__(self, redactor: SecretRedactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, redact it, and drop the raw arguments."""
        record.msg = self.redactor.redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.exc_text = self.redactor.redact(
                logging.Formatter().formatException(record.exc_info)
            )
            exc.args = tuple(self.redactor.redact_value(a) for a in exc.args)
        return True


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the JSON line: time, level, logger, message, correlation id, exception."""
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            names.CORRELATION_PROPERTY: getattr(record, names.CORRELATION_PROPERTY, None),
        }
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


_JSON_HANDLER_NAME = "tradebridge-json"


def install_json_logging(
    level: str = "INFO",
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    logger: logging.Logger | None = None,
) -> logging.Handler:
    """Log JSON lines to ``stream`` and redact secrets on every handler of ``logger`` (root).

    Safe to call again: the previous JSON handler is replaced, filters are not duplicated.
    """
    target = logger or logging.getLogger()
    redactor = SecretRedactor(secrets)
    for old in [h for h in target.handlers if h.get_name() == _JSON_HANDLER_NAME]:
        target.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_JSON_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    target.addHandler(handler)
    protect_handlers(redactor, target)
    target.setLevel(level)
    return handler


def protect_handlers(redactor: SecretRedactor, logger: logging.Logger | None = None) -> None:
    """Put the correlation and redaction filters on every handler of ``logger`` (root)."""
    for handler in (logger or logging.getLogger()).handlers:
        # Replaces its own earlier filter; a ``PinnedRedactingFilter`` (a host's keys) stays.
        for old in [f for f in handler.filters if type(f) is RedactingFilter]:
            handler.removeFilter(old)
        if not any(isinstance(f, CorrelationFilter) for f in handler.filters):
            handler.addFilter(CorrelationFilter())
        handler.addFilter(RedactingFilter(redactor))


class PinnedRedactingFilter(RedactingFilter):
    """A redaction filter a process pins for itself; ``protect_handlers`` leaves it in place."""


def mask_process_logs(
    secrets: Iterable[str] = (),
    logger_names: Iterable[str] = (),
    *,
    logger: logging.Logger | None = None,
) -> PinnedRedactingFilter:
    """Mask ``secrets`` and token-like text (``code=``, ``x-functions-key``, tokens) in every
    line: on each handler of ``logger`` (root), and on each named logger itself, so what a
    library logs (e.g. ``aiohttp.server``) is masked whichever handler later writes it.

    Safe to call again: the previous pinned filter is replaced. Undo with
    ``unmask_process_logs``.
    """
    pinned = PinnedRedactingFilter(SecretRedactor(secrets))
    for target in _mask_targets(logger_names, logger):
        for old in [f for f in target.filters if isinstance(f, PinnedRedactingFilter)]:
            target.removeFilter(old)
        target.addFilter(pinned)
    return pinned


def unmask_process_logs(
    pinned: logging.Filter,
    logger_names: Iterable[str] = (),
    *,
    logger: logging.Logger | None = None,
) -> None:
    """Remove a filter ``mask_process_logs`` installed."""
    for target in _mask_targets(logger_names, logger):
        target.removeFilter(pinned)


def _mask_targets(
    logger_names: Iterable[str], logger: logging.Logger | None
) -> list[logging.Filterer]:
    targets: list[logging.Filterer] = list((logger or logging.getLogger()).handlers)
    targets.extend(logging.getLogger(name) for name in logger_names)
    return targets


# --- metrics --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """The custom instruments; names and units come from ``shared.telemetry_names``."""

    signals_received: Counter
    webhook_ack_ms: Histogram
    signal_to_order_ms: Histogram
    orders_placed: Counter
    orders_rejected: Counter
    orders_denied: Counter
    dead_letters: Counter
    ws_connected: _Gauge
    ws_disconnects: Counter
    redis_errors: Counter
    auth_failures: Counter
    kill_switch_engaged: Counter
    position_drift: Counter


_metrics: Metrics | None = None


def get_metrics(meter_provider: MeterProvider | None = None) -> Metrics:
    """Return the instruments, created once on the global provider (or on ``meter_provider``).

    Before ``configure_telemetry`` runs, the global provider is a proxy: recording is a no-op,
    and the same instruments start exporting once a real provider is set.
    """
    global _metrics  # one set of instruments per process, like the provider
    if meter_provider is None and _metrics is not None:
        return _metrics
    from opentelemetry import metrics

    meter = (meter_provider or metrics.get_meter_provider()).get_meter(names.INSTRUMENTATION_SCOPE)
    made: dict[str, object] = {}
    for spec in names.METRICS:
        unit, description = spec.unit, spec.description
        field_name = spec.name.removeprefix("tradebridge_")
        if spec.kind == "counter":
            made[field_name] = meter.create_counter(spec.name, unit, description)
        elif spec.kind == "histogram":
            made[field_name] = meter.create_histogram(spec.name, unit, description)
        else:
            made[field_name] = meter.create_gauge(spec.name, unit, description)
    result = Metrics(**made)  # type: ignore[arg-type]
    if meter_provider is None:
        _metrics = result
    return result


# --- configuration ------------------------------------------------------------------------


def _correlation_span_processor() -> SpanProcessor:
    """Build the processor that copies the correlation id onto every span as it starts."""
    from opentelemetry.sdk.trace import SpanProcessor

    class CorrelationSpanProcessor(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            cid = get_correlation_id()
            if cid:
                span.set_attribute(names.CORRELATION_PROPERTY, cid)

    return CorrelationSpanProcessor()


def _redacting_log_processor(redactor: SecretRedactor) -> LogRecordProcessor:
    """Build the processor that redacts each log record before the exporters see it."""
    from opentelemetry.sdk._logs import LogRecordProcessor

    class RedactingLogProcessor(LogRecordProcessor):
        def on_emit(self, log_record: Any) -> None:
            record = log_record.log_record
            record.body = redactor.redact_value(record.body)
            attributes = record.attributes or {}
            for key in list(attributes):
                attributes[key] = redactor.redact_value(attributes[key])

        def shutdown(self) -> None:
            return None

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return True

    return RedactingLogProcessor()


@dataclass(frozen=True)
class TelemetryExtras:
    """Extra exporters and readers, added beside Azure Monitor (tests use in-memory ones)."""

    span_exporter: SpanExporter | None = None
    metric_reader: MetricReader | None = None
    log_exporter: LogRecordExporter | None = None


_configured = False
WORKER_SELF_CONFIG_SETTING = "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"


def configure_telemetry(
    settings: Settings,
    *,
    extras: TelemetryExtras | None = None,
    logger_name: str = "",
    configure: Callable[..., None] | None = None,
) -> bool:
    """Configure OpenTelemetry once per process; return True if this call configured it.

    Exports to Application Insights when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set
    (Entra ID auth comes from ``APPLICATIONINSIGHTS_AUTHENTICATION_STRING``); without it nothing
    is configured (the local stack) and metrics stay no-ops. ``extras`` receive the same data.
    ``configure`` stands in for ``configure_azure_monitor`` (tests record what it is given).
    """
    global _configured  # OpenTelemetry's providers are process-global too
    if _configured:
        return False
    if os.environ.get(WORKER_SELF_CONFIG_SETTING, "").lower() == "true":
        _log.warning("%s is set: the worker exports already; skipping", WORKER_SELF_CONFIG_SETTING)
        return False
    connection_string = settings.applicationinsights_connection_string
    if not connection_string:
        return False
    redactor = SecretRedactor(secret_values(settings))
    span_processors, log_processors, readers = _extra_pipeline(redactor, extras)
    if configure is None:
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure = configure_azure_monitor

    # No ``credential`` argument, not even None: Application Insights has local auth off, and
    # the exporter builds ManagedIdentityCredential(client_id=<ClientId>) from
    # APPLICATIONINSIGHTS_AUTHENTICATION_STRING only when no ``credential`` key is passed
    # (azure-monitor-opentelemetry-exporter README, "credential"; see test_seam_telemetry.py).
    configure(
        connection_string=connection_string,
        logger_name=logger_name,
        span_processors=span_processors,
        log_record_processors=log_processors,
        metric_readers=readers,
        # Keep every trace: ~1,000 alerts a day is tiny, and the distro's default rate-limited
        # sampler drops spans right after start, i.e. the first alert after a cold start.
        sampling_ratio=1.0,
        enable_live_metrics=False,  # Live Metrics streams on its own and costs CPU per request
        disable_offline_storage=extras is not None,  # tests: no retry files on disk
    )
    protect_handlers(redactor, logging.getLogger(logger_name or None))
    _configured = True
    return True


def _extra_pipeline(
    redactor: SecretRedactor, extras: TelemetryExtras | None
) -> tuple[list[SpanProcessor], list[LogRecordProcessor], list[MetricReader]]:
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    # Redaction runs first, so every exporting processor added after it sees clean records.
    spans: list[SpanProcessor] = [_correlation_span_processor()]
    logs: list[LogRecordProcessor] = [_redacting_log_processor(redactor)]
    readers: list[MetricReader] = []
    if extras is not None:
        if extras.span_exporter is not None:
            spans.append(SimpleSpanProcessor(extras.span_exporter))
        if extras.log_exporter is not None:
            logs.append(SimpleLogRecordProcessor(extras.log_exporter))
        if extras.metric_reader is not None:
            readers.append(extras.metric_reader)
    return spans, logs, readers
