"""The Azure-like stack's app settings: the IaC's, with only Azure resources swapped, and Key
Vault references resolved (or left unresolved and refused) as App Service does."""

from __future__ import annotations

from pathlib import Path

import pytest

from local import bicep_reader
from local.azurelike.bicep_eval import AzureValue, Evaluator
from local.azurelike.layout import LOCAL_STRATEGIES, deployed_strategies
from local.azurelike.settings import (
    APP_BICEP,
    Locals,
    app_settings,
    local_vault,
    resolve_references,
    secret_name,
    unresolved,
)
from shared.config import load_settings
from shared.domain.errors import ConfigError
from shared.strategies import load_strategies

LOCAL = Locals(
    redis_url="redis://127.0.0.1:6390/0",
    tables_uri="https://127.0.0.1:10443/devstoreaccount1",
    tradovate_base_url="http://127.0.0.1:9000/v1",
    tradovate_md_ws_url="ws://127.0.0.1:9000/md/v1/websocket",
    function_client_id="func-client",
    worker_client_id="worker-client",
    strategy_ids=("demo",),
)


def test_function_settings_with_local_stand_ins_keep_every_other_iac_value() -> None:
    settings = app_settings("functions", LOCAL)
    assert settings["REDIS_URL"] == LOCAL.redis_url
    assert settings["TablesConnection__serviceUri"] == LOCAL.tables_uri
    assert settings["TRADOVATE_BASE_URL"] == LOCAL.tradovate_base_url
    assert settings["TRADOVATE_MD_WS_URL"] == LOCAL.tradovate_md_ws_url
    for name in ("AZURE_CLIENT_ID", "TablesConnection__clientId", "ServiceBusConnection__clientId"):
        assert settings[name] == "func-client"
    assert (settings["QUEUE_BACKEND"], settings["KEY_VAULT_URI"]) == ("local", "")
    assert not [name for name in settings if name.startswith("APPLICATIONINSIGHTS_")]
    assert "ServiceBusConnection__fullyQualifiedNamespace" not in settings
    # As the IaC says: relative strategy file, identity for Tables, Entra for Redis, queue tuning.
    assert settings["STRATEGIES_FILE"] == "strategies.toml"
    assert settings["TablesConnection__credential"] == "managedidentity"
    assert settings["REDIS_AUTH"] == "entra"
    assert (settings["QUEUE_MAX_DELIVERY_COUNT"], settings["PAPER"]) == ("5", "true")
    assert settings["TRADOVATE_WS_HEARTBEAT_S"] == "2.5"
    assert secret_name(settings["TRADOVATE_PASSWORD"]) == "tradovate-password"
    assert secret_name(settings["WEBHOOK_SECRET_DEMO"]) == "webhook-secret-demo"


def test_worker_settings_use_the_worker_identity_and_no_webhook_secrets() -> None:
    settings = app_settings("worker", LOCAL)
    assert settings["AZURE_CLIENT_ID"] == settings["TablesConnection__clientId"] == "worker-client"
    assert not [name for name in settings if name.startswith(("WEBHOOK_SECRET_", "QUEUE_"))]
    assert unresolved(settings) == ["TRADOVATE_PASSWORD", "TRADOVATE_SEC"]


def test_app_settings_with_a_resource_setting_without_stand_in_is_refused(tmp_path: Path) -> None:
    bicep = tmp_path / "app.bicep"
    text = APP_BICEP.read_text(encoding="utf-8")
    anchor = "var commonAppSettings = {\n"
    assert anchor in text
    new = anchor + "  NEW_BLOB_URI: storage.outputs.serviceEndpoints.blob\n"
    bicep.write_text(text.replace(anchor, new), encoding="utf-8")
    with pytest.raises(ValueError, match="NEW_BLOB_URI names an Azure resource"):
        app_settings("worker", LOCAL, bicep)


def test_resolve_references_with_missing_secret_leaves_the_reference_text() -> None:
    settings = {
        "A": "@Microsoft.KeyVault(VaultName=kv;SecretName=present)",
        "B": "@Microsoft.KeyVault(VaultName=kv;SecretName=absent)",
        "C": "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/present/)",
        "D": "plain",
    }
    resolved = resolve_references(settings, {"present": "s3cret"})
    assert resolved == {"A": "s3cret", "B": settings["B"], "C": "s3cret", "D": "plain"}
    assert unresolved(resolved) == ["B"]


def test_local_vault_holds_the_simulator_login_and_fresh_webhook_secrets() -> None:
    first, second = local_vault(["demo"]), local_vault(["demo"])
    assert first["tradovate-password"] == "sim-password"
    assert first["webhook-secret-demo"] != second["webhook-secret-demo"]


def test_settings_with_unresolved_password_are_refused_with_its_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vault = local_vault(["demo"])
    del vault["tradovate-password"]
    for name, value in resolve_references(app_settings("functions", LOCAL), vault).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert refused.value.code == "unresolved_key_vault_reference"
    assert "TRADOVATE_PASSWORD" in refused.value.message


def test_settings_with_every_secret_resolved_load(monkeypatch: pytest.MonkeyPatch) -> None:
    vault = local_vault(["demo"])
    for name, value in resolve_references(app_settings("functions", LOCAL), vault).items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.tradovate_password.get_secret_value() == "sim-password"
    assert settings.tables_service_uri == LOCAL.tables_uri


def test_deployed_strategies_name_the_secrets_the_iac_sets(tmp_path: Path) -> None:
    text, ids = deployed_strategies(LOCAL_STRATEGIES)
    shipped = tmp_path / "strategies.toml"
    shipped.write_text(text, encoding="utf-8")
    strategies = load_strategies(shipped)
    assert tuple(strategies) == ids == ("demo",)
    secret = strategies["demo"].secret
    assert (secret.key_vault_name, secret.env_name) == (
        "webhook-secret-demo",
        "WEBHOOK_SECRET_DEMO",
    )
    assert "WEBHOOK_SECRET_DEMO" in app_settings("functions", LOCAL)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("flag ? 'yes' : 'no'", "yes"),
        ("format('{0}-{1}', 'a', 2)", "a-2"),
        ("toUpper(replace('nq-trend', '-', '_'))", "NQ_TREND"),
        ("'x-${name}-y'", "x-demo-y"),
        ("string(flag)", "true"),
        ("thing.outputs.id", AzureValue("thing.outputs.id")),
        ("'${thing.outputs.host}:1'", AzureValue("${thing.outputs.host}:1")),
    ],
)
def test_evaluator_with_supported_shapes_returns_their_value(
    tmp_path: Path, expression: str, expected: object
) -> None:
    bicep = tmp_path / "t.bicep"
    bicep.write_text("module thing 'x.bicep' = {\n  name: 'thing'\n}\n", encoding="utf-8")
    evaluator = Evaluator(bicep_reader.parse_file(bicep), {"flag": True, "name": "demo"})
    assert evaluator.expression(expression, {}) == expected


def test_evaluator_with_unknown_function_is_refused(tmp_path: Path) -> None:
    bicep = tmp_path / "t.bicep"
    bicep.write_text("param p string\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unsupported Bicep function"):
        Evaluator(bicep_reader.parse_file(bicep), {}).expression("uniqueString('a')", {})
