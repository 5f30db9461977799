"""Index function_app.py exactly as the Functions worker does and pin every binding."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from local.devhost.loader import FunctionSpec, index_function_app
from local.services import REPO_ROOT


def specs_by_name() -> dict[str, FunctionSpec]:
    return {spec.name: spec for spec in index_function_app(REPO_ROOT)}


def test_function_app_indexes_with_expected_functions() -> None:
    assert set(specs_by_name()) >= {"health", "webhook", "execute"}


def test_webhook_route_is_function_level_post_with_strategy_param() -> None:
    trigger = specs_by_name()["webhook"].trigger
    assert trigger["type"] == "httpTrigger"
    assert trigger["route"] == "webhook/{strategy}"
    assert [m.upper() for m in trigger["methods"]] == ["POST"]
    assert trigger["authLevel"].upper() == "FUNCTION"


def test_health_route_is_anonymous_get() -> None:
    trigger = specs_by_name()["health"].trigger
    assert trigger["type"] == "httpTrigger"
    assert trigger["route"] == "health"
    assert [m.upper() for m in trigger["methods"]] == ["GET"]
    assert trigger["authLevel"].upper() == "ANONYMOUS"


def test_importing_function_app_connects_to_nothing_and_loads_no_sdk_client() -> None:
    code = """
import socket, sys
def refuse(*args, **kwargs):
    raise SystemExit("a socket was opened while importing function_app")
socket.socket.connect = refuse
socket.create_connection = refuse
import function_app
heavy = ("azure.servicebus", "azure.identity", "azure.data.tables", "azure.keyvault",
         "redis", "httpx", "websocket", "azure.monitor")
print(sorted(m for m in sys.modules if m.startswith(heavy)))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_execute_is_a_session_queue_trigger_on_the_signals_setting() -> None:
    trigger = specs_by_name()["execute"].trigger
    assert trigger["type"] == "serviceBusTrigger"
    assert trigger["queueName"] == "%SIGNALS_QUEUE_NAME%"
    assert trigger["connection"] == "ServiceBusConnection"
    assert trigger["isSessionsEnabled"] is True
    assert trigger.get("cardinality", "ONE").upper() == "ONE"


TIMERS = {
    "contract_refresh": ("CONTRACT_REFRESH_SCHEDULE", "contract_refresh_schedule", "3"),
    "token_refresh": ("TOKEN_REFRESH_SCHEDULE", "token_refresh_schedule", "2"),
    "reconcile": ("RECONCILE_SCHEDULE", "reconcile_schedule", "2"),
    "ledger_mirror": ("LEDGER_MIRROR_SCHEDULE", "ledger_mirror_schedule", "2"),
}


def test_timers_with_schedule_settings_index_with_exponential_retry() -> None:
    from functions.timers import SCHEDULE_DEFAULTS
    from local.devhost.timers import next_fire, retry_delays
    from shared.config import Settings

    specs = specs_by_name()
    for name, (setting, field, retries) in TIMERS.items():
        spec = specs[name]
        assert spec.trigger["type"] == "timerTrigger"
        assert spec.trigger["schedule"] == f"%{setting}%"
        # The fallback the blueprint fills in equals the documented setting default, and parses.
        default = SCHEDULE_DEFAULTS[setting]
        assert default == Settings.model_fields[field].default
        next_fire(default, datetime(2026, 1, 1, tzinfo=UTC))
        assert spec.retry_policy is not None
        assert spec.retry_policy["strategy"] == "exponential_backoff"
        assert spec.retry_policy["max_retry_count"] == retries
        assert 0 < retry_delays(spec.retry_policy)[0] <= 15
