"""Azurite's Table service over HTTPS, accepting Entra ID bearer tokens (``--oauth basic``).

What ``--oauth basic`` checks (Azurite 3.x, ``src/table/authentication/TableTokenAuthenticator.ts``
and ``src/common/utils/constants.ts``): a ``Bearer`` token is refused over plain HTTP ("not
allowed with HTTP"), so ``--cert``/``--key`` are required; the JWT must carry ``iat``, ``nbf``
and ``exp`` and be inside nbf..exp; ``iss`` must start with an Entra issuer prefix such as
``https://sts.windows.net/``; ``aud`` must be ``https://storage.azure.com[/]``, the storage
app id ``e406a681-…``, or ``https://<account>.table.core.windows.net[/]``. The signature and
scope are NOT checked. A request with no ``Authorization`` header is refused (403).

Unlike an account with ``allowSharedKeyAccess: false``, Azurite still accepts the
well-known development key and SAS alongside tokens; nothing can switch that off. The apps
are never given the key, so they can only get in with a token, as in Azure.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from local.azurelike.tls import TlsFiles
from local.services import AZURITE_ACCOUNT, AzuriteTables, ServiceError, wait_for_port


class AzuriteTablesOAuth(AzuriteTables):
    """Azurite's Table service on loopback, HTTPS with the run's certificate, OAuth basic."""

    name = "azurite-oauth"

    def __init__(self, host: str, port: int | None, tls: TlsFiles) -> None:
        super().__init__(host, port)
        self.tls = tls

    def _command(self) -> list[str]:
        return [
            *super()._command(),
            "--oauth", "basic",
            "--cert", str(self.tls.server_cert),
            "--key", str(self.tls.server_key),
        ]  # fmt: skip

    def _ready(self) -> None:
        assert self._proc is not None
        wait_for_port(self.host, self.port, 20.0, self._proc)
        # The port opens before the service routes requests; any HTTP answer over TLS (403
        # without credentials) means it serves, and proves the certificate verifies.
        context = self.tls.client_context()
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.endpoint}/Tables", timeout=1, context=context)  # noqa: S310
                return
            except urllib.error.HTTPError:
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise ServiceError("Azurite did not answer HTTPS in time")

    @property
    def endpoint(self) -> str:
        """Return the path-style HTTPS table endpoint of the development account."""
        return f"https://{self.host}:{self.port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        """Refuse: the Azure-like stack signs in with tokens only."""
        raise ServiceError("the Azure-like Azurite is reached with a token, never the account key")
