"""Stand in for the App Service / Functions managed-identity endpoint, on loopback.

Apps run the real ``azure-identity`` code path against it: with ``IDENTITY_ENDPOINT`` and
``IDENTITY_HEADER`` set, ``DefaultAzureCredential`` picks ``ManagedIdentityCredential``,
which (through MSAL's ``ManagedIdentityClient`` for the sync credential, and azure-identity's
own pipeline for the aio one) sends::

    GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=<resource>[&client_id=<id>]
    X-IDENTITY-HEADER: {IDENTITY_HEADER}

and reads ``access_token``, ``expires_on`` (epoch seconds, a string), ``resource``,
``token_type`` and ``client_id`` from the JSON answer. An identity may also be picked with
``object_id`` / ``principal_id``; an unknown one gets App Service's 400 answer. See
learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference.

Tokens are HS256 JWTs signed with a per-run random key, with the claims Entra puts in a
managed identity's token (``oid``, ``tid``, ``appid``/``azp``, ``aud`` = the resource asked
for, ``iss``, ``iat``, ``nbf``, ``exp``). For Redis (``https://redis.azure.com``) the endpoint
also plays Azure Managed Redis's part: every token issued to an identity with an access
policy (``redis_principals``) becomes a password of the ACL user named by its object id
(through ``redis_admin_url``), and a background revoker removes it when the token expires,
so only identities with an access policy can ``AUTH <oid> <token>``, and only with an
unexpired token (learn.microsoft.com/azure/redis/entra-for-authentication). Unlike AMR,
connections that authenticated with a since-expired token are not closed; tests that need
that force reconnects themselves (``CLIENT KILL USER <oid>``).

``python -m local.identity '{"identities": {...}, ...}'`` (or the JSON on stdin) serves until
SIGTERM and prints one ready line: ``{"identity": endpoint, "header": ..., "tenant_id": ...}``.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import secrets
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import redis

from local.services import wait_for_signal

logger = logging.getLogger(__name__)

API_VERSION = "2019-08-01"
REDIS_RESOURCE = "https://redis.azure.com"
TOKEN_PATH = "/msi/token"  # noqa: S105 - a URL path, not a secret


class LocalIdentity:
    """Serve managed-identity tokens for the given identities on loopback (a context manager)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        identities: dict[str, str],
        redis_admin_url: str | None = None,
        redis_principals: frozenset[str] = frozenset(),
        token_lifetime_s: float = 3600.0,
        tenant_id: str | None = None,
    ) -> None:
        if token_lifetime_s <= 0:
            raise ValueError("token_lifetime_s must be positive")
        self.identities = dict(identities)  # client id -> object id
        self.redis_principals = frozenset(redis_principals)
        self.token_lifetime_s = token_lifetime_s
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.header = secrets.token_urlsafe(24)
        self._key = secrets.token_bytes(32)
        self._issued: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._admin = redis.Redis.from_url(redis_admin_url) if redis_admin_url else None
        self._revoker = _Revoker(self._admin) if self._admin is not None else None
        self._server = ThreadingHTTPServer((host, port or 0), _handler_for(self))
        self._server.daemon_threads = True
        bound_host, bound_port = self._server.server_address[:2]
        self.endpoint = f"http://{bound_host!s}:{bound_port}{TOKEN_PATH}"
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Serve in a background thread (and start the Redis revoker, if any)."""
        if self._revoker is not None:
            self._revoker.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-identity", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and revoke every Redis password still registered."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        if self._revoker is not None:
            self._revoker.stop()
        if self._admin is not None:
            self._admin.close()

    def __enter__(self) -> LocalIdentity:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what callers read ------------------------------------------------------------

    def environment(self, client_id: str) -> dict[str, str]:
        """Return the environment that makes ``DefaultAzureCredential`` use this identity."""
        return {
            "IDENTITY_ENDPOINT": self.endpoint,
            "IDENTITY_HEADER": self.header,
            "AZURE_CLIENT_ID": client_id,
        }

    def issued(self, resource: str | None = None) -> int:
        """Return how many tokens were issued (for ``resource`` only, when given)."""
        with self._lock:
            if resource is None:
                return sum(self._issued.values())
            return self._issued[resource]

    def claims(self, token: str, audience: str) -> dict[str, Any]:
        """Return a token's claims after checking its signature, audience and expiry."""
        issuer = f"https://sts.windows.net/{self.tenant_id}/"
        decoded: dict[str, Any] = jwt.decode(
            token, self._key, algorithms=["HS256"], audience=audience, issuer=issuer
        )
        return decoded

    # --- the endpoint -----------------------------------------------------------------

    def answer(self, query: dict[str, list[str]], header: str | None) -> tuple[int, dict[str, Any]]:
        """Return the status and JSON body App Service would give this token request."""
        if header is None or not secrets.compare_digest(header, self.header):
            return 401, _error(401, "Missing or invalid X-IDENTITY-HEADER.")
        if _one(query, "api-version") != API_VERSION:
            return 400, _error(400, f"Unsupported api-version; use {API_VERSION}.")
        resource = _one(query, "resource")
        if not resource:
            return 400, _error(400, "The 'resource' parameter is required.")
        picked = self._pick(query)
        if picked is None:
            return 400, _error(400, "Unable to load the proper Managed Identity.")
        client_id, object_id = picked
        now = time.time()
        expires = round(now + self.token_lifetime_s, 3)
        token = jwt.encode(
            {
                "aud": resource,
                "iss": f"https://sts.windows.net/{self.tenant_id}/",
                "iat": int(now),
                "nbf": int(now),
                # Sub-second precision, so a test's 2.5 s token really lives 2.5 s.
                "exp": expires,
                "oid": object_id,
                "sub": object_id,
                "tid": self.tenant_id,
                "appid": client_id,
                "azp": client_id,
                "idtyp": "app",
            },
            self._key,
            algorithm="HS256",
        )
        if resource.rstrip("/") == REDIS_RESOURCE and object_id in self.redis_principals:
            if self._revoker is None:
                return 500, _error(500, "No Redis admin connection to register the token.")
            try:
                self._revoker.grant(object_id, token, expires)
            except redis.RedisError as exc:
                logger.warning("could not register a Redis token: %s", type(exc).__name__)
                return 500, _error(500, "Could not register the token with Redis.")
        with self._lock:
            self._issued[resource] += 1
        return 200, {
            "access_token": token,
            # App Service sends epoch seconds as a string; rounding down never claims a
            # token lives longer than it does.
            "expires_on": str(math.floor(expires)),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client_id,
        }

    def _pick(self, query: dict[str, list[str]]) -> tuple[str, str] | None:
        client_id = _one(query, "client_id")
        if client_id:
            object_id = self.identities.get(client_id)
            return None if object_id is None else (client_id, object_id)
        object_id = _one(query, "object_id") or _one(query, "principal_id")
        if object_id:
            for known_client, known_object in self.identities.items():
                if known_object == object_id:
                    return known_client, known_object
            return None
        if _one(query, "mi_res_id") is not None:
            return None  # resource ids are not modelled here
        # No selector means the system-assigned identity; stand one in only when unambiguous.
        if len(self.identities) == 1:
            return next(iter(self.identities.items()))
        return None


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _error(status: int, message: str) -> dict[str, Any]:
    return {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())}


