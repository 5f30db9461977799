"""Find webhook secrets: in Key Vault (Azure, managed identity) or the environment (locally)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shared.config import is_unresolved_reference
from shared.domain.errors import ConfigError, DependencyUnavailable

if TYPE_CHECKING:
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


def build_secret_client(vault_uri: str, client_id: str | None) -> SecretClient:
    """Create (without connecting) a Key Vault client signed in with managed identity."""
    from azure.identity.aio import DefaultAzureCredential
    from azure.keyvault.secrets.aio import SecretClient

    return SecretClient(vault_uri, DefaultAzureCredential(managed_identity_client_id=client_id))


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
            raise DependencyUnavailable(
                f"Key Vault refused this app's identity: {type(exc).__name__}",
                code="secrets_auth_failed",
            ) from exc
        except (ServiceRequestError, HttpResponseError, OSError) as exc:
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
