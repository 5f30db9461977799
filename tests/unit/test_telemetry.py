"""Telemetry: export through the OpenTelemetry SDK, correlation ids, and no secret in any log."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from shared import telemetry
from shared.telemetry_names import CORRELATION_PROPERTY, METRIC_NAMES
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "hunter2-tradovate-pw"
API_SECRET = "sec-0f9e8d7c6b5a"


@pytest.fixture
def isolated_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("tradebridge.test.telemetry")
    logger.propagate = False
    yield logger
    logger.handlers.clear()
    logger.propagate = True


def test_import_with_a_fresh_interpreter_loads_no_sdk() -> None:
    code = (
        "import sys, shared.telemetry\n"
        "print(sorted(m for m in sys.modules if m.startswith(('azure.monitor', 'opentelemetry'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_redactor_with_secrets_and_tokens_masks_them() -> None:
    redactor = telemetry.SecretRedactor([PASSWORD, "abc"])
    text = (
        f"login pw={PASSWORD} Authorization: Bearer eyJhbGciOi.eyJzdWIiOi.sig "
        '{"accessToken": "t0k3n", "secret": "s3"} url=https://f.net/api/x?code=KEY123&x=1 '
        "redis=rediss://:pa55word@host:10000 tradovate abc"
    )
    masked = redactor.redact(text)
    for leaked in (PASSWORD, "eyJhbGciOi", "t0k3n", '"s3"', "KEY123", "pa55word"):
        assert leaked not in masked
    assert "x=1" in masked
    assert "abc" in masked  # shorter than 4 characters: never treated as a secret


def test_secret_values_with_settings_finds_every_secret_str() -> None:
    settings = make_settings(
        tradovate_password=PASSWORD,
        tradovate_sec=API_SECRET,
        redis_url="rediss://user:redispw99@host:10000/0",
    )
    found = telemetry.secret_values(settings)
    assert {PASSWORD, API_SECRET, "redispw99"} <= set(found)


def test_json_logging_with_a_secret_in_message_and_exception_never_prints_it(
    isolated_logger: logging.Logger,
) -> None:
    stream = io.StringIO()
    telemetry.install_json_logging(
        "INFO", secrets=[PASSWORD], stream=stream, logger=isolated_logger
    )
    with telemetry.correlation_scope("sig-42") as cid:
        isolated_logger.info("logging in with %s", PASSWORD)
        try:
            raise RuntimeError(f"login failed for password {PASSWORD}")
        except RuntimeError:
            isolated_logger.exception("broker said no")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line[CORRELATION_PROPERTY] for line in lines] == [cid, cid]
    assert PASSWORD not in stream.getvalue()
    assert "***" in lines[0]["message"]
    assert "RuntimeError" in lines[1]["exception"]


def test_install_json_logging_with_a_second_call_keeps_one_handler(
    isolated_logger: logging.Logger,
) -> None:
    telemetry.install_json_logging(stream=io.StringIO(), logger=isolated_logger)
    telemetry.install_json_logging(stream=io.StringIO(), logger=isolated_logger)
    ours = [h for h in isolated_logger.handlers if h.get_name() == "tradebridge-json"]
    assert len(ours) == 1
    assert len(ours[0].filters) == 2


def test_correlation_properties_with_a_message_round_trip() -> None:
    with telemetry.correlation_scope() as cid:
        props = telemetry.correlation_properties()
    assert props == {CORRELATION_PROPERTY: cid}
    received = {CORRELATION_PROPERTY.encode(): cid.encode()}  # the SB SDK hands back bytes
    assert telemetry.correlation_from_properties(received) == cid
    assert telemetry.correlation_from_properties({CORRELATION_PROPERTY: "x\ny"}) is None
    assert telemetry.correlation_from_properties(None) is None
    assert telemetry.get_correlation_id() is None


def test_set_correlation_id_with_unsafe_text_raises() -> None:
    with pytest.raises(ValueError, match="correlation id"):
        telemetry.set_correlation_id("bad id\n")


def test_get_metrics_with_an_sdk_provider_records_every_instrument() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = telemetry.get_metrics(provider)
    metrics.signals_received.add(1, {"outcome": "accepted"})
    metrics.webhook_ack_ms.record(3.5)
    metrics.ws_connected.set(1)
    data = reader.get_metrics_data()
    assert data is not None
    exported = {
        m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    assert exported == {
        "tradebridge_signals_received", "tradebridge_webhook_ack_ms", "tradebridge_ws_connected",
    }  # fmt: skip
    assert len(telemetry.Metrics.__dataclass_fields__) == len(METRIC_NAMES)
    provider.shutdown()


def test_configure_telemetry_without_connection_string_configures_nothing() -> None:
    assert telemetry.configure_telemetry(make_settings()) is False


def test_configure_telemetry_with_worker_self_config_backs_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(telemetry.WORKER_SELF_CONFIG_SETTING, "true")
    settings = make_settings(applicationinsights_connection_string="InstrumentationKey=x")
    assert telemetry.configure_telemetry(settings) is False


# Runs in its own interpreter: configure_azure_monitor sets process-global providers and
# instruments libraries, which must not leak into the rest of the suite. The connection string
# points at a closed loopback port, so nothing leaves the machine.
_EXPORT_SCRIPT = textwrap.dedent(
    """
    import json, logging, sys
    from opentelemetry import trace
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from shared import telemetry
    from tests.conftest import make_settings

    PASSWORD, API_SECRET = sys.argv[1], sys.argv[2]
    settings = make_settings(
        tradovate_password=PASSWORD,
        tradovate_sec=API_SECRET,
        applicationinsights_connection_string=(
            "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
            "IngestionEndpoint=http://127.0.0.1:9/"
        ),
    )
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    logs = InMemoryLogRecordExporter()
    extras = telemetry.TelemetryExtras(span_exporter=spans, metric_reader=reader, log_exporter=logs)
    first = telemetry.configure_telemetry(settings, extras=extras, logger_name="tradebridge")
    again = telemetry.configure_telemetry(settings, extras=extras, logger_name="tradebridge")
    log = logging.getLogger("tradebridge.exec")
    log.setLevel(logging.INFO)
    metrics = telemetry.get_metrics()
    with telemetry.correlation_scope("alert-7") as cid:
        with trace.get_tracer("tradebridge").start_as_current_span("execute"):
            metrics.orders_placed.add(1, {"account": "D1"})
            metrics.signal_to_order_ms.record(12.5)
            metrics.kill_switch_engaged.add(1, {"scope": "global"})
            log.info("placing with sec=%s and password %s", API_SECRET, PASSWORD)
            try:
                raise RuntimeError("login failed: " + PASSWORD)
            except RuntimeError:
                log.exception("auth failed")
    data = reader.get_metrics_data()
    metric_names = sorted(
        m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    )
    records = [r.to_json() for r in logs.get_finished_logs()]
    print(json.dumps({
        "first": first, "again": again, "cid": cid,
        "spans": [(s.name, dict(s.attributes)) for s in spans.get_finished_spans()],
        "metrics": metric_names, "logs": records,
    }))
    """
)


def test_configure_telemetry_with_in_memory_exporters_exports_spans_metrics_and_clean_logs() -> (
    None
):
    out = subprocess.run(
        [sys.executable, "-c", _EXPORT_SCRIPT, PASSWORD, API_SECRET],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["first"] is True
    assert result["again"] is False
    spans = {name: attrs for name, attrs in result["spans"]}
    assert spans["execute"][CORRELATION_PROPERTY] == result["cid"]
    assert {
        "tradebridge_orders_placed",
        "tradebridge_signal_to_order_ms",
        "tradebridge_kill_switch_engaged",
    } <= set(result["metrics"])
    logs = result["logs"]
    assert len(logs) == 2
    everything = json.dumps(logs) + out.stderr
    assert PASSWORD not in everything
    assert API_SECRET not in everything
    assert all(json.loads(r)["attributes"][CORRELATION_PROPERTY] == result["cid"] for r in logs)