def _handler_for(identity: LocalIdentity) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != TOKEN_PATH:
                self._send(404, _error(404, "Not found."))
                return
            status, body = identity.answer(
                parse_qs(parts.query), self.headers.get("X-IDENTITY-HEADER")
            )
            self._send(status, body)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("identity: " + format, *args)

    return Handler


class _Revoker:
    """Add Redis ACL passwords for issued tokens and remove each when its token expires."""

    def __init__(self, admin: redis.Redis) -> None:
        self._admin = admin
        self._due: list[tuple[float, str, str]] = []  # (expires, object id, token)
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="redis-revoker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def grant(self, object_id: str, token: str, expires: float) -> None:
        # The same rules AMR's "Data Owner" access policy gives (all keys, channels, commands).
        admin: Any = self._admin  # redis-py leaves execute_command untyped
        admin.execute_command("ACL", "SETUSER", object_id, "on", f">{token}", "~*", "&*", "+@all")
        with self._wake:
            heapq.heappush(self._due, (expires, object_id, token))
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for _, object_id, token in self._due:
            self._revoke(object_id, token)
        self._due.clear()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and (not self._due or self._due[0][0] > time.time()):
                    timeout = self._due[0][0] - time.time() if self._due else None
                    self._wake.wait(timeout)
                if self._stopping:
                    return
                _, object_id, token = heapq.heappop(self._due)
            self._revoke(object_id, token)

    def _revoke(self, object_id: str, token: str) -> None:
        try:
            admin: Any = self._admin
            admin.execute_command("ACL", "SETUSER", object_id, f"<{token}")
        except redis.RedisError as exc:  # the server may already be gone at shutdown
            logger.debug("could not revoke a Redis token: %s", type(exc).__name__)


def _config(argv: list[str]) -> dict[str, Any]:
    text = argv[0] if argv else sys.stdin.read()
    config = json.loads(text)
    if not isinstance(config, dict) or not isinstance(config.get("identities"), dict):
        raise ValueError('the config must be a JSON object with "identities": {client_id: oid}')
    return config


def main(argv: list[str] | None = None) -> int:
    """Serve the configured identities until SIGTERM or SIGINT; return the exit status."""
    try:
        config = _config(sys.argv[1:] if argv is None else argv)
        identity = LocalIdentity(
            config.get("host", "127.0.0.1"),
            config.get("port"),
            identities={str(k): str(v) for k, v in config["identities"].items()},
            redis_admin_url=config.get("redis_admin_url"),
            redis_principals=frozenset(config.get("redis_principals", ())),
            token_lifetime_s=float(config.get("token_lifetime_s", 3600.0)),
            tenant_id=config.get("tenant_id"),
        )
    except (ValueError, TypeError, OSError) as exc:
        print(f"identity: {exc}", file=sys.stderr)
        return 2
    stop = wait_for_signal()
    with identity:
        ready = {"identity": identity.endpoint, "header": identity.header}
        print(json.dumps({**ready, "tenant_id": identity.tenant_id}), flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
