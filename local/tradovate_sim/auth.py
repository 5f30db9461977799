"""Sessions and tokens: ``accesstokenrequest``, ``renewaccesstoken``, expiry and revocation.

Every successful token request opens a new session (reference §2.3); beyond ``max_sessions`` the
oldest session is closed and its tokens revoked, which is what a client that logs in again
instead of renewing will run into. Renewal keeps the session and returns a new token with a later
expiry.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from local.tradovate_sim.clock import SimClock, iso_ms
from local.tradovate_sim.config import SimConfig

BAD_CREDENTIALS = (
    "Incorrect username or password. Please try again, noting that passwords are case-sensitive."
)
ACCESS_DENIED = "Access is denied"
EXPIRED = "Expired Access Token"


@dataclass
class Token:
    """One issued token."""

    value: str
    kind: str  # "access" or "md"
    session_id: int
    expires: datetime
    revoked: bool = False


@dataclass
class Session:
    """One login; renewals stay in it."""

    id: int
    opened: datetime
    tokens: list[str] = field(default_factory=list)
    closed: bool = False


@dataclass
class AuthFailure:
    """Why a bearer token was refused, with the status to answer."""

    status: int
    text: str


@dataclass
class LoginResult:
    """The answer to a token request and the sessions it pushed out."""

    status: int
    body: dict[str, Any]
    closed_sessions: list[int] = field(default_factory=list)


class AuthService:
    """Issue, renew, check and revoke tokens."""

    def __init__(self, config: SimConfig, clock: SimClock) -> None:
        self.config = config
        self.clock = clock
        self.tokens: dict[str, Token] = {}
        self.sessions: dict[int, Session] = {}
        self._session_ids = itertools.count(1)
        self.failed_logins_in_row = 0
        self.captcha_since: datetime | None = None

    def credentials_ok(self, body: dict[str, Any]) -> bool:
        """Check name, password, cid (number or string) and sec."""
        cfg = self.config
        cid = body.get("cid")
        cid_ok = (isinstance(cid, int) and not isinstance(cid, bool) and cid == cfg.cid) or (
            isinstance(cid, str) and cid.strip() == str(cfg.cid)
        )
        return (
            body.get("name") == cfg.username
            and body.get("password") == cfg.password
            and body.get("sec") == cfg.sec
            and cid_ok
        )

    def captcha_due(self) -> bool:
        """Say whether repeated failures now earn a captcha penalty (JSTUT EX-3); the lock
        lifts after an hour of simulated time."""
        limit = self.config.captcha_after_failed_logins
        if limit <= 0 or self.failed_logins_in_row < limit:
            return False
        now = self.clock.now()
        if self.captcha_since is None:
            self.captcha_since = now
        elif now - self.captcha_since >= timedelta(hours=1):
            self.failed_logins_in_row, self.captcha_since = 0, None
            return False
        return True

    def login(self, body: dict[str, Any]) -> LoginResult:
        """Answer ``auth/accesstokenrequest``."""
        if not self.credentials_ok(body):
            self.failed_logins_in_row += 1
            return LoginResult(self.config.bad_credentials_status, {"errorText": BAD_CREDENTIALS})
        self.failed_logins_in_row = 0
        now = self.clock.now()
        session = Session(next(self._session_ids), now)
        self.sessions[session.id] = session
        access = self._issue(session, "access", now)
        md = self._issue(session, "md", now)
        closed = self._enforce_session_limit()
        return LoginResult(200, self._token_body(access, md), closed)

    def renew(self, token: Token) -> dict[str, Any]:
        """Answer ``auth/renewaccesstoken`` for a valid token."""
        now = self.clock.now()
        session = self.sessions[token.session_id]
        access = self._issue(session, "access", now)
        md = self._issue(session, "md", now) if self.config.renew_returns_md_token else None
        if self.config.renew_invalidates_old_token:
            token.revoked = True
        return self._token_body(access, md)

    def check(self, value: str | None, allow_md: bool = False) -> Token | AuthFailure:
        """Return the live token behind a bearer value, or why it is refused."""
        token = self.tokens.get(value or "")
        if token is None or token.revoked or (token.kind == "md" and not allow_md):
            return AuthFailure(401, ACCESS_DENIED)
        if token.expires <= self.clock.now():
            return AuthFailure(self.config.expired_token_status, EXPIRED)
        return token

    def expired(self, value: str) -> bool:
        """Say whether a token has expired or been revoked."""
        token = self.tokens.get(value)
        return token is None or token.revoked or token.expires <= self.clock.now()

    def revoke(self, value: str | None = None) -> list[int]:
        """Revoke one token's session, or every session; return the sessions closed."""
        if value is not None:
            token = self.tokens.get(value)
            return [] if token is None else self._close_session(token.session_id)
        closed: list[int] = []
        for session_id in list(self.sessions):
            closed += self._close_session(session_id)
        return closed

    def me(self) -> dict[str, Any]:
        """Answer ``auth/me``."""
        cfg = self.config
        return {
            "userId": cfg.user_id,
            "name": cfg.username,
            "fullName": cfg.full_name,
            "email": cfg.email,
            "emailVerified": True,
            "isTrial": False,
        }

    def _issue(self, session: Session, kind: str, now: datetime) -> Token:
        lifetime = timedelta(seconds=self.config.token_lifetime_s)
        token = Token(secrets.token_urlsafe(48), kind, session.id, now + lifetime)
        self.tokens[token.value] = token
        session.tokens.append(token.value)
        return token

    def _token_body(self, access: Token, md: Token | None) -> dict[str, Any]:
        cfg = self.config
        body: dict[str, Any] = {"accessToken": access.value}
        if md is not None:
            body["mdAccessToken"] = md.value
        body.update(
            {
                "expirationTime": iso_ms(access.expires),
                "userStatus": "Active",
                "userId": cfg.user_id,
                "name": cfg.username,
                "hasLive": False,
                "outdatedTaC": False,
                "hasFunded": False,
                "hasMarketData": True,
                "outdatedLiquidationPolicy": False,
            }
        )
        return body

    def _enforce_session_limit(self) -> list[int]:
        limit = self.config.max_sessions
        open_sessions = sorted(
            (s for s in self.sessions.values() if not s.closed), key=lambda s: s.id
        )
        closed: list[int] = []
        while limit > 0 and len(open_sessions) > limit:
            closed += self._close_session(open_sessions.pop(0).id)
        return closed

    def _close_session(self, session_id: int) -> list[int]:
        session = self.sessions.get(session_id)
        if session is None or session.closed:
            return []
        session.closed = True
        for value in session.tokens:
            self.tokens[value].revoked = True
        return [session_id]
