"""azd postprovision: write local.settings.json for running the app locally against Azure.

Reads the deployment outputs azd puts in the hook's environment. Identity-based settings only:
`az login` gives DefaultAzureCredential your identity locally (grant yourself the same data
roles to use it). Secrets are never written: TRADOVATE_PASSWORD/SEC stay empty, and the file is
gitignored. An existing file is kept as local.settings.json.bak.

Redis is Azure Managed Redis with access keys off, so the file says REDIS_AUTH=entra and no
AZURE_CLIENT_ID: the Redis client signs in with your `az login` identity's token as
AUTH <your object id> <token>. That works because the deployment gives the deploying principal
(Bicep param ``principalId`` / Terraform ``principal_id``, which azd fills with your object id)
a Redis access policy assignment next to the two apps' identities; deploy without it and Redis
answers redis_auth_failed. See learn.microsoft.com/azure/redis/entra-for-authentication.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    env = os.environ
    values = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "QUEUE_BACKEND": "servicebus",
        "SIGNALS_QUEUE_NAME": env.get("SIGNALS_QUEUE_NAME", "signals"),
        "ServiceBusConnection__fullyQualifiedNamespace": env.get("SERVICEBUS_NAMESPACE", ""),
        "TablesConnection__serviceUri": env.get("TABLES_SERVICE_URI", ""),
        "KEY_VAULT_URI": env.get("KEY_VAULT_URI", ""),
        "REDIS_URL": f"rediss://{env.get('REDIS_HOSTNAME', '')}:10000",
        "REDIS_AUTH": "entra",
        "APPLICATIONINSIGHTS_CONNECTION_STRING": env.get(
            "APPLICATIONINSIGHTS_CONNECTION_STRING", ""
        ),
        "TRADOVATE_BASE_URL": env.get("TRADOVATE_BASE_URL", "https://demo.tradovateapi.com/v1"),
        "TRADOVATE_USERNAME": env.get("TRADOVATE_USERNAME", ""),
        "TRADOVATE_CID": env.get("TRADOVATE_CID", ""),
        "TRADOVATE_DEVICE_ID": env.get("TRADOVATE_DEVICE_ID", ""),
        "TRADOVATE_PASSWORD": "",
        "TRADOVATE_SEC": "",
        "PAPER": "true",
    }
    target = ROOT / "local.settings.json"
    if target.exists():
        shutil.copy2(target, target.with_suffix(".json.bak"))
    target.write_text(json.dumps({"IsEncrypted": False, "Values": values}, indent=2) + "\n")
    print(f"postprovision: wrote {target.name}; fill in TRADOVATE_PASSWORD/SEC yourself")


if __name__ == "__main__":
    main()
