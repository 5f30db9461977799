"""Settings as Azure delivers them: unresolved Key Vault references, paths from the app root."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from shared.adapters.secrets import EnvSecretStore
from shared.config import APP_ROOT, is_unresolved_reference, load_settings
from shared.container import Container
from shared.domain.errors import ConfigError
from tests.conftest import make_settings
from tests.fakes import FakeSecrets
from worker.awaiting import (
    Reference,
    unresolved_references,
    wait_for_secrets,
    waiting_health,
)

# How App Service leaves a reference it could not resolve: the setting's own text.
UNRESOLVED = "@Microsoft.KeyVault(VaultName=kv-tb-abc;SecretName=tradovate-password)"


def _base_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "REDIS_URL": "redis://127.0.0.1:6380/0",
        "TRADOVATE_USERNAME": "trader",
        "TRADOVATE_PASSWORD": "pw",
        "TRADOVATE_CID": "8",
        "TRADOVATE_SEC": "sec",
        "TRADOVATE_DEVICE_ID": "dev",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    "reference",
    [
        UNRESOLVED,
        "@Microsoft.KeyVault(SecretUri=https://kv-tb-abc.vault.azure.net/secrets/tradovate-sec/)",
        "  @microsoft.keyvault(VaultName=kv;SecretName=x)",
    ],
)
def test_load_settings_with_unresolved_reference_refuses_and_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, reference: str
) -> None:
    _base_environment(monkeypatch)
    monkeypatch.setenv("TRADOVATE_SEC", reference)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.code == "unresolved_key_vault_reference"
    assert "TRADOVATE_SEC" in info.value.message
    assert "restart" in info.value.message


def test_load_settings_with_reference_in_a_plain_setting_refuses_it_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _base_environment(monkeypatch)
    monkeypatch.setenv("TRADOVATE_USERNAME", UNRESOLVED)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.code == "unresolved_key_vault_reference"


def test_load_settings_with_resolved_values_accepts_them(monkeypatch: pytest.MonkeyPatch) -> None:
    _base_environment(monkeypatch)
    # A password that merely mentions the words is a value, not a reference.
    monkeypatch.setenv("TRADOVATE_PASSWORD", "my @Microsoft.KeyVault( password")
    settings = load_settings()
    assert settings.tradovate_password.get_secret_value().startswith("my ")


def test_env_secret_store_with_unresolved_webhook_secret_refuses_it() -> None:
    store = EnvSecretStore({"WEBHOOK_SECRET_DEFAULT": UNRESOLVED})
    with pytest.raises(ConfigError) as info:
        asyncio.run(store.get_secret("webhook-secret-default", "WEBHOOK_SECRET_DEFAULT"))
    assert info.value.code == "unresolved_key_vault_reference"


def test_strategies_path_with_relative_name_resolves_from_app_root_not_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the Functions host promises no working directory
    settings = make_settings(strategies_file="local/strategies.local.toml")
    assert settings.strategies_path == APP_ROOT / "local" / "strategies.local.toml"
    book = Container(settings).strategies
    assert "demo" in book
    assert Path.cwd() == tmp_path


def test_strategies_path_with_absolute_name_keeps_it(tmp_path: Path) -> None:
    target = tmp_path / "s.toml"
    assert make_settings(strategies_file=str(target)).strategies_path == target


def test_app_root_holds_the_function_app() -> None:
    assert (APP_ROOT / "function_app.py").is_file()
    assert (APP_ROOT / "host.json").is_file()


def test_unresolved_references_with_both_reference_forms_name_each_secret() -> None:
    environ = {
        "TRADOVATE_PASSWORD": UNRESOLVED,
        "TRADOVATE_SEC": "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/tradovate-sec/abc)",
        "TRADOVATE_USERNAME": "trader",
    }
    assert unresolved_references(environ) == [
        Reference("TRADOVATE_PASSWORD", "tradovate-password"),
        Reference("TRADOVATE_SEC", "tradovate-sec"),
    ]
    assert is_unresolved_reference(environ["TRADOVATE_SEC"])
    assert not is_unresolved_reference(environ["TRADOVATE_USERNAME"])


class AppearingSecrets(FakeSecrets):
    """A vault whose secrets are stored after ``polls_before`` reads."""

    def __init__(self, values: dict[str, str], polls_before: int) -> None:
        super().__init__({})
        self._later = values
        self._polls_before = polls_before
        self.reads = 0

    async def get_secret(self, key_vault_name: str, env_name: str) -> str:
        self.reads += 1
        if self.reads > self._polls_before:
            self.values = {env: self._later[key_vault_name] for env in [env_name]}
        return await super().get_secret(key_vault_name, env_name)


def test_wait_for_secrets_with_secret_stored_later_fills_the_environment() -> None:
    refs = [Reference("TRADOVATE_PASSWORD", "tradovate-password")]
    store = AppearingSecrets({"tradovate-password": "stored-later"}, polls_before=2)
    environ = {"TRADOVATE_PASSWORD": UNRESOLVED}
    seen: list[list[Reference]] = []

    async def run() -> bool:
        return await wait_for_secrets(
            refs, store, environ, stop=asyncio.Event(), interval_s=0.01, on_pending=seen.append
        )

    assert asyncio.run(run()) is True
    assert environ["TRADOVATE_PASSWORD"] == "stored-later"
    assert store.reads == 3
    assert seen[-1] == []
    assert seen[0] == refs


def test_wait_for_secrets_when_stopped_returns_false_and_leaves_the_reference() -> None:
    refs = [Reference("TRADOVATE_SEC", "tradovate-sec")]
    environ = {"TRADOVATE_SEC": UNRESOLVED}

    async def run() -> bool:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, stop.set)
        return await wait_for_secrets(refs, FakeSecrets({}), environ, stop=stop, interval_s=10)

    assert asyncio.run(run()) is False
    assert environ["TRADOVATE_SEC"] == UNRESOLVED


def test_waiting_health_is_unhealthy_and_says_why() -> None:
    body = waiting_health([Reference("TRADOVATE_SEC", "tradovate-sec")])
    assert body["healthy"] is False
    assert body["status"] == "waiting_for_secrets"
    assert body["settings"] == ["TRADOVATE_SEC"]
    assert "tradovate-sec" in str(body["message"])
    assert os.environ.get("TRADOVATE_SEC") is None


def test_load_settings_with_namespace_and_connection_string_refuses_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The trigger would take the string, which a namespace with SAS keys off refuses.
    _base_environment(monkeypatch)
    monkeypatch.setenv("ServiceBusConnection__fullyQualifiedNamespace", "ns.servicebus.windows.net")
    monkeypatch.setenv("ServiceBusConnection", "Endpoint=sb://ns.servicebus.windows.net/;x=y")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.code == "invalid_settings"
    assert "not both" in info.value.message
    assert "x=y" not in info.value.message
