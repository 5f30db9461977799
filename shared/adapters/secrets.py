"""Find webhook secrets: in Key Vault (Azure, managed identity) or the environment (locally).

Key Vault's answers map to three outcomes
(learn.microsoft.com/azure/key-vault/general/rest-error-codes): 401 (no or a wrong token) and
403 (the identity has no role on the vault) are ``DependencyUnavailable("secrets_auth_failed")``,
404 is ``ConfigError("missing_secret")``, and anything else (5xx, no connection) is
``DependencyUnavailable("secrets_unavailable")``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shared.config import is_unresolved_reference
from shared.domain.errors import ConfigError, DependencyUnavailable

_FORBIDDEN = 403

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.core.pipeline.transport import AsyncHttpTransport
    from azure.keyvault.secrets.aio import SecretClient


class EnvSecretStore:
    """Read secrets from environment variables (the local stack and tests)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    async def get_secret(self, key_vault_name: str, env_name: str) -> str:
        """Return the variable ``env_name`` or raise ``ConfigError`` naming it."""
        value = self._environ.get(env_name)
        if not value:
            raise ConfigError(
                f"secret environment variable {env_name} is not set", code="missing_secret"
            )
        if is_unresolved_reference(value):
            # Never compare an alert against the reference's text: it is not the secret.
            raise ConfigError(
                f"{env_name} holds a Key Vault reference the platform could not resolve; "
                "store the secret in Key Vault and restart the app",
                code="unresolved_key_vault_reference",
            )
        return value


def build_secret_client(
    vault_uri: str,
    client_id: str | None,
    *,
    credential: AsyncTokenCredential | None = None,
    transport: AsyncHttpTransport[Any, Any] | None = None,
) -> SecretClient:
    """Create (without connecting) a Key Vault client signed in with managed identity.

    ``credential`` and ``transport`` replace the default identity and HTTP stack (tests).
    """
    from azure.keyvault.secrets.aio import SecretClient

    if credential is None:
        from azure.identity.aio import DefaultAzureCredential

        credential = DefaultAzureCredential(managed_identity_client_id=client_id)
    # Short retries and timeouts: a webhook's cache miss reads here and TradingView gives up
    # after 3 s; the SDK's defaults (3 retries with back-off, long socket timeouts) outlast that.
    options: dict[str, Any] = {
        "retry_total": 1,
        "retry_backoff_factor": 0.2,
        "retry_backoff_max": 1,
        "connection_timeout": 2,
        "read_timeout": 2,
    }
    if transport is not None:
        options["transport"] = transport
    return SecretClient(vault_uri, credential, **options)


class KeyVaultSecretStore:
    """Read secrets from Key Vault, caching each for ``ttl_s`` so the webhook stays fast."""

    def __init__(
        self,
        client_factory: Callable[[], SecretClient],
        *,
        ttl_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = client_factory
        self._client: SecretClient | None = None
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = asyncio.Lock()

    async def get_secret(self, key_vault_name: str, env_name: str) -> str:
        """Return the Key Vault secret ``key_vault_name`` (from cache when fresh)."""
        cached = self._cache.get(key_vault_name)
        if cached is not None and self._clock() - cached[0] < self._ttl_s:
            return cached[1]
        async with self._lock:
            value = await self._fetch(key_vault_name)
        self._cache[key_vault_name] = (self._clock(), value)
        return value

    async def _fetch(self, name: str) -> str:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
        )

        if self._client is None:
            self._client = self._factory()
        try:
            secret: Any = await self._client.get_secret(name)
        except ResourceNotFoundError:
            raise ConfigError(
                f"Key Vault has no secret named {name}", code="missing_secret"
            ) from None
        except ClientAuthenticationError as exc:
            raise _refused(exc) from exc
        except HttpResponseError as exc:
            # The SDK raises a plain HttpResponseError for 403, which Key Vault answers when the
            # identity is known but has no role (Key Vault Secrets User) on the vault.
            if exc.status_code == _FORBIDDEN:
                raise _refused(exc) from exc
            raise DependencyUnavailable(
                f"Key Vault answered HTTP {exc.status_code}", code="secrets_unavailable"
            ) from exc
        except (ServiceRequestError, OSError) as exc:
            raise DependencyUnavailable(
                f"Key Vault could not be reached: {type(exc).__name__}", code="secrets_unavailable"
            ) from exc
        if not secret.value:
            raise ConfigError(f"Key Vault secret {name} is empty", code="missing_secret")
        return str(secret.value)

    async def close(self) -> None:
        """Close the Key Vault client."""
        if self._client is not None:
            await self._client.close()
            self._client = None


def _refused(exc: Exception) -> DependencyUnavailable:
    return DependencyUnavailable(
        f"Key Vault refused this app's identity: {type(exc).__name__}",
        code="secrets_auth_failed",
    )
