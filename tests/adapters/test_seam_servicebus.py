"""Service Bus at the seams Azure owns: the sender's identity, wire fields, trigger settings.

What cannot run here (a namespace, the Functions host) is checked against what Microsoft's docs
require of it: the sender's credential fetches a token for the user-assigned identity from a
loopback managed-identity endpoint; messages carry the AMQP fields that sessions and duplicate
detection read; and the execute trigger's binding, built as the Functions worker indexes it,
names settings that both IaC sets define for an identity-based connection.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus.aio._base_handler_async import ServiceBusSharedKeyCredential

from local import bicep_reader as bicep
from local.devhost.loader import index_function_app
from shared.adapters.servicebus import ServiceBusSignalQueue, build_client, to_sdk_message
from shared.container import Container
from shared.domain.alerts import parse_alert
from shared.services.envelope import Envelope, to_message
from tests.adapters.test_seam_keyvault import IdentityEndpoint, identity_endpoint
from tests.conftest import make_settings
from tests.infra import tf_reader

__all__ = ["identity_endpoint"]  # the fixture, shared with test_seam_keyvault.py

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "sb-tradebridge-x1.servicebus.windows.net"
FUNC_CLIENT_ID = "0b5c3a1d-2e4f-4a6b-8c9d-1e2f3a4b5c6d"
WORKER_CLIENT_ID = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
# learn.microsoft.com/azure/service-bus-messaging/authenticate-application: tokens for
# Service Bus are requested for the resource https://servicebus.azure.net.
SERVICE_BUS_SCOPE = "https://servicebus.azure.net/.default"
SB_DATA_SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
SB_DATA_RECEIVER = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"


async def token_request(client: Any, endpoint: IdentityEndpoint) -> dict[str, str]:
    """Ask the client's credential for a Service Bus token; return what the endpoint saw."""
    credential = client._credential
    try:
        await credential.get_token(SERVICE_BUS_SCOPE)
    finally:
        await client.close()
        await credential.close()
    [(query, header)] = endpoint.requests
    assert header == endpoint.header
    return query


# --- the sender's identity ------------------------------------------------------------------


async def test_build_client_with_namespace_and_client_id_gets_the_user_assigned_token(
    identity_endpoint: IdentityEndpoint,
) -> None:
    client = build_client(
        fully_qualified_namespace=NAMESPACE, connection_string=None, client_id=FUNC_CLIENT_ID
    )
    # learn.microsoft.com/azure/service-bus-messaging/service-bus-managed-service-identity:
    # the client connects to <namespace>.servicebus.windows.net with an Entra token.
    assert client.fully_qualified_namespace == NAMESPACE
    query = await token_request(client, identity_endpoint)
    # learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference:
    # client_id picks the user-assigned identity (this app has no system-assigned one).
    assert query["client_id"] == FUNC_CLIENT_ID
    assert query["resource"].rstrip("/") == "https://servicebus.azure.net"


async def test_build_client_with_namespace_and_connection_string_uses_the_identity(
    identity_endpoint: IdentityEndpoint,
) -> None:
    client = build_client(
        fully_qualified_namespace=NAMESPACE,
        connection_string="Endpoint=sb://sb-other.servicebus.windows.net/;"
        "SharedAccessKeyName=send;SharedAccessKey=not-a-real-key",
        client_id=FUNC_CLIENT_ID,
    )
    # learn.microsoft.com/azure/service-bus-messaging/disable-local-authentication: with
    # disableLocalAuth (both IaC sets) SAS keys are refused, so a connection string can only fail.
    assert client.fully_qualified_namespace == NAMESPACE
    assert not isinstance(client._credential, ServiceBusSharedKeyCredential)
    query = await token_request(client, identity_endpoint)
    assert query["client_id"] == FUNC_CLIENT_ID


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        (
            {"ServiceBusConnection__clientId": FUNC_CLIENT_ID, "AZURE_CLIENT_ID": WORKER_CLIENT_ID},
            FUNC_CLIENT_ID,
        ),
        ({"AZURE_CLIENT_ID": WORKER_CLIENT_ID}, WORKER_CLIENT_ID),
    ],
    ids=["connection-client-id", "azure-client-id"],
)
async def test_signal_queue_client_with_client_id_settings_signs_in_as_that_identity(
    identity_endpoint: IdentityEndpoint,
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    expected: str,
) -> None:
    monkeypatch.setenv("ServiceBusConnection__fullyQualifiedNamespace", NAMESPACE)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    queue = Container(make_settings(queue_backend="servicebus")).signal_queue
    assert isinstance(queue, ServiceBusSignalQueue)

    client = queue._client_factory()

    # learn.microsoft.com/azure/azure-functions/functions-reference ("Configure an
    # identity-based connection", "Client SDK" tab): AZURE_CLIENT_ID acts as
    # <CONNECTION_NAME_PREFIX>__clientId unless that is set, which overrides it. The sender
    # follows the trigger's rule.
    assert client.fully_qualified_namespace == NAMESPACE
    query = await token_request(client, identity_endpoint)
    assert query["client_id"] == expected


