"""Turn a Redis failure into the domain's ``DependencyUnavailable``, counting it once.

Most failures mean Redis could not be reached (``dependency_unavailable``). A refusal of this
app's credentials is different: retrying will not help until someone grants the identity an
access policy on the cache, so it carries its own code, ``redis_auth_failed``, and a sentence
that says what to grant to whom. That covers redis-py's ``AuthenticationError`` (``NOAUTH``,
``WRONGPASS``), ``NOPERM`` replies, and failures to get an Entra token at all (redis-py's
``RequestTokenErr`` / ``TokenRenewalErr``, azure-core's ``ClientAuthenticationError``). The
sentence never repeats the server's or the identity endpoint's text, which could echo a token.
"""

from __future__ import annotations

import sys

from shared.domain.errors import DependencyUnavailable

REDIS_AUTH_FAILED = "redis_auth_failed"
_REFUSAL_PREFIXES = ("WRONGPASS", "NOAUTH", "NOPERM")
_TOKEN_ERRORS = ("RequestTokenErr", "TokenRenewalErr")


def redis_unavailable(exc: BaseException) -> DependencyUnavailable:
    """Count a Redis error in the ``redis_errors`` metric and return the error to raise."""
    from shared.telemetry import get_metrics
    from shared.telemetry_names import ATTR_ERROR_TYPE

    get_metrics().redis_errors.add(1, {ATTR_ERROR_TYPE: type(exc).__name__})
    reason = auth_failure(exc)
    if reason is not None:
        return DependencyUnavailable(reason, code=REDIS_AUTH_FAILED)
    return DependencyUnavailable(f"Redis could not be reached: {type(exc).__name__}")


def auth_failure(exc: BaseException) -> str | None:
    """Return the sentence for a refusal of this app's Redis credentials, else ``None``."""
    from shared.adapters.redis_connect import signed_in_identity

    kind = _refusal_kind(exc)
    if kind is None:
        return None
    identity = signed_in_identity()
    if identity is None:
        return (
            "Redis refused this app's credentials: check the user and password in REDIS_URL, "
            "or, for an Entra-only cache, set REDIS_AUTH=entra and give the identity's "
            "object id an access policy assignment on the cache"
        )
    client = f"client id {identity.client_id or 'none: az login / DefaultAzureCredential'}"
    if kind == "token":
        return (
            f"Redis could not get an Entra token for this app's identity ({client}): check "
            "that the managed identity is assigned to the app (or run az login) and that "
            "REDIS_CLIENT_ID / AZURE_CLIENT_ID name it"
        )
    who = f"object id {identity.object_id}" if identity.object_id else "the identity's object id"
    return (
        f"Redis refused this app's identity: give {who} an access policy assignment "
        f"on the cache ({client})"
    )


def _refusal_kind(exc: BaseException) -> str | None:
    """Return "token" or "refused" if ``exc`` (or what caused it) is an auth failure."""
    from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError

    azure_errors = sys.modules.get("azure.core.exceptions")  # loaded only if azure is in use
    chain = _chain(exc)
    for error in chain:
        if type(error).__name__ in _TOKEN_ERRORS or (
            azure_errors is not None and isinstance(error, azure_errors.ClientAuthenticationError)
        ):
            return "token"  # before "refused": a token failure surfaces as AuthenticationError
    for error in chain:
        if isinstance(error, AuthenticationError | NoPermissionError) or (
            isinstance(error, ResponseError) and str(error).startswith(_REFUSAL_PREFIXES)
        ):
            return "refused"
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 16:
        chain.append(current)
        # redis-py wraps listener failures in EventException(.exception); others chain.
        wrapped = getattr(current, "exception", None)
        current = wrapped if isinstance(wrapped, BaseException) else None
        current = current or current_cause(chain[-1])
    return chain


def current_cause(exc: BaseException) -> BaseException | None:
    """Return what raised ``exc``: its explicit cause, else the error being handled."""
    return exc.__cause__ or exc.__context__
