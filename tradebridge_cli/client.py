"""The ops API over HTTP: one ``httpx.Client``, its transport injectable for tests.

Failures are the :mod:`tradebridge_cli.errors` hierarchy: :class:`Unreachable` when nothing answers,
:class:`ApiError` for a ``{code, message}`` refusal, :class:`CliError` for an answer that is not
the ops API's (a wrong URL).
"""

from __future__ import annotations

from typing import Any

import httpx

from tradebridge_cli.config import Config, safe_url
from tradebridge_cli.errors import ApiError, CliError, Unreachable

TIMEOUT_S = 15.0
ACTOR_HEADER = "X-Ops-Actor"


def _sentence_for(status: int, url: str, admin: bool) -> str:
    if status == 401:
        which = "--master-key (or TRADEBRIDGE_MASTER_KEY)" if admin else "--key"
        return f"{url} refused the key: check {which}"
    return (
        f"{url} answered HTTP {status} without the ops API's JSON: is it a Tradebridge "
        "deployment? pass its base URL (without /api) with --url"
    )


class OpsClient:
    """Call the ops API of one deployment with the configured keys."""

    def __init__(
        self,
        config: Config,
        *,
        transport: httpx.BaseTransport | None = None,
        actor: str | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.config = config
        self.actor = actor
        self._http = httpx.Client(
            base_url=config.url, transport=transport, timeout=timeout_s, follow_redirects=False
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def get(
        self, path: str, *, ok: tuple[int, ...] = (200,), admin: bool = False, **params: Any
    ) -> dict[str, Any]:
        """GET ``/api/{path}`` with the read key (the master key if ``admin``); return the body."""
        query = {k: _param(v) for k, v in params.items() if v is not None and v is not False}
        return self._send("GET", path, ok=ok, params=query, admin=admin)

    def post(self, path: str, body: dict[str, Any] | str, *, admin: bool = True) -> dict[str, Any]:
        """POST a JSON body (or text) to ``/api/{path}`` with the master key (or the read key)."""
        sent = {"json": body} if isinstance(body, dict) else {"content": body.encode()}
        return self._send("POST", path, ok=(200, 202), admin=admin, **sent)

    def delete(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """DELETE ``/api/{path}`` with a JSON body (the reason) and the master key."""
        return self._send("DELETE", path, ok=(200,), admin=True, json=body)

    def _send(
        self, method: str, path: str, *, ok: tuple[int, ...], admin: bool, **kwargs: Any
    ) -> dict[str, Any]:
        key = self.config.master_key if admin else self.config.key or self.config.master_key
        if key is None and path != "health":
            flag = "--master-key or TRADEBRIDGE_MASTER_KEY" if admin else "--key or TRADEBRIDGE_KEY"
            raise CliError(f"no {'master ' if admin else ''}key is configured: pass {flag}")
        headers = {"x-functions-key": key} if key else {}
        if self.actor:
            headers[ACTOR_HEADER] = self.actor
        url = safe_url(self.config.url)
        try:
            response = self._http.request(method, f"/api/{path}", headers=headers, **kwargs)
        except httpx.TimeoutException:
            raise Unreachable(
                f"{url} did not answer within {self._http.timeout.read} s: check the URL "
                "and that the bridge is running"
            ) from None
        except httpx.TransportError as exc:
            hint = START_HINT if self.config.source == "local stack" else "check --url"
            raise Unreachable(f"cannot reach {url} ({_reason(exc)}): {hint}") from None
        return _body(response, ok=ok, url=url, admin=admin)


START_HINT = "is the local stack running? start it with `python -m local.stack`"


def _reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unknown"
    return type(exc).__name__


def _param(value: Any) -> str:
    if value is True:
        return "true"
    return str(value)


def _body(
    response: httpx.Response, *, ok: tuple[int, ...], url: str, admin: bool
) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code in ok and isinstance(body, dict):
        return body
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        if response.status_code == 401:
            raise CliError(_sentence_for(401, url, admin))
        return _raise_api(response.status_code, body)
    raise CliError(_sentence_for(response.status_code, url, admin))


def _raise_api(status: int, body: dict[str, Any]) -> dict[str, Any]:
    raise ApiError(status, str(body["code"]), str(body.get("message", "")), body)