# --- the message on the wire ----------------------------------------------------------------


def envelope() -> Envelope:
    return Envelope(
        signal_id="5d41402abc4b2a76b9719d911017c592",
        strategy_id="nq-trend",
        account="DEMO10001",
        account_id=10001,
        multiplier=Decimal(1),
        alert_format="native",
        received_at=datetime(2026, 11, 21, 15, 0, tzinfo=UTC),
        correlation_id="corr-1",
        signal=parse_alert('{"intent": "buy", "symbol": "NQ1!"}').signal,
    )


def test_to_sdk_message_with_an_envelope_puts_session_and_dedup_fields_on_the_amqp_wire() -> None:
    sent = envelope()
    amqp = to_sdk_message(to_message(sent)).raw_amqp_message
    properties, header = amqp.properties, amqp.header
    assert properties is not None
    assert header is not None

    # learn.microsoft.com/azure/service-bus-messaging/service-bus-amqp-protocol-guide
    # ("Message properties"): MessageId is AMQP message-id, SessionId is group-id.
    # learn.microsoft.com/azure/service-bus-messaging/duplicate-detection: the queue drops a
    # second message with the same MessageId inside the window, so it is one per signal+account.
    assert properties.message_id == f"{sent.signal_id}:{sent.account}"
    # learn.microsoft.com/azure/service-bus-messaging/message-sessions: a session-enabled queue
    # accepts only messages with a SessionId; one FIFO per account and instrument root.
    assert properties.group_id == "DEMO10001-NQ"
    assert properties.correlation_id == "corr-1"
    # learn.microsoft.com/azure/service-bus-messaging/message-expiration: without a TTL the
    # queue's defaultMessageTimeToLive (PT1H in both IaC sets) applies.
    assert header.time_to_live is None


def test_to_sdk_message_with_a_time_to_live_sends_it_as_amqp_ttl_milliseconds() -> None:
    message = dataclasses.replace(to_message(envelope()), time_to_live=timedelta(minutes=30))
    header = to_sdk_message(message).raw_amqp_message.header
    assert header is not None
    # learn.microsoft.com/azure/service-bus-messaging/service-bus-amqp-protocol-guide: TimeToLive
    # travels as the AMQP header ttl, in milliseconds.
    assert header.time_to_live == 30 * 60 * 1000


# --- the trigger's connection, as the Functions host will read it ---------------------------


def execute_trigger() -> dict[str, Any]:
    """Return the execute function's trigger binding as the Python worker reports it.

    ``index_function_app`` does what the worker does (import function_app, one
    ``app.get_functions()``, ``get_raw_bindings()``) and keeps the result per process, because
    a second ``get_functions()`` on the same app object rejects every name as a duplicate.
    """
    [spec] = [s for s in index_function_app(ROOT) if s.name == "execute"]
    [trigger] = [b for b in spec.bindings if b["type"] == "serviceBusTrigger"]
    return dict(trigger)


@dataclasses.dataclass(frozen=True)
class FunctionAppIac:
    """The function app's settings in one IaC set, and how that set names things."""

    settings: dict[str, str]
    identity_client_id: str  # the expression for the app's user-assigned identity's client id
    app_identity_ids: list[str]  # the identities attached to the function app
    identity_id: str  # the expression for that identity's resource id
    queue: dict[str, Any]
    queue_name_ref: str  # the expression for the created queue's name
    func_queue_roles: set[str]


def _text(value: Any) -> str:
    return value.text if isinstance(value, bicep.Expr) else str(value)


def _bicep() -> FunctionAppIac:
    app = bicep.parse_file(ROOT / "infra" / "bicep" / "modules" / "app.bicep")
    sites = bicep.parse_file(ROOT / "infra" / "bicep" / "modules" / "sites.bicep")
    rbac = bicep.parse_file(ROOT / "infra" / "bicep" / "modules" / "rbac.bicep")
    function_app = bicep.unwrap(sites.modules["functionApp"][1])["params"]
    # The app's settings are exactly functionAppSettings (plus per-strategy webhook secrets).
    assert function_app["siteConfig"]["appSettings"] == bicep.Expr("functionAppSettings")
    sites_call = bicep.unwrap(app.modules["sites"][1])["params"]
    identity_param = {
        _text(ref): _text(sites_call[_text(ref)])
        for ref in function_app["managedIdentities"]["userAssignedResourceIds"]
    }
    settings = bicep.resolve(app.variables["functionAppSettings"], app.variables)
    return FunctionAppIac(
        settings={name: _text(value) for name, value in settings.items()},
        identity_client_id="funcIdentity.outputs.clientId",
        app_identity_ids=list(identity_param.values()),
        identity_id="funcIdentity.outputs.resourceId",
        queue={
            "name": app.variables["signalsQueue"]["name"],
            "requires_session": app.variables["signalsQueue"]["requiresSession"],
        },
        queue_name_ref="signalsQueue.name",
        func_queue_roles={
            ra["roleId"]
            for ra in rbac.variables["roleAssignments"]
            if (ra["principal"], ra["scope"]) == ("func", "queue")
        },
    )


