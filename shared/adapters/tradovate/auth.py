"""Log in to Tradovate and renew sessions: the two calls that mint access tokens.

Only ``TokenManager`` should call these: each login opens a new broker session that can
close older ones (reference §2.3), so logins must be rare and coordinated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from shared.adapters.tradovate import parse
from shared.adapters.tradovate import schemas as w
from shared.adapters.tradovate.errors import InvalidCredentials, TokenRejected, mask_token
from shared.adapters.tradovate.transport import TradovateHttp
from shared.config import Settings
from shared.domain.errors import AuthError, BrokerRejected


@dataclass(frozen=True, slots=True)
class Credentials:
    """Hold what ``accesstokenrequest`` needs; secrets stay ``SecretStr``."""

    name: str
    password: SecretStr
    app_id: str
    app_version: str
    cid: str
    sec: SecretStr
    device_id: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Credentials:
        """Read the credentials from settings."""
        return cls(
            name=settings.tradovate_username,
            password=settings.tradovate_password,
            app_id=settings.tradovate_app_id,
            app_version=settings.tradovate_app_version,
            cid=settings.tradovate_cid,
            sec=settings.tradovate_sec,
            device_id=settings.tradovate_device_id or None,
        )


@dataclass(frozen=True, slots=True)
class SessionToken:
    """Hold one access token and when it expires; its repr never shows the token."""

    access_token: str = field(repr=False)
    expires_at: datetime
    user_id: int | None = None
    user_name: str | None = None
    md_access_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")

    @property
    def masked(self) -> str:
        """Return a log-safe label for the token."""
        return mask_token(self.access_token)

    def seconds_left(self, now: datetime) -> float:
        """Return seconds until expiry (negative once expired)."""
        return (self.expires_at - now).total_seconds()

    def to_json(self) -> str:
        """Serialise for the shared Redis cache."""
        return json.dumps(
            {
                "accessToken": self.access_token,
                "mdAccessToken": self.md_access_token,
                "expirationTime": self.expires_at.isoformat(),
                "userId": self.user_id,
                "name": self.user_name,
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> SessionToken:
        """Read what ``to_json`` wrote."""
        data: dict[str, Any] = json.loads(raw)
        return cls(
            access_token=data["accessToken"],
            expires_at=datetime.fromisoformat(data["expirationTime"]),
            user_id=data.get("userId"),
            user_name=data.get("name"),
            md_access_token=data.get("mdAccessToken"),
        )


def _cid(value: str) -> int | str:
    # Official examples send cid as a number; the spec types it as a string (§2.1).
    return int(value) if value.isdigit() else value


def _token(m: w.BrokerAccessTokenResponse, previous: SessionToken | None) -> SessionToken:
    if not m.accessToken or m.expirationTime is None:
        raise AuthError(
            "Tradovate answered the token request without a token or expiry",
            code="broker_auth_bad_response",
        )
    md_token = m.mdAccessToken
    if md_token is None and previous is not None:
        # Whether renewal re-issues mdAccessToken is unconfirmed (§2.3); keep the last one.
        md_token = previous.md_access_token
    return SessionToken(
        access_token=m.accessToken,
        expires_at=m.expirationTime,
        user_id=m.userId if m.userId is not None or previous is None else previous.user_id,
        user_name=m.name if m.name is not None or previous is None else previous.user_name,
        md_access_token=md_token,
    )


class TradovateAuth:
    """Call ``auth/accesstokenrequest`` and ``auth/renewaccesstoken``."""

    def __init__(self, http: TradovateHttp, credentials: Credentials) -> None:
        self._http = http
        self._credentials = credentials

    async def login(self) -> SessionToken:
        """Open a new session; raise ``InvalidCredentials`` or ``CaptchaRequired`` on refusal."""
        c = self._credentials
        body = w.BrokerAccessTokenRequest(
            name=c.name,
            password=c.password.get_secret_value(),
            appId=c.app_id,
            appVersion=c.app_version,
            cid=_cid(c.cid),
            sec=c.sec.get_secret_value(),
            deviceId=c.device_id,
        ).wire()
        try:
            # Not idempotent: a blind repeat after a timeout would open a second session.
            data = await self._http.call(
                "auth/accesstokenrequest", token=None, body=body, idempotent=False
            )
        except (BrokerRejected, TokenRejected) as exc:
            # Bad credentials come back as errorText with status 200, or as 401 (§2.1).
            raise InvalidCredentials(f"Tradovate refused the login: {exc.message}") from None
        return _token(parse.validate(w.BrokerAccessTokenResponse, data), None)

    async def renew(self, current: SessionToken) -> SessionToken:
        """Extend the current session; raise ``TokenRejected`` if the token is no longer valid."""
        try:
            data = await self._http.call(
                "auth/renewaccesstoken", token=current.access_token, idempotent=True
            )
        except BrokerRejected as exc:
            raise AuthError(f"Tradovate refused the renewal: {exc.message}") from None
        return _token(parse.validate(w.BrokerAccessTokenResponse, data), current)
