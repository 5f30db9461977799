"""Key Vault reads at the seam: the real async SecretClient over a transport that plays Key Vault.

Nothing here reaches Azure. ``KeyVaultTransport`` answers as the service does (a 401 challenge to
a request without a token, then the secret bundle to the bearer retry), so the SDK's challenge
policy, retries and error mapping run for real. ``IdentityEndpoint`` plays the App Service /
Functions managed-identity endpoint on loopback, so ``DefaultAzureCredential`` runs its real
managed-identity path; the Service Bus and telemetry seam tests import it from here.
"""

from __future__ import annotations

import http
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from azure.core.pipeline.transport import AsyncHttpTransport
from azure.core.rest import AsyncHttpResponse, HttpRequest
from azure.core.utils import CaseInsensitiveDict
from azure.keyvault.secrets import ApiVersion

from shared.adapters.secrets import KeyVaultSecretStore, build_secret_client
from shared.domain.errors import ConfigError, DependencyUnavailable

TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
VAULT_SCOPE = "https://vault.azure.net/.default"
# learn.microsoft.com/azure/key-vault/general/authentication-requests-and-responses
# ("Authentication"): a request without a token gets 401 and this challenge.
CHALLENGE = (
    f'Bearer authorization="https://login.microsoftonline.com/{TENANT_ID}", '
    'resource="https://vault.azure.net"'
)
# learn.microsoft.com/azure/key-vault/general/rest-error-codes
NOT_FOUND_BODY = {
    "error": {"code": "SecretNotFound", "message": "A secret with (name/id) x was not found."}
}
FORBIDDEN_BODY = {
    "error": {
        "code": "Forbidden",
        "message": "Caller is not authorized to perform action on resource.",
        "innererror": {"code": "ForbiddenByRbac"},
    }
}
UNAUTHORIZED_BODY = {
    "error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer token."}
}


def vault_url() -> str:
    # The SDK caches each vault's challenge per process: a fresh vault per test keeps them apart.
    return f"https://kv-tb-{uuid.uuid4().hex[:10]}.vault.azure.net/"


class PlayedResponse(AsyncHttpResponse):
    """A complete, in-memory answer (what ``azure.core.rest`` promises callers)."""

    def __init__(
        self, request: HttpRequest, status: int, body: object, headers: dict[str, str]
    ) -> None:
        self._request = request
        self._status = status
        self._content = json.dumps(body).encode()
        self._headers = CaseInsensitiveDict({"Content-Type": "application/json", **headers})
        self._closed = False

    @property
    def request(self) -> HttpRequest:
        return self._request

    @property
    def status_code(self) -> int:
        return self._status

    @property
    def headers(self) -> Any:
        return self._headers

    @property
    def reason(self) -> str:
        return http.HTTPStatus(self._status).phrase

    @property
    def content_type(self) -> str | None:
        return str(self._headers["Content-Type"])

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def is_stream_consumed(self) -> bool:
        return True

    @property
    def encoding(self) -> str | None:
        return "utf-8"

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        return None

    @property
    def url(self) -> str:
        return self._request.url

    @property
    def content(self) -> bytes:
        return self._content

    def text(self, encoding: str | None = None) -> str:
        return self._content.decode(encoding or "utf-8")

    def json(self) -> Any:
        return json.loads(self._content)

    def raise_for_status(self) -> None:
        if self._status >= 400:
            raise HttpResponseError(response=self)

    async def read(self) -> bytes:
        return self._content

    async def iter_raw(self, **kwargs: Any) -> AsyncIterator[bytes]:
        yield self._content

    async def iter_bytes(self, **kwargs: Any) -> AsyncIterator[bytes]:
        yield self._content

    async def close(self) -> None:
        self._closed = True

    async def __aexit__(self, *args: object) -> None:
        await self.close()


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None


