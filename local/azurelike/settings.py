"""Take the apps' settings from the IaC, swap Azure resources for local stand-ins, and play
App Service's part in resolving Key Vault references.

``app_settings`` evaluates what ``infra/bicep/modules/app.bicep`` hands App Service (the
``sites`` module's ``functionAppSettings`` and ``workerAppSettings``: commonAppSettings with
functionOnlySettings and the webhook secrets, or with workerOnlySettings), with the deploy
parameters filled in for the simulator. Every setting keeps the IaC's value except those that
name an Azure resource, which ``STAND_INS`` replaces or removes, each for a stated reason; a
new setting naming a resource without a stand-in here raises, rather than pass a bogus value.

``resolve_references`` stands in for the platform: a ``@Microsoft.KeyVault(...)`` value
whose secret is in the local vault (a dict, secret name -> value) becomes the secret; one
whose secret is absent stays as its own text, exactly as App Service leaves it, and the app
must refuse it (``shared.config`` raises ``ConfigError`` ``unresolved_key_vault_reference``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from local import bicep_reader
from local.azurelike.bicep_eval import AzureValue, Evaluator
from local.services import REPO_ROOT

APP_BICEP = REPO_ROOT / "infra" / "bicep" / "modules" / "app.bicep"
App = Literal["functions", "worker"]

# The simulator's documented default login (local/tradovate_sim), as local/stack.py uses it.
SIM_USERNAME, SIM_PASSWORD, SIM_CID, SIM_SEC = "sim-trader", "sim-password", "8", "sim-api-secret"

_REFERENCE = re.compile(r"^\s*@Microsoft\.KeyVault\((?P<body>.*)\)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Locals:
    """What stands in for each Azure resource in this run."""

    redis_url: str
    tables_uri: str
    tradovate_base_url: str
    tradovate_md_ws_url: str
    function_client_id: str
    worker_client_id: str
    strategy_ids: tuple[str, ...]
    device_id: str = "tradebridge-azure-like"


# Setting -> what replaces its IaC value locally (None: the setting is removed).
STAND_INS: dict[str, Callable[[Locals], str | None]] = {
    # Azure Managed Redis -> the ACL redis-server; no TLS locally, so redis:// (REDIS_AUTH
    # stays as the IaC says: the apps still sign in with an Entra token).
    "REDIS_URL": lambda loc: loc.redis_url,
    # The storage account -> Azurite over HTTPS with --oauth basic, reached with a token.
    "TablesConnection__serviceUri": lambda loc: loc.tables_uri,
    # Secrets arrive resolved (resolve_references); the apps must not also read the vault.
    "KEY_VAULT_URI": lambda loc: "",
    # There is no Service Bus emulator here: the Redis-backed local queue stands in, and the
    # dev host delivers it to the Service Bus-triggered functions.
    "QUEUE_BACKEND": lambda loc: "local",
    "ServiceBusConnection__fullyQualifiedNamespace": lambda loc: None,
    # The dev host stands in for the Functions host and keeps no host storage.
    "AzureWebJobsStorage__blobServiceUri": lambda loc: None,
    "AzureWebJobsStorage__queueServiceUri": lambda loc: None,
    "AzureWebJobsStorage__tableServiceUri": lambda loc: None,
    # Alerts reach the local webhook from this machine, not from TradingView's addresses.
    "WEBHOOK_EXTRA_ALLOWED_IPS": lambda loc: "127.0.0.1",
}
# No Application Insights locally: its settings go (telemetry stays off without them).
_REMOVED_PREFIXES = ("APPLICATIONINSIGHTS_",)


def deploy_parameters(loc: Locals) -> dict[str, Any]:
    """Return the values azd would pass for the parameters the settings use."""
    return {
        "suffix": "local",
        "tradovateBaseUrl": loc.tradovate_base_url,
        "tradovateMdWsUrl": loc.tradovate_md_ws_url,
        "tradovateUsername": SIM_USERNAME,
        "tradovateCid": SIM_CID,
        "tradovateDeviceId": loc.device_id,
        "paper": True,
        "strategyIds": list(loc.strategy_ids),
        "deployWorker": True,
        # Notifications stay off (main.bicep's defaults): no chat webhook, no e-mail.
        "notifyWebhook": False,
        "notifyWebhookFormat": "auto",
        "notifyTelegramChatId": "",
        "notifyEmailTo": "",
        "notifyEmailFrom": "",
        "deployEmail": False,
        "smtpHost": "",
        "smtpPort": 587,
        "smtpUsername": "",
        "smtpPassword": False,
    }


def app_settings(app: App, loc: Locals, bicep: Path = APP_BICEP) -> dict[str, str]:
    """Return ``app``'s settings as the IaC declares them, resources swapped for stand-ins
    (Key Vault references left in place)."""
    parsed = bicep_reader.parse_file(bicep)
    identities = {
        "funcIdentity.outputs.clientId": loc.function_client_id,
        "workerIdentity.outputs.clientId": loc.worker_client_id,
    }
    evaluator = Evaluator(parsed, deploy_parameters(loc), identities)
    sites = bicep_reader.unwrap(parsed.modules["sites"][1])["params"]
    entries = evaluator.value(
        sites[f"{'function' if app == 'functions' else 'worker'}AppSettings"], {}
    )
    settings: dict[str, str] = {}
    for entry in entries:
        name, value = str(entry["name"]), entry["value"]
        if name.startswith(_REMOVED_PREFIXES):
            continue
        if name in STAND_INS:
            replaced = STAND_INS[name](loc)
            if replaced is not None:
                settings[name] = replaced
            continue
        if isinstance(value, AzureValue):
            raise ValueError(
                f"{app} setting {name} names an Azure resource ({value.text}) that has no "
                "local stand-in in local/azurelike/settings.py"
            )
        settings[name] = _text(value)
    return settings


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def local_vault(strategy_ids: Iterable[str]) -> dict[str, str]:
    """Return the local Key Vault: the simulator's login and a fresh secret per strategy."""
    vault = {"tradovate-password": SIM_PASSWORD, "tradovate-sec": SIM_SEC}
    for strategy_id in strategy_ids:
        vault[f"webhook-secret-{strategy_id}"] = secrets.token_urlsafe(24)
    return vault


def secret_name(value: str) -> str | None:
    """Return the secret a Key Vault reference names, or None if ``value`` is not one."""
    match = _REFERENCE.match(value)
    if match is None:
        return None
    parts = dict(
        part.split("=", 1) for part in match.group("body").split(";") if "=" in part.strip()
    )
    fields = {key.strip().lower(): item.strip() for key, item in parts.items()}
    if "secretname" in fields:
        return fields["secretname"]
    uri = fields.get("secreturi")
    if uri:  # https://<vault>.vault.azure.net/secrets/<name>[/<version>]
        segments = [s for s in urlsplit(uri).path.split("/") if s]
        return segments[1] if len(segments) >= 2 and segments[0] == "secrets" else None
    return None


def resolve_references(settings: Mapping[str, str], vault: Mapping[str, str]) -> dict[str, str]:
    """Resolve Key Vault references from ``vault``; a missing secret leaves the reference."""
    resolved = {}
    for name, value in settings.items():
        secret = secret_name(value)
        resolved[name] = vault[secret] if secret is not None and secret in vault else value
    return resolved


def unresolved(settings: Mapping[str, str]) -> list[str]:
    """Name the settings that still hold a Key Vault reference."""
    return sorted(name for name, value in settings.items() if secret_name(value) is not None)