def _terraform() -> FunctionAppIac:
    tf = tf_reader.load_dir(ROOT / "infra" / "terraform")
    app = tf.resources[("azurerm_function_app_flex_consumption", "func")]
    merged = re.search(r"merge\(([\w., ]+)\)", app["app_settings"])
    assert merged is not None, app["app_settings"]
    settings: dict[str, str] = {}
    for ref in merged.group(1).split(","):
        value = tf_reader.resolve("${" + ref.strip() + "}", tf)
        if isinstance(value, dict):
            settings.update(value)
        else:  # the per-strategy WEBHOOK_SECRET_* for-expression; no setting read here
            assert "WEBHOOK_SECRET_" in value, value
    [identity] = app["identity"]
    return FunctionAppIac(
        settings=settings,
        identity_client_id="${azurerm_user_assigned_identity.func.client_id}",
        app_identity_ids=list(identity["identity_ids"]),
        identity_id="${azurerm_user_assigned_identity.func.id}",
        queue=tf.locals["signals_queue"],
        queue_name_ref="${local.signals_queue.name}",
        func_queue_roles={
            ra["role_id"]
            for ra in tf.locals["role_assignments"].values()
            if (ra["principal"], ra["scope"]) == ("func", "queue")
        },
    )


IAC: dict[str, Callable[[], FunctionAppIac]] = {"bicep": _bicep, "terraform": _terraform}


@pytest.fixture(params=sorted(IAC))
def iac(request: pytest.FixtureRequest) -> FunctionAppIac:
    return IAC[request.param]()


def test_execute_trigger_with_worker_indexing_is_a_session_trigger_on_service_bus_connection() -> (
    None
):
    trigger = execute_trigger()
    # learn.microsoft.com/azure/azure-functions/functions-bindings-service-bus-trigger
    # ("Configuration"): connection names the app-setting prefix; isSessionsEnabled must be true
    # for a session-aware queue; queueName may be an %AppSetting% expression.
    assert trigger["connection"] == "ServiceBusConnection"
    assert trigger["isSessionsEnabled"] is True
    assert trigger["queueName"] == "%SIGNALS_QUEUE_NAME%"


def test_function_app_iac_with_execute_connection_defines_a_user_assigned_identity_connection(
    iac: FunctionAppIac,
) -> None:
    prefix = execute_trigger()["connection"]
    # learn.microsoft.com/azure/azure-functions/functions-reference ("Configure an
    # identity-based connection"):
    # a prefix that resolves to one exact value is read as a connection string; identity needs
    # <PREFIX>__fullyQualifiedNamespace, and a user-assigned identity needs
    # <PREFIX>__credential=managedidentity plus <PREFIX>__clientId=<client id>.
    assert prefix not in iac.settings
    assert re.fullmatch(
        r"\$\{[\w.]+\}\.servicebus\.windows\.net",
        iac.settings[f"{prefix}__fullyQualifiedNamespace"],
    )
    assert iac.settings[f"{prefix}__credential"] == "managedidentity"
    assert iac.settings[f"{prefix}__clientId"] == iac.identity_client_id
    # ...and that identity is the one attached to the function app.
    assert iac.app_identity_ids == [iac.identity_id]


def test_function_app_iac_with_execute_queue_setting_names_the_session_queue_it_creates(
    iac: FunctionAppIac,
) -> None:
    setting = re.fullmatch(r"%(\w+)%", execute_trigger()["queueName"])
    assert setting is not None
    # learn.microsoft.com/azure/azure-functions/functions-bindings-expressions-patterns
    # ("Binding expressions - app settings"): %NAME% resolves from the app setting NAME.
    assert iac.settings[setting.group(1)] == iac.queue_name_ref
    assert iac.queue["name"] == make_settings().signals_queue_name  # the sender's default
    # learn.microsoft.com/azure/service-bus-messaging/message-sessions: a session receiver
    # (isSessionsEnabled) needs a queue created with sessions on.
    assert iac.queue["requires_session"] is True


def test_function_app_iac_with_execute_and_webhook_grants_receiver_and_sender_roles(
    iac: FunctionAppIac,
) -> None:
    # learn.microsoft.com/azure/azure-functions/functions-reference#grant-permissions-to-an-identity
    # ("Bindings"): the Service Bus trigger needs Azure Service Bus Data Receiver; sending
    # (the webhook's SDK sender) needs Azure Service Bus Data Sender.
    assert iac.func_queue_roles == {SB_DATA_RECEIVER, SB_DATA_SENDER}
