"""Count one process's Redis round trips and commands, apart from the local queue's own.

The executor's dev host talks to Redis for two reasons: its functions' work (facts, claim,
record, events: what the executor costs per order) and the dev host's session pump, the
local stand-in for Service Bus (accept, receive, complete, renew, release, wait), which in
Azure is not Redis at all. Both use ``REDIS_URL``, so neither a dedicated server nor
``INFO commandstats`` can tell them apart, and ``MONITOR`` shows commands but not which of
them travelled together.

So the counting pass points only the executor's host at ``RoundTripProxy``, a loopback TCP
proxy in front of the real server. It forwards every byte unchanged and parses what the
client sends (RESP arrays of bulk strings). A client sends a request and waits for its
answer before it sends again on that connection (redis-py neither pipelines across awaits
nor shares a connection between two commands in flight), so one client write is one round
trip: a pipeline is one write of several commands, a script call one write of one
``EVALSHA``. A write split by TCP is put back together: a round trip ends only where the
parsed bytes end on a command boundary.

Each command is classified by what it is, not by which connection carried it:

- ``queue``: the local queue's own commands. Every queue script takes the queue's key
  prefix (``lq:{queue}:``) as an argument and the idle wait is a ``BLPOP`` on
  ``lq:{queue}:wake``, so a command with an argument starting ``lq:`` is the queue's;
- ``queue_send``: the one queue script a function would call itself (``SEND``: a function
  putting a message on the queue, a Service Bus send in Azure), by its SHA1 or its text;
- ``setup``: connection set-up (``HELLO``, ``AUTH``, ``CLIENT``, ``SELECT``);
- ``work``: everything else, the executor's own commands.

A round trip is ``work`` if any of its commands is; otherwise the class of its first one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.adapters import local_queue_lua

Command = tuple[bytes, ...]
QUEUE_PREFIX = b"lq:"
SETUP_COMMANDS = frozenset({b"HELLO", b"AUTH", b"CLIENT", b"SELECT"})
_SEND_SHA = hashlib.sha1(local_queue_lua.SEND.encode()).hexdigest().encode()  # noqa: S324 - Redis names scripts by SHA1


class IncompleteCommand(Exception):
    """The bytes end inside a command; more are on their way."""


def _line(buffer: bytes, start: int) -> tuple[bytes, int]:
    end = buffer.find(b"\r\n", start)
    if end < 0:
        raise IncompleteCommand
    return buffer[start:end], end + 2


def _one_command(buffer: bytes, start: int) -> tuple[Command, int]:
    """Parse one request at ``start``: a RESP array of bulk strings, or an inline command."""
    if buffer[start : start + 1] != b"*":
        line, after = _line(buffer, start)
        return tuple(line.split()), after
    header, at = _line(buffer, start)
    count = int(header[1:])
    parts: list[bytes] = []
    for _ in range(max(count, 0)):
        size_line, at = _line(buffer, at)
        if not size_line.startswith(b"$"):
            raise ValueError(f"expected a bulk string, got {size_line[:20]!r}")
        size = int(size_line[1:])
        if len(buffer) < at + size + 2:
            raise IncompleteCommand
        parts.append(buffer[at : at + size])
        at += size + 2
    return tuple(parts), at


def parse_commands(buffer: bytes) -> tuple[list[Command], int]:
    """Return the complete commands at the start of ``buffer`` and how many bytes they use."""
    commands: list[Command] = []
    used = 0
    while used < len(buffer):
        try:
            command, after = _one_command(buffer, used)
        except IncompleteCommand:
            break
        if command:
            commands.append(command)
        used = after
    return commands, used


def classify(command: Command) -> str:
    """Return ``queue``, ``queue_send``, ``setup`` or ``work`` (see the module docstring)."""
    name = command[0].upper() if command else b""
    if name in SETUP_COMMANDS:
        return "setup"
    args = command[1:]
    if name == b"EVALSHA" and args and args[0].lower() == _SEND_SHA:
        return "queue_send"
    if name == b"EVAL" and args and args[0] == local_queue_lua.SEND.encode():
        return "queue_send"
    if any(arg.startswith(QUEUE_PREFIX) for arg in args):
        return "queue"
    return "work"


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One client write: when it reached the proxy (epoch s) and the commands it carried."""

    at: float
    commands: tuple[Command, ...]

    @property
    def kind(self) -> str:
        """Return the round trip's class: ``work`` if any command is work."""
        kinds = [classify(c) for c in self.commands]
        return "work" if "work" in kinds else (kinds[0] if kinds else "setup")