class KeyVaultTransport(AsyncHttpTransport):  # type: ignore[type-arg]
    """Answer as Key Vault does: challenge, then serve secrets to bearer requests."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.requests: list[SeenRequest] = []
        self.sleeps: list[float] = []
        self.status_for_bearer: tuple[int, object] | None = None
        self.fail_with: Exception | None = None

    async def send(self, request: HttpRequest, **kwargs: Any) -> PlayedResponse:
        parts = urlsplit(request.url)
        authorization = request.headers.get("Authorization")
        self.requests.append(
            SeenRequest(request.method, parts.path, parse_qs(parts.query), authorization)
        )
        if self.fail_with is not None:
            raise self.fail_with
        if not authorization:
            return PlayedResponse(request, 401, UNAUTHORIZED_BODY, {"WWW-Authenticate": CHALLENGE})
        if self.status_for_bearer is not None:
            status, body = self.status_for_bearer
            headers = {"WWW-Authenticate": CHALLENGE} if status == 401 else {}
            return PlayedResponse(request, status, body, headers)
        _, kind, name, version = parts.path.split("/", 3)
        if kind != "secrets" or name not in self.secrets:
            return PlayedResponse(request, 404, NOT_FOUND_BODY, {})
        bundle = {
            "value": self.secrets[name],
            "id": f"https://{parts.netloc}/secrets/{name}/{version or '0' * 32}",
            "attributes": {"enabled": True, "created": 1_700_000_000, "updated": 1_700_000_000},
            "tags": {},
        }
        return PlayedResponse(request, 200, bundle, {})

    async def sleep(self, duration: float) -> None:
        self.sleeps.append(duration)  # the SDK's retry backoff, without the wait

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> KeyVaultTransport:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


class RecordingCredential:
    """Hand out tokens and remember every scope and tenant asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[str, ...], str | None]] = []
        self.closed = False

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.calls.append(("get_token", scopes, tenant_id))
        return AccessToken(f"kv-token-{len(self.calls)}", int(time.time()) + 3600)

    async def get_token_info(
        self, *scopes: str, options: dict[str, Any] | None = None
    ) -> AccessTokenInfo:
        self.calls.append(("get_token_info", scopes, (options or {}).get("tenant_id")))
        return AccessTokenInfo(f"kv-token-{len(self.calls)}", int(time.time()) + 3600)

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> RecordingCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.close()


class IdentityEndpoint:
    """Play the App Service / Functions managed-identity endpoint on loopback.

    learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference:
    GET ``IDENTITY_ENDPOINT?resource=...&api-version=2019-08-01[&client_id=...]`` with the
    ``X-IDENTITY-HEADER`` header; the answer carries ``access_token`` and ``expires_on``.
    """

    def __init__(self) -> None:
        self.header = uuid.uuid4().hex
        self.requests: list[tuple[dict[str, str], str | None]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                header = self.headers.get("X-IDENTITY-HEADER")
                endpoint.requests.append((query, header))
                if header != endpoint.header:
                    self._answer(401, {"error": "invalid X-IDENTITY-HEADER"})
                    return
                self._answer(
                    200,
                    {
                        "access_token": f"mi-token-{len(endpoint.requests)}",
                        "expires_on": str(int(time.time()) + 3600),
                        "resource": query.get("resource", ""),
                        "token_type": "Bearer",
                        "client_id": query.get("client_id", "system-assigned"),
                    },
                )

            def _answer(self, status: int, body: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/msi/token"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> IdentityEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# Settings that would send azure-identity anywhere but the loopback endpoint.
_OTHER_IDENTITY_SETTINGS = (
    "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME",
    "AZURE_FEDERATED_TOKEN_FILE", "AZURE_TOKEN_CREDENTIALS", "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT",
)  # fmt: skip


@pytest.fixture
def identity_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[IdentityEndpoint]:
    """Point managed identity at a loopback endpoint, as the Functions host does with its own."""
    for name in _OTHER_IDENTITY_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    with IdentityEndpoint() as endpoint:
        monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint.url)
        monkeypatch.setenv("IDENTITY_HEADER", endpoint.header)
        yield endpoint


def store_for(
    transport: KeyVaultTransport,
    credential: RecordingCredential,
    *,
    ttl_s: float = 300.0,
    clock: list[float] | None = None,
) -> KeyVaultSecretStore:
    url = vault_url()
    now = clock if clock is not None else [0.0]
    return KeyVaultSecretStore(
        lambda: build_secret_client(url, None, credential=credential, transport=transport),
        ttl_s=ttl_s,
        clock=lambda: now[0],
    )


async def test_key_vault_read_with_challenge_then_bearer_asks_for_the_vault_scope() -> None:
    transport = KeyVaultTransport({"webhook-secret-open": "s3cr3t"})
    credential = RecordingCredential()
    store = store_for(transport, credential)

    value = await store.get_secret("webhook-secret-open", "WEBHOOK_SECRET_OPEN")
    await store.close()

    assert value == "s3cr3t"
    first, retry = transport.requests
    # learn.microsoft.com/azure/key-vault/general/authentication-requests-and-responses: the
    # client learns the authority and resource from the 401 challenge, then sends the token.
    assert first.authorization is None
    assert retry.authorization == "Bearer kv-token-1"
    # learn.microsoft.com/entra/identity-platform/scopes-oidc#the-default-scope: the resource
    # of the challenge plus "/.default", for the tenant the challenge names.
    assert credential.calls == [("get_token_info", (VAULT_SCOPE,), TENANT_ID)]
    # learn.microsoft.com/rest/api/keyvault/secrets/get-secret/get-secret:
    # GET {vaultBaseUrl}/secrets/{secret-name}/{secret-version}?api-version=...; an empty
    # version reads the latest one.
    for request in (first, retry):
        assert (request.method, request.path) == ("GET", "/secrets/webhook-secret-open/")
        assert request.query["api-version"][0] in {v.value for v in ApiVersion}


async def test_key_vault_read_with_fresh_cache_sends_nothing_and_after_ttl_reads_again() -> None:
    transport = KeyVaultTransport({"webhook-secret-open": "first"})
    credential = RecordingCredential()
    clock = [1000.0]
    store = store_for(transport, credential, ttl_s=300.0, clock=clock)

    assert await store.get_secret("webhook-secret-open", "X") == "first"
    transport.secrets["webhook-secret-open"] = "rotated"
    clock[0] += 299.0
    assert await store.get_secret("webhook-secret-open", "X") == "first"
    assert len(transport.requests) == 2  # challenge + bearer, nothing for the cached read

    clock[0] += 1.0
    assert await store.get_secret("webhook-secret-open", "X") == "rotated"
    await store.close()
    # The challenge and the token are reused: one bearer request, no second token.
    assert len(transport.requests) == 3
    assert transport.requests[-1].authorization == "Bearer kv-token-1"
    assert len(credential.calls) == 1


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        # learn.microsoft.com/azure/key-vault/general/rest-error-codes (HTTP 403):
        # the token is valid but the identity has no role (Key Vault Secrets User) on the vault.
        (403, FORBIDDEN_BODY, DependencyUnavailable, "secrets_auth_failed"),
        # ... (HTTP 401): the token was refused (e.g. another tenant).
        (401, UNAUTHORIZED_BODY, DependencyUnavailable, "secrets_auth_failed"),
        # learn.microsoft.com/rest/api/keyvault/secrets/get-secret/get-secret: 404 SecretNotFound.
        (404, NOT_FOUND_BODY, ConfigError, "missing_secret"),
        # ... (HTTP 429 and 5xx): the service, not this app, is the problem.
        (503, {"error": {"code": "ServiceUnavailable", "message": "try later"}},
         DependencyUnavailable, "secrets_unavailable"),
    ],
    ids=["forbidden", "unauthorized", "not-found", "unavailable"],
)  # fmt: skip
async def test_key_vault_read_with_error_status_raises_the_mapped_error(
    status: int, body: object, error: type[Exception], code: str
) -> None:
    transport = KeyVaultTransport({})
    transport.status_for_bearer = (status, body)
    store = store_for(transport, RecordingCredential())

    with pytest.raises(error) as info:
        await store.get_secret("webhook-secret-open", "X")
    await store.close()

    assert getattr(info.value, "code", None) == code


