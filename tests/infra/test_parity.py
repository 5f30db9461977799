"""Prove infra/bicep and infra/terraform declare the same deployment, and that it fits the code.

No Azure and no Bicep CLI here, so this is static: Terraform is read with python-hcl2, Bicep with
local/bicep_reader.py. A setting added to ``shared.config.Settings`` without adding it to
both template sets makes this fail, on purpose.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices

from local import bicep_reader as bicep
from shared.config import Settings
from shared.telemetry_names import METRIC_NAMES
from tests.infra.tf_reader import TerraformDir, load_dir
from tests.infra.tf_reader import setting_names as tf_setting_names

ROOT = Path(__file__).resolve().parents[2]
BICEP = ROOT / "infra" / "bicep"
TERRAFORM = ROOT / "infra" / "terraform"

# Settings the code reads that Azure deliberately does not set: connection-string alternatives
# to the identity-based settings, used by the local stack only (no secrets in app settings).
LOCAL_ONLY_SETTINGS = {
    "ServiceBusConnection": "connection string; Azure uses ServiceBusConnection__* + identity",
    "TablesConnection": "connection string; Azure uses TablesConnection__* + identity",
    "NOTIFY_ACS_CONNECTION_STRING": "connection string; Azure uses NOTIFY_ACS_ENDPOINT + identity",
}
# Settings only one template set carries, with the reason.
TERRAFORM_ONLY_SETTINGS = {
    "AzureWebJobsStorage": "azurerm writes a key-based value unless overridden with '' (PR 29099)",
}

# Canonical resource kinds: Terraform type -> kind; Bicep resource type or AVM module -> kind.
TF_KINDS = {
    "azurerm_resource_group": "resource-group",
    "azurerm_user_assigned_identity": "managed-identity",
    "azurerm_storage_account": "storage-account",
    "azurerm_storage_container": "blob-container",
    "azurerm_servicebus_namespace": "servicebus-namespace",
    "azurerm_servicebus_queue": "servicebus-queue",
    "azurerm_managed_redis": "managed-redis",
    "azurerm_managed_redis_access_policy_assignment": "redis-access-policy",
    "azurerm_key_vault": "key-vault",
    "azurerm_service_plan": "app-service-plan",
    "azurerm_function_app_flex_consumption": "function-app",
    "azurerm_linux_web_app": "web-app",
    "azurerm_role_assignment": "role-assignment",
    "azurerm_log_analytics_workspace": "log-analytics",
    "azurerm_application_insights": "app-insights",
    "azurerm_monitor_action_group": "action-group",
    "azurerm_monitor_scheduled_query_rules_alert_v2": "log-alert",
    "azurerm_monitor_metric_alert": "metric-alert",
    "azurerm_application_insights_workbook": "workbook",
    "azurerm_email_communication_service": "email-service",
    "azurerm_email_communication_service_domain": "email-domain",
    "azurerm_communication_service": "communication-service",
    # Not a resource of its own in Bicep: the communication service's linkedDomains property.
    "azurerm_communication_service_email_domain_association": None,
    # Not a resource of its own: sets keyVaultReferenceIdentity on the function app, which the
    # Bicep site module does through keyVaultAccessIdentityResourceId.
    "azapi_update_resource": None,
}
BICEP_KINDS = {
    "Microsoft.Resources/resourceGroups": "resource-group",
    "Microsoft.Authorization/roleAssignments": "role-assignment",
    "Microsoft.Insights/actionGroups": "action-group",
    "Microsoft.Insights/scheduledQueryRules": "log-alert",
    "Microsoft.Insights/metricAlerts": "metric-alert",
    "Microsoft.Insights/workbooks": "workbook",
    "Microsoft.Communication/emailServices": "email-service",
    "Microsoft.Communication/emailServices/domains": "email-domain",
    "Microsoft.Communication/communicationServices": "communication-service",
    "avm/res/managed-identity/user-assigned-identity": "managed-identity",
    "avm/res/storage/storage-account": "storage-account",
    "avm/res/service-bus/namespace": "servicebus-namespace",
    "avm/res/cache/redis-enterprise": "managed-redis",
    "avm/res/key-vault/vault": "key-vault",
    "avm/res/web/serverfarm": "app-service-plan",
    "avm/res/operational-insights/workspace": "log-analytics",
    "avm/res/insights/component": "app-insights",
}
# AVM versions as the Bicep public registry lists them (identity: its newest tag).
AVM_VERSIONS = {
    "avm/res/web/site": "0.24.0",
    "avm/res/web/serverfarm": "0.7.0",
    "avm/res/service-bus/namespace": "0.17.0",
    "avm/res/cache/redis-enterprise": "0.5.1",
    "avm/res/key-vault/vault": "0.14.0",
    "avm/res/storage/storage-account": "0.33.0",
    "avm/res/insights/component": "0.8.0",
    "avm/res/operational-insights/workspace": "0.16.1",
    "avm/res/managed-identity/user-assigned-identity": "0.6.0",
}
# Built-in role ids (azure.md §7.2, plus Key Vault Secrets Officer for the deployer).
KNOWN_ROLES = {
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "09976791-48a7-449e-bb21-39d1a415f350": "Communication and Email Service Owner",
}


@pytest.fixture(scope="module")
def tf() -> TerraformDir:
    return load_dir(TERRAFORM)


@pytest.fixture(scope="module")
def bicep_files() -> dict[str, bicep.BicepFile]:
    return {p.stem: bicep.parse_file(p) for p in sorted(BICEP.rglob("*.bicep"))}


def _module_body(files: dict[str, bicep.BicepFile], file: str, symbol: str) -> dict[str, Any]:
    return bicep.unwrap(files[file].modules[symbol][1])  # type: ignore[no-any-return]


def _bicep_function_settings(files: dict[str, bicep.BicepFile]) -> set[str]:
    site = _module_body(files, "sites", "functionApp")["params"]
    assert site["siteConfig"]["appSettings"] == bicep.Expr("functionAppSettings")
    sites_call = _module_body(files, "app", "sites")["params"]
    return bicep.setting_names(sites_call["functionAppSettings"], files["app"].variables)


def _bicep_worker_settings(files: dict[str, bicep.BicepFile]) -> set[str]:
    site = _module_body(files, "sites", "workerApp")["params"]
    assert site["siteConfig"]["appSettings"] == bicep.Expr("workerAppSettings")
    sites_call = _module_body(files, "app", "sites")["params"]
    return bicep.setting_names(sites_call["workerAppSettings"], files["app"].variables)


def _tf_function_settings(tf: TerraformDir) -> set[str]:
    app = tf.resources[("azurerm_function_app_flex_consumption", "func")]
    names = tf_setting_names(app["app_settings"], tf)
    # The provider stores the connection string from site_config as this app setting.
    if app["site_config"][0].get("application_insights_connection_string"):
        names.add("APPLICATIONINSIGHTS_CONNECTION_STRING")
    return names


def _tf_worker_settings(tf: TerraformDir) -> set[str]:
    return tf_setting_names(tf.resources[("azurerm_linux_web_app", "worker")]["app_settings"], tf)


def _settings_names(*, required_only: bool = False) -> set[str]:
    names = set()
    for field in Settings.model_fields.values():
        if required_only and not field.is_required():
            continue
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices), "every Settings field names its app setting"
        first = alias.choices[0]
        assert isinstance(first, str)
        names.add(first)
    return names


def test_resource_kinds_with_both_templates_are_the_same(
    tf: TerraformDir, bicep_files: dict[str, bicep.BicepFile]
) -> None:
    tf_kinds = {TF_KINDS[rtype] for rtype, _ in tf.resources} - {None}
    bicep_kinds: set[str] = set()
    for file in bicep_files.values():
        for symbol, (rtype, _) in file.resources.items():
            if symbol not in file.existing:
                bicep_kinds.add(BICEP_KINDS[rtype.split("@")[0]])
        for source, body in file.modules.values():
            if source.startswith("br/public:"):
                path = source.removeprefix("br/public:").split(":")[0]
                kind = BICEP_KINDS.get(path)
                if path == "avm/res/web/site":
                    kind = (
                        "function-app"
                        if "functionapp" in bicep.unwrap(body)["params"]["kind"]
                        else "web-app"
                    )
                assert kind is not None, f"unmapped AVM module {path}"
                bicep_kinds.add(kind)
    # Child resources that AVM modules create from their parameters.
    storage = _module_body(bicep_files, "app", "storage")["params"]
    if storage["blobServices"]["containers"]:
        bicep_kinds.add("blob-container")
    if _module_body(bicep_files, "app", "serviceBus")["params"]["queues"]:
        bicep_kinds.add("servicebus-queue")
    if _module_body(bicep_files, "app", "redis")["params"]["database"]["accessPolicyAssignments"]:
        bicep_kinds.add("redis-access-policy")
    assert tf_kinds == bicep_kinds


def test_avm_modules_with_bicep_are_pinned_to_the_reference_versions(
    bicep_files: dict[str, bicep.BicepFile],
) -> None:
    for file in bicep_files.values():
        for source, _ in file.modules.values():
            if source.startswith("br/"):
                path, _, version = source.removeprefix("br/public:").partition(":")
                assert re.fullmatch(r"\d+\.\d+\.\d+", version), source
                assert AVM_VERSIONS[path] == version, source


def test_function_app_settings_with_both_templates_are_the_same(
    tf: TerraformDir, bicep_files: dict[str, bicep.BicepFile]
) -> None:
    tf_names = _tf_function_settings(tf) - set(TERRAFORM_ONLY_SETTINGS)
    assert tf_names == _bicep_function_settings(bicep_files)


def test_worker_settings_with_both_templates_are_the_same(
    tf: TerraformDir, bicep_files: dict[str, bicep.BicepFile]
) -> None:
    assert _tf_worker_settings(tf) == _bicep_worker_settings(bicep_files)


def test_every_setting_the_code_reads_with_both_templates_is_set(
    tf: TerraformDir, bicep_files: dict[str, bicep.BicepFile]
) -> None:
    wanted = _settings_names() - set(LOCAL_ONLY_SETTINGS)
    assert not wanted - _tf_function_settings(tf), "missing in infra/terraform function app"
    assert not wanted - _bicep_function_settings(bicep_files), "missing in infra/bicep function app"
    required = _settings_names(required_only=True)
    assert not required - _tf_worker_settings(tf), "required setting missing on the TF worker"
    assert not required - _bicep_worker_settings(bicep_files), (
        "required setting missing on the Bicep worker"
    )


def test_local_only_settings_with_settings_still_exist() -> None:
    assert set(LOCAL_ONLY_SETTINGS) <= _settings_names()


_QUEUE_PROPERTY_NAMES = {
    "name": "name",
    "requires_session": "requiresSession",
    "requires_duplicate_detection": "requiresDuplicateDetection",
    "duplicate_detection_history_time_window": "duplicateDetectionHistoryTimeWindow",
    "max_delivery_count": "maxDeliveryCount",
    "lock_duration": "lockDuration",
    "dead_lettering_on_message_expiration": "deadLetteringOnMessageExpiration",
    "default_message_ttl": "defaultMessageTimeToLive",
}


def test_queue_properties_with_both_templates_are_the_same(
    tf: TerraformDir, bicep_files: dict[str, bicep.BicepFile]
) -> None:
    tf_queue = tf.locals["signals_queue"]
    bicep_queue = bicep_files["app"].variables["signalsQueue"]
    assert {_QUEUE_PROPERTY_NAMES[k]: v for k, v in tf_queue.items()} == bicep_queue
    assert bicep_queue == {
        "name": "signals",
        "requiresSession": True,
        "requiresDuplicateDetection": True,
        "duplicateDetectionHistoryTimeWindow": "PT10M",
        "maxDeliveryCount": 5,
        "lockDuration": "PT20S",
        "deadLetteringOnMessageExpiration": True,
        "defaultMessageTimeToLive": "PT1H",
    }
    # Both actually apply those values to the queue they create.
    queue = tf.resources[("azurerm_servicebus_queue", "signals")]
    for key in _QUEUE_PROPERTY_NAMES:
        assert queue[key] == f"${{local.signals_queue.{key}}}"
    assert _module_body(bicep_files, "app", "serviceBus")["params"]["queues"] == [
        bicep.Expr("signalsQueue")
    ]


def _iso_seconds(duration: str) -> int:
    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", duration)
    assert match, duration
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def test_queue_settings_for_the_code_with_both_templates_match_the_queue(
    tf: TerraformDir, bicep_files: dict[str, bicep.BicepFile]
) -> None:
    queue = bicep_files["app"].variables["signalsQueue"]
    expected = {
        "queueLockDurationS": _iso_seconds(queue["lockDuration"]),
        "queueDuplicateWindowS": _iso_seconds(queue["duplicateDetectionHistoryTimeWindow"]),
        "queueMessageTtlS": _iso_seconds(queue["defaultMessageTimeToLive"]),
    }
    for name, seconds in expected.items():
        assert bicep_files["app"].variables[name] == seconds
        tf_name = re.sub(r"([A-Z])", r"_\1", name).lower()
        assert tf.locals[tf_name] == seconds
    defaults = Settings.model_fields
    assert defaults["queue_max_delivery_count"].default == queue["maxDeliveryCount"]
    assert defaults["queue_lock_duration_s"].default == expected["queueLockDurationS"]


def test_role_assignments_with_both_templates_are_the_same(
    tf: TerraformDir, bicep_files: dict[str, bicep.BicepFile]
) -> None:
    tf_roles = {
        (ra["scope"], ra["principal"], ra["role_id"])
        for ra in tf.locals["role_assignments"].values()
    }
    rbac = bicep_files["rbac"]
    bicep_roles = {
        (ra["scope"], ra["principal"], ra["roleId"]) for ra in rbac.variables["roleAssignments"]
    }
    assert tf_roles == bicep_roles
    assert {role for _, _, role in tf_roles} <= set(KNOWN_ROLES)
    # The worker never gets Service Bus or blob rights (least privilege).
    worker_roles = {KNOWN_ROLES[role] for _, who, role in tf_roles if who == "worker"}
    assert not {r for r in worker_roles if "Service Bus" in r or "Blob" in r}
    # Each scope kind has a Bicep resource that names assignments with guid() and built-in ids.
    scopes = {scope for scope, _, _ in bicep_roles}
    for rtype, body in rbac.resources.values():
        if rtype.startswith("Microsoft.Authorization/roleAssignments"):
            assert isinstance(body, bicep.ForExpr)
            assert body.body["name"].text.startswith("guid(")
            role_definition = body.body["properties"]["roleDefinitionId"].text
            assert role_definition.startswith(
                "subscriptionResourceId('Microsoft.Authorization/roleDefinitions'"
            )
            scope = re.search(r"ra \. scope == '(\w+)'", body.header)
            assert scope is not None, body.header
            scopes.discard(scope.group(1))
    assert not scopes, f"no Bicep role assignment resource for scopes {scopes}"


def _kql_metric_names(text: str) -> set[str]:
    return set(re.findall(r'"(tradebridge_[a-z_]+)"', text))


def test_alert_rules_with_both_templates_are_the_same(
    tf: TerraformDir, bicep_files: dict[str, bicep.BicepFile]
) -> None:
    tf_alerts = {
        name: (a["query"], a["measure"], a["threshold"], a["severity"], a["frequency"], a["window"])
        for name, a in tf.locals["log_alerts"].items()
    }
    bicep_alerts = {}
    for a in bicep_files["alerts"].variables["logAlerts"]:
        query_file = re.search(r"alerts/([\w-]+\.kql)", a["query"].text).group(1)  # type: ignore[union-attr]
        bicep_alerts[a["name"]] = (
            query_file,
            a["measure"],
            a["threshold"],
            a["severity"],
            a["frequency"],
            a["window"],
        )
    assert tf_alerts == bicep_alerts
    # The list: failures, latency, WebSocket, Redis, auth, kill switch (+ DLQ metric).
    assert set(tf_alerts) == {
        "function-failures", "webhook-latency", "websocket-disconnects",
        "redis-errors", "auth-failures", "kill-switch",
    }  # fmt: skip
    tf_dlq = tf.resources[("azurerm_monitor_metric_alert", "dead_letters")]["criteria"][0]
    bicep_dlq = bicep_files["alerts"].resources["deadLetterAlert"][1]["properties"]["criteria"]
    assert tf_dlq["metric_name"] == bicep_dlq["allOf"][0]["metricName"] == "DeadletteredMessages"


def test_alert_and_workbook_queries_with_telemetry_names_use_declared_metrics() -> None:
    used: set[str] = set()
    for kql in (ROOT / "infra" / "alerts").glob("*.kql"):
        used |= _kql_metric_names(kql.read_text(encoding="utf-8"))
    workbook = (ROOT / "infra" / "workbook" / "signal-pipeline.json").read_text(encoding="utf-8")
    used |= set(re.findall(r'\\"(tradebridge_[a-z_]+)\\"', workbook))
    assert used, "queries name no custom metric"
    assert used <= METRIC_NAMES, f"undeclared metric names: {used - METRIC_NAMES}"


def test_flex_function_app_with_both_templates_is_configured_alike(
    tf: TerraformDir, bicep_files: dict[str, bicep.BicepFile]
) -> None:
    app = tf.resources[("azurerm_function_app_flex_consumption", "func")]
    config = _module_body(bicep_files, "sites", "functionApp")["params"]["functionAppConfig"]
    assert (app["runtime_name"], app["runtime_version"]) == ("python", "3.12")
    assert config["runtime"] == {"name": "python", "version": "3.12"}
    scale = config["scaleAndConcurrency"]
    assert app["instance_memory_in_mb"] == scale["instanceMemoryMB"] == 512
    assert app["maximum_instance_count"] == scale["maximumInstanceCount"]
    tf_ready = [r["name"] for r in app["always_ready"]]
    bicep_ready = [r["name"] for r in scale["alwaysReady"]]
    assert [n.replace("var.execute_function_name", "executeFunctionName") for n in tf_ready] == [
        n if isinstance(n, str) else n.text for n in bicep_ready
    ]
    assert tf_ready[0] == "http"
    assert (
        app["storage_authentication_type"]
        == config["deployment"]["storage"]["authentication"]["type"]
    )


# Hardening that checkov verifies on the Terraform resources; the same values on the Bicep
# module inputs (which checkov cannot see): "tf_type.name.attribute.path",
# "bicep_file:module_symbol.param.path", and the value both must have.
HARDENING = [
    (
        "azurerm_storage_account.main.shared_access_key_enabled",
        "app:storage.allowSharedKeyAccess",
        False,
    ),
    ("azurerm_storage_account.main.min_tls_version", "app:storage.minimumTlsVersion", "TLS1_2"),
    (
        "azurerm_storage_account.main.allow_nested_items_to_be_public",
        "app:storage.allowBlobPublicAccess",
        False,
    ),
    ("azurerm_storage_account.main.local_user_enabled", "app:storage.isLocalUserEnabled", False),
    (
        "azurerm_servicebus_namespace.main.local_auth_enabled",
        "app:serviceBus.disableLocalAuth",
        "negated",
    ),
    (
        "azurerm_servicebus_namespace.main.minimum_tls_version",
        "app:serviceBus.minimumTlsVersion",
        "1.2",
    ),
    ("azurerm_servicebus_namespace.main.sku", "app:serviceBus.skuObject.name", "Standard"),
    (
        "azurerm_key_vault.main.rbac_authorization_enabled",
        "app:keyVault.enableRbacAuthorization",
        True,
    ),
    ("azurerm_key_vault.main.purge_protection_enabled", "app:keyVault.enablePurgeProtection", True),
    ("azurerm_managed_redis.main.sku_name", "app:redis.skuName", "Balanced_B0"),
    (
        "azurerm_managed_redis.main.default_database.access_keys_authentication_enabled",
        "app:redis.database.accessKeysAuthentication",
        "Disabled",
    ),
    (
        "azurerm_managed_redis.main.default_database.client_protocol",
        "app:redis.database.clientProtocol",
        "Encrypted",
    ),
    (
        "azurerm_linux_web_app.worker.public_network_access_enabled",
        "sites:workerApp.publicNetworkAccess",
        "Disabled",
    ),
    ("azurerm_linux_web_app.worker.https_only", "sites:workerApp.httpsOnly", True),
    (
        "azurerm_linux_web_app.worker.site_config.always_on",
        "sites:workerApp.siteConfig.alwaysOn",
        True,
    ),
    (
        "azurerm_linux_web_app.worker.site_config.websockets_enabled",
        "sites:workerApp.siteConfig.webSocketsEnabled",
        True,
    ),
    (
        "azurerm_linux_web_app.worker.site_config.health_check_path",
        "sites:workerApp.siteConfig.healthCheckPath",
        "/healthz",
    ),
    (
        "azurerm_linux_web_app.worker.site_config.minimum_tls_version",
        "sites:workerApp.siteConfig.minTlsVersion",
        "1.2",
    ),
    (
        "azurerm_linux_web_app.worker.site_config.ip_restriction_default_action",
        "sites:workerApp.siteConfig.ipSecurityRestrictionsDefaultAction",
        "Deny",
    ),
    ("azurerm_function_app_flex_consumption.func.https_only", "sites:functionApp.httpsOnly", True),
    (
        "azurerm_function_app_flex_consumption.func.site_config.minimum_tls_version",
        "sites:functionApp.siteConfig.minTlsVersion",
        "1.2",
    ),
]


def _dig(node: Any, path: str) -> Any:
    for part in path.split("."):
        node = node[0] if isinstance(node, list) else node
        node = node[part]
    return node


@pytest.mark.parametrize(
    ("tf_ref", "bicep_ref", "value"), HARDENING, ids=lambda v: str(v).split(":")[-1]
)
def test_hardening_with_both_templates_is_the_same(
    tf: TerraformDir,
    bicep_files: dict[str, bicep.BicepFile],
    tf_ref: str,
    bicep_ref: str,
    value: object,
) -> None:
    rtype, name, attribute = tf_ref.split(".", 2)
    tf_value = _dig(tf.resources[(rtype, name)], attribute)
    file, _, rest = bicep_ref.partition(":")
    symbol, _, param = rest.partition(".")
    bicep_value = _dig(_module_body(bicep_files, file, symbol)["params"], param)
    if value == "negated":
        assert tf_value is False
        assert bicep_value is True
    elif value == "Disabled" and isinstance(tf_value, bool):
        assert tf_value is False
        assert bicep_value == "Disabled"
    else:
        assert tf_value == bicep_value == value
