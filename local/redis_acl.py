"""Start a ``redis-server`` that, like Azure Managed Redis with access keys off, admits no one.

The default user is switched off (no ``nopass``), so a client that connects without
credentials gets ``NOAUTH`` on its first command, exactly as against an Entra-only cache.
One admin ACL user with a random password (``admin_url``) exists for the harness: the
local identity endpoint (``local.identity``) uses it to add each issued Entra token as a
password of the ACL user named by the identity's object id, and to remove it again when
the token expires. ``url`` carries no credentials, like ``REDIS_URL`` in Azure.
"""

from __future__ import annotations

import secrets

from local.services import RedisServer

ADMIN_USER = "tradebridge-admin"


class AclRedisServer(RedisServer):
    """A throwaway ``redis-server`` whose default user is off, plus one admin user."""

    name = "redis-acl"

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        super().__init__(host, port)
        self.admin_user = ADMIN_USER
        self.admin_password = secrets.token_urlsafe(24)

    def _command(self) -> list[str]:
        # Each ``--user`` is a config-file ``user`` directive; "resetpass" without
        # "nopass" leaves the default user with no way to authenticate, and "off"
        # refuses it outright, so an unauthenticated connection can run nothing.
        return [
            *super()._command(),
            "--user", "default", "off", "resetpass", "-@all",
            "--user", self.admin_user, "on", f">{self.admin_password}", "~*", "&*", "+@all",
        ]  # fmt: skip

    @property
    def admin_url(self) -> str:
        """Return the ``redis://`` URL of database 0 with the admin user's credentials."""
        return f"redis://{self.admin_user}:{self.admin_password}@{self.host}:{self.port}/0"
