"""Describe Table-storage failures once, and keep rows Table storage did not take, durably.

``TableFailure`` says why a call failed (HTTP status, the service's error code, a masked
message) and whether another try could help. ``RedisPendingRows`` is the durable list
(``{journal}:pending``) where the alert journal parks a row it could not write, with that reason,
until a later drain writes it; a row the service refuses for what it holds moves to
``{journal}:pending:dead``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.domain.errors import DependencyUnavailable
from shared.domain.masking import mask_text

if TYPE_CHECKING:
    import redis.asyncio as aioredis

# Worth another try: the request timed out, was throttled, or the service had a fault.
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Refused for what the row holds (too large, invalid property): no later try can succeed. A 400
# about the table itself (a bad name has no code at all in Azurite) is not the row's fault.
_ROW_REFUSED_CODES = frozenset(
    {
        "PropertyValueTooLarge", "EntityTooLarge", "PropertyNameTooLong", "PropertyNameInvalid",
        "TooManyProperties", "InvalidInput", "InvalidValueType", "PropertiesNeedValue",
        "InvalidDuplicateRow", "KeyValueTooLarge", "RequestBodyTooLarge",
    }
)  # fmt: skip
_MESSAGE_CHARS = 300


# --- failures -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TableFailure:
    """Say why a Table-storage call failed: HTTP status, the service's error code, message."""

    kind: str
    status: int | None
    error_code: str | None
    message: str

    @property
    def retryable(self) -> bool:
        """Tell whether another try could succeed (no answer at all, 408, 429 or 5xx)."""
        return self.status is None or self.status in _RETRYABLE_STATUS

    @property
    def row_refused(self) -> bool:
        """Tell whether the service refused the row itself (413, or a 400 naming the row's
        content), so it never will take it."""
        return self.status == 413 or (self.status == 400 and self.error_code in _ROW_REFUSED_CODES)

    def __str__(self) -> str:
        return (
            # ``error_code=``, not ``code=``: log redaction masks every ``code=`` (Functions keys).
            f"{self.kind} status={self.status or '-'} error_code={self.error_code or '-'}: "
            f"{self.message}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Render the reason stored beside a parked row."""
        return dataclasses.asdict(self)


def table_failure(exc: BaseException) -> TableFailure:
    """Describe a failed Table-storage call once, with its message masked and shortened."""
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "error_code", None)
    message = str(getattr(exc, "message", None) or exc or type(exc).__name__)
    # The service's message spans lines (RequestId, Time, ErrorCode); one line is enough.
    message = mask_text(" | ".join(part.strip() for part in message.splitlines() if part.strip()))
    return TableFailure(
        kind=type(exc).__name__,
        status=status if isinstance(status, int) else None,
        error_code=str(getattr(code, "value", code)) if code else None,
        message=message[:_MESSAGE_CHARS],
    )


# --- the durable list of rows waiting for Table storage -----------------------------------------


class PendingRows(Protocol):
    """Keep journal rows Table storage did not take, durably, until a drain writes them."""

    async def park(self, item: str) -> None:
        """Append one parked row (JSON text); raise ``DependencyUnavailable`` if it cannot."""
        ...

    async def peek(self, count: int) -> list[str]:
        """Return up to ``count`` parked rows, oldest first, without removing them."""
        ...

    async def remove(self, item: str) -> None:
        """Forget one parked row (once written)."""
        ...

    async def bury(self, item: str) -> None:
        """Move one parked row the service refuses for good to the dead-letter list."""
        ...


# One hash slot ({journal}) for the list and its dead letters, so the move between them is one
# script on a clustered cache too.
PENDING_KEY = "{journal}:pending"
_BURY = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) > 0 then redis.call('RPUSH', KEYS[2], ARGV[1]) end
"""


class RedisPendingRows:
    """Park journal rows in a Redis list (``{journal}:pending``; refused rows in ``…:dead``)."""

    def __init__(
        self, client: aioredis.Redis, key: str = PENDING_KEY, *, max_rows: int = 50_000
    ) -> None:
        self._redis = client
        self.key = key
        self.dead_key = f"{key}:dead"
        self._max_rows = max_rows
        self._bury = client.register_script(_BURY)

    async def park(self, item: str) -> None:
        """Append a row, unless the list is full (then the caller logs the row as lost)."""
        if await self._call("llen", self.key) >= self._max_rows:
            raise DependencyUnavailable(
                f"{self.key} already holds {self._max_rows} rows", code="journal_pending_full"
            )
        await self._call("rpush", self.key, item)

    async def peek(self, count: int) -> list[str]:
        """Return the oldest ``count`` rows."""
        from shared.adapters.redis_replies import text

        return [text(raw) for raw in await self._call("lrange", self.key, 0, count - 1)]

    async def remove(self, item: str) -> None:
        """Remove one copy of a row."""
        await self._call("lrem", self.key, 1, item)

    async def bury(self, item: str) -> None:
        """Move a row to the dead-letter list, atomically (two drainers bury it once)."""
        await self._call(self._bury, keys=[self.key, self.dead_key], args=[item])

    async def _call(
        self, command: str | Callable[..., Awaitable[Any]], *args: Any, **kw: Any
    ) -> Any:
        from redis.exceptions import RedisError

        from shared.adapters.redis_errors import redis_unavailable

        call = getattr(self._redis, command) if isinstance(command, str) else command
        try:
            return await call(*args, **kw)
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc


def aware(value: Any) -> datetime:
    """Return a stored time as a timezone-aware datetime, refusing a naive one."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError("the journal stores timezone-aware times only")
    return moment


def park_item(entity: dict[str, Any], failure: TableFailure) -> str:
    """Render a row and why it waits as the JSON text parked in the pending list."""
    values = {
        name: {"$datetime": value.isoformat()} if isinstance(value, datetime) else value
        for name, value in entity.items()
    }
    reason = failure.to_dict()
    parked_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    return json.dumps({"entity": values, "reason": reason, "parked_at": parked_at})


def unpark_item(item: str) -> dict[str, Any]:
    """Rebuild the table entity from a parked row's JSON text."""
    values: dict[str, Any] = json.loads(item)["entity"]
    return {
        name: aware(value["$datetime"]) if isinstance(value, dict) else value
        for name, value in values.items()
    }