async def test_key_vault_read_with_connection_error_is_unavailable() -> None:
    transport = KeyVaultTransport({"webhook-secret-open": "s3cr3t"})
    # What the aiohttp transport raises when the vault's address cannot be reached.
    transport.fail_with = ServiceRequestError("Cannot connect to host kv-tb.vault.azure.net:443")
    store = store_for(transport, RecordingCredential())

    with pytest.raises(DependencyUnavailable) as info:
        await store.get_secret("webhook-secret-open", "X")
    await store.close()

    assert info.value.code == "secrets_unavailable"
    assert len(transport.requests) > 1  # the SDK retried the connection before giving up


async def test_build_secret_client_with_client_id_gets_the_user_assigned_identitys_token(
    identity_endpoint: IdentityEndpoint,
) -> None:
    client_id = "6f0c9a3e-1d2b-4c5d-8e9f-0a1b2c3d4e5f"
    transport = KeyVaultTransport({"webhook-secret-open": "s3cr3t"})
    client = build_secret_client(vault_url(), client_id, transport=transport)
    store = KeyVaultSecretStore(lambda: client)
    try:
        assert await store.get_secret("webhook-secret-open", "X") == "s3cr3t"
    finally:
        await store.close()
        # SecretClient.close() leaves the credential open; the default one is ours to close.
        await client._client._config.credential.close()

    [(query, header)] = identity_endpoint.requests
    # learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference:
    # a user-assigned identity is picked with client_id; without it the system-assigned one
    # (which this app does not have) would be asked for.
    assert query["client_id"] == client_id
    assert query["resource"] == "https://vault.azure.net"
    assert query["api-version"] == "2019-08-01"
    assert header == identity_endpoint.header
    assert transport.requests[-1].authorization == "Bearer mi-token-1"
