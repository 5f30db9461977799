"""One managed-identity endpoint per app, as in Azure, and a status page for the harness.

In App Service each site has its own identity endpoint, and it hands out tokens only for the
identities assigned to that site: the function app gets ``id-func``'s, the worker
``id-worker``'s (app.bicep). Here each app gets a ``local.identity.LocalIdentity`` knowing only
its identity, which has a Redis access policy (so its tokens become Redis ACL passwords),
plus an ``operator`` identity without one, standing in for the deployer who reads tables.

``GET /identity`` on the status server answers, for each identity, its client and object id,
endpoint and how many tokens it issued per resource; and the operator's environment, so a
test can sign in to Azurite as the operator.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.identity import REDIS_RESOURCE, LocalIdentity

STORAGE_RESOURCE = "https://storage.azure.com"
APPS = ("functions", "worker")


@dataclass(frozen=True)
class Principal:
    """A user-assigned identity: its client id and object (principal) id."""

    client_id: str
    object_id: str

    @classmethod
    def new(cls) -> Principal:
        """Return a fresh identity with random ids, as Entra would assign."""
        return cls(str(uuid.uuid4()), str(uuid.uuid4()))


class Identities(contextlib.ExitStack):
    """Start an identity endpoint per app and the operator's, and serve their status."""

    def __init__(self, host: str, redis_admin_url: str, token_lifetime_s: float) -> None:
        super().__init__()
        self.host = host
        self.tenant_id = str(uuid.uuid4())
        self.principals = {name: Principal.new() for name in (*APPS, "operator")}
        self.endpoints: dict[str, LocalIdentity] = {}
        self._redis_admin_url = redis_admin_url
        self._lifetime_s = token_lifetime_s
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        """Start every endpoint and the status server; return the status URL."""
        for name, principal in self.principals.items():
            redis_users = frozenset() if name == "operator" else frozenset({principal.object_id})
            identity = LocalIdentity(
                self.host,
                identities={principal.client_id: principal.object_id},
                redis_admin_url=self._redis_admin_url if redis_users else None,
                redis_principals=redis_users,
                token_lifetime_s=self._lifetime_s,
                tenant_id=self.tenant_id,
            )
            self.endpoints[name] = self.enter_context(identity)
        self._server = ThreadingHTTPServer((self.host, 0), _handler(self))
        self._server.daemon_threads = True
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        self.callback(thread.join, 5)
        self.callback(self._server.server_close)
        self.callback(self._server.shutdown)
        return f"http://{self.host}:{self._server.server_address[1]}/identity"

    def environment(self, name: str) -> dict[str, str]:
        """Return the variables that point ``name``'s code at its identity endpoint."""
        return self.endpoints[name].environment(self.principals[name].client_id)

    def status(self) -> dict[str, Any]:
        """Describe every identity and count its tokens per resource."""
        apps = {
            name: {
                "client_id": self.principals[name].client_id,
                "object_id": self.principals[name].object_id,
                "endpoint": identity.endpoint,
                "issued": {
                    resource: identity.issued(resource)
                    for resource in (REDIS_RESOURCE, STORAGE_RESOURCE)
                },
            }
            for name, identity in self.endpoints.items()
        }
        return {"tenant_id": self.tenant_id, "apps": apps, "operator": self.environment("operator")}


def _handler(identities: Identities) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path.split("?", 1)[0] == "/identity"
            payload = json.dumps(identities.status() if found else {"error": "not found"})
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload.encode())

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