def tally(trips: Iterable[RoundTrip]) -> dict[str, dict[str, int]]:
    """Count round trips and commands by class, and work commands by name."""
    rounds: Counter[str] = Counter()
    commands: Counter[str] = Counter()
    names: Counter[str] = Counter()
    for trip in trips:
        rounds[trip.kind] += 1
        for command in trip.commands:
            kind = classify(command)
            commands[kind] += 1
            if kind == "work":
                names[command[0].decode(errors="replace").upper()] += 1
    return {"round_trips": dict(rounds), "commands": dict(commands), "work_by_name": dict(names)}


class RoundTripProxy:
    """Forward loopback TCP to a Redis server and record every client round trip.

    Runs its own event loop in a thread, so the benchmark's loops come and go freely.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._trips: list[RoundTrip] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self.port = 0

    def start(self) -> int:
        """Start listening on a free loopback port and return it."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(10)
        return self.port

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        back: asyncio.Task[None] | None = None
        server_w: asyncio.StreamWriter | None = None
        try:
            server_r, server_w = await asyncio.open_connection(*self._upstream)
            back = asyncio.create_task(self._pipe(server_r, client_w))
            await self._client_side(client_r, server_w)
        except (OSError, ConnectionError):
            pass  # either side went away: close both
        finally:
            # Close both sides before awaiting anything: ``stop`` may cancel this task while
            # it waits below, and a socket not closed by then would only be found by the
            # garbage collector, after the loop is gone.
            writers = [w for w in (server_w, client_w) if w is not None]
            for writer in writers:
                writer.close()
            if back is not None:
                back.cancel()
            try:
                await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)
                if back is not None:
                    await asyncio.gather(back, return_exceptions=True)
            finally:
                if task is not None:
                    self._connections.discard(task)

    async def _client_side(
        self, reader: asyncio.StreamReader, upstream: asyncio.StreamWriter
    ) -> None:
        pending = b""
        first_at = 0.0
        while data := await reader.read(65536):
            if not pending:
                first_at = time.time()
            upstream.write(data)
            pending += data
            commands, used = parse_commands(pending)
            if used == len(pending):  # ends on a command boundary: the write is whole
                with self._lock:
                    self._trips.append(RoundTrip(first_at, tuple(commands)))
                pending = b""
            await upstream.drain()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

    def trips(self, since: float = 0.0, until: float = float("inf")) -> list[RoundTrip]:
        """Return the round trips recorded between two moments (epoch s)."""
        with self._lock:
            return [t for t in self._trips if since <= t.at < until]

    def stop(self) -> None:
        """Stop listening, close open connections, and end the loop's thread."""

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            if self._server is not None:
                await self._server.wait_closed()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._loop.close()


def per_order(
    trips: Sequence[RoundTrip], windows: Sequence[tuple[float, float]], orders: int
) -> dict[str, float]:
    """Return work round trips and commands per order, in total and within ``windows`` (each
    alert's post → its last order answered: the part on the signal's latency path)."""

    def inside(trip: RoundTrip) -> bool:
        return any(start <= trip.at <= end for start, end in windows)

    work = [t for t in trips if t.kind == "work"]
    on_path = [t for t in work if inside(t)]
    counted = tally(trips)
    return {
        "round_trips": len(work) / orders,
        "commands": counted["commands"].get("work", 0) / orders,
        "round_trips_before_answer": len(on_path) / orders,
        "queue_round_trips": counted["round_trips"].get("queue", 0) / orders,
        "queue_commands": counted["commands"].get("queue", 0) / orders,
        "queue_sends": counted["commands"].get("queue_send", 0) / orders,
        "setup_commands": counted["commands"].get("setup", 0) / orders,
    }
