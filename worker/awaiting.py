"""Wait, idle and answering health checks, for secrets the platform could not resolve yet.

App Service puts a Key Vault reference into the environment as its own text when the secret
does not exist yet (a first ``azd up`` creates the app before anyone stores the secret) or
the identity may not read it. Logging in to Tradovate with that text would earn a captcha
lockout, and exiting would only crash-loop the container. Instead the worker reads the named
secrets from Key Vault itself, with its own identity, every ``interval_s`` until each one
exists, then starts as usual with the values put into its own environment. It makes no
Tradovate request while it waits, and ``/healthz`` says ``waiting_for_secrets``.
https://learn.microsoft.com/azure/app-service/app-service-key-vault-references
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass

from shared.config import is_unresolved_reference
from shared.domain.errors import BridgeError
from shared.ports import SecretStore

logger = logging.getLogger(__name__)

# Both documented forms: VaultName=...;SecretName=...[;SecretVersion=...] and
# SecretUri=https://<vault>.vault.azure.net/secrets/<name>[/<version>].
_NAME_RE = re.compile(r"SecretName\s*=\s*(?P<name>[0-9A-Za-z-]+)", re.IGNORECASE)
_URI_RE = re.compile(r"SecretUri\s*=\s*https://[^/]+/secrets/(?P<name>[0-9A-Za-z-]+)", re.I)


@dataclass(frozen=True)
class Reference:
    """One app setting whose Key Vault reference was left unresolved."""

    setting: str
    secret_name: str


def unresolved_references(environ: Mapping[str, str]) -> list[Reference]:
    """Return the settings that still hold a Key Vault reference, with the secret each names."""
    found = []
    for setting, value in sorted(environ.items()):
        if not is_unresolved_reference(value):
            continue
        match = _NAME_RE.search(value) or _URI_RE.search(value)
        if match is not None:
            found.append(Reference(setting, match.group("name")))
    return found


def waiting_health(references: list[Reference]) -> dict[str, object]:
    """Return the ``/healthz`` body while the worker waits for ``references``."""
    return {
        "healthy": False,
        "status": "waiting_for_secrets",
        "code": "unresolved_key_vault_reference",
        "settings": [ref.setting for ref in references],
        "message": "waiting for Key Vault secrets "
        + ", ".join(ref.secret_name for ref in references)
        + "; nothing is sent to Tradovate until they exist",
    }


async def wait_for_secrets(
    references: list[Reference],
    store: SecretStore,
    environ: MutableMapping[str, str],
    *,
    stop: asyncio.Event,
    interval_s: float = 30.0,
    on_pending: Callable[[list[Reference]], None] | None = None,
) -> bool:
    """Read each referenced secret until all exist; put them in ``environ``; False if stopped."""
    pending = list(references)
    while pending:
        still: list[Reference] = []
        for ref in pending:
            try:
                environ[ref.setting] = await store.get_secret(ref.secret_name, ref.setting)
            except BridgeError as exc:
                logger.warning(
                    "secret %s for %s not readable yet: %s", ref.secret_name, ref.setting, exc.code
                )
                still.append(ref)
        pending = still
        if on_pending is not None:
            on_pending(pending)
        if not pending:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        if stop.is_set():
            return False
    return True
