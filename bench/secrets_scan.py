"""Scan everything a local stack keeps at rest for its secrets: ``python -m bench.secrets_scan``.

The secrets are read from the stack's settings file: every strategy's webhook secret, the
dev host's function keys and master key, and the Tradovate password and API secret. Each is
looked for in several spellings (as is, URL-encoded, JSON-escaped and fully ``\\uXXXX``-escaped),
in every key and value of every Redis database (SCAN, TYPE, then the value as text, all
types), every property of every row of every table in Azurite, and every log file given.
A hit says where it was and shows the text around it with the secret itself masked, so the
report can be printed and kept without leaking what it found.

Run against a running stack::

    python -m bench.secrets_scan --stack '<the JSON line of python -m local.stack>' [--log F ...]

It exits 1 when anything was found. ``bench.fuzz_webhook`` calls :func:`scan_stack` after a
run, with the log files of the stack it started (:func:`stack_logs`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from local.services import AZURITE_ACCOUNT, AZURITE_KEY, REPO_ROOT, ProcessGroup
from shared.config import read_local_settings
from shared.strategies import load_strategies

# Shorter values would match by accident (a 3-character secret is found everywhere).
_MIN_SECRET_CHARS = 6
_CONTEXT_CHARS = 60


@dataclass(frozen=True)
class Secret:
    """One secret value and the setting it came from."""

    name: str
    value: str


@dataclass(frozen=True)
class Hit:
    """One place a secret was found at rest."""

    secret: str  # the setting's name, never the value
    form: str  # raw, url, url_plus, json, unicode_escaped, ...
    where: str  # "redis db0 key 'x'", "table tbAlerts demo/abc .RawRedacted", "log functions"
    snippet: str  # the text around the hit, every secret in it masked
    markers: frozenset[str] = field(default_factory=frozenset)  # request markers in the record


def secrets_from_settings(values: Mapping[str, str]) -> list[Secret]:
    """Return the secrets named by a stack's settings (strategy secrets, keys, Tradovate)."""
    found: dict[str, str] = {}
    strategies_file = values.get("STRATEGIES_FILE")
    if strategies_file and Path(strategies_file).exists():
        for strategy in load_strategies(strategies_file).values():
            env_name = strategy.secret.env_name
            if values.get(env_name):
                found[env_name] = values[env_name]
    # Without the strategy file, a WEBHOOK_ value that is not a setting is a strategy's secret.
    settings = read_local_settings(REPO_ROOT / "local.settings.json.example")
    for name, value in values.items():
        if name.startswith("WEBHOOK_") and name not in settings and value:
            found.setdefault(name, value)
    for index, key in enumerate(values.get("DEVHOST_FUNCTION_KEYS", "").split(",")):
        if key.strip():
            found[f"DEVHOST_FUNCTION_KEYS[{index}]"] = key.strip()
    for name in ("DEVHOST_MASTER_KEY", "TRADOVATE_PASSWORD", "TRADOVATE_SEC"):
        if values.get(name):
            found[name] = values[name]
    return [Secret(n, v) for n, v in found.items() if len(v) >= _MIN_SECRET_CHARS]


def spellings(value: str) -> dict[str, str]:
    """Return the forms a secret can take at rest, by name (duplicates collapsed)."""
    forms = {
        "raw": value,
        "url": quote(value, safe=""),
        "url_plus": quote_plus(value, safe=""),
        "json": json.dumps(value)[1:-1],
        "json_ascii": json.dumps(value, ensure_ascii=True)[1:-1],
        "unicode_escaped": "".join(f"\\u{ord(c):04x}" for c in value),
        "unicode_escaped_upper": "".join(f"\\u{ord(c):04X}" for c in value),
    }
    unique: dict[str, str] = {}
    for name, text in forms.items():
        if text not in unique.values():
            unique[name] = text
    return unique


class Scanner:
    """Find every spelling of every secret in text, and mask them in what it reports."""

    def __init__(self, secrets: Iterable[Secret], marker_re: re.Pattern[str] | None = None) -> None:
        self._by_text: dict[str, tuple[str, str]] = {}
        for secret in secrets:
            for form, text in spellings(secret.value).items():
                self._by_text.setdefault(text, (secret.name, form))
        ordered = sorted(self._by_text, key=len, reverse=True)  # longest spelling wins
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._marker_re = marker_re

    @property
    def active(self) -> bool:
        """Say whether there is anything to look for."""
        return self._pattern is not None

    def mask(self, text: str) -> str:
        """Replace every spelling of every secret with ``<NAME>``."""
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: f"<{self._by_text[m.group(0)][0]}>", text)

    def scan(self, where: str, text: str, record: str | None = None) -> list[Hit]:
        """Return a hit for every occurrence in ``text``; ``record`` is where markers are read."""
        if self._pattern is None or not text:
            return []
        hits = []
        markers: frozenset[str] | None = None
        for match in self._pattern.finditer(text):
            if markers is None:
                source = text if record is None else record
                found = self._marker_re.findall(source) if self._marker_re else []
                markers = frozenset(found)
            name, form = self._by_text[match.group(0)]
            start, end = max(0, match.start() - _CONTEXT_CHARS), match.end() + _CONTEXT_CHARS
            snippet = self.mask(text[start:end]).replace("\n", "\\n")
            hits.append(Hit(name, form, where, snippet, markers))
        return hits


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list | tuple | set):
        return "\n".join(_text(v) for v in value)
    if isinstance(value, dict):
        return "\n".join(f"{_text(k)}={_text(v)}" for k, v in value.items())
    return str(value)


def _redis_value(client: Any, key: bytes, kind: str) -> Any:
    readers = {
        "string": lambda: client.get(key),
        "hash": lambda: client.hgetall(key),
        "list": lambda: client.lrange(key, 0, -1),
        "set": lambda: client.smembers(key),
        "zset": lambda: client.zrange(key, 0, -1, withscores=True),
        "stream": lambda: client.xrange(key, "-", "+"),
    }
    reader = readers.get(kind)
    # Any other type (a module's) is dumped in Redis's own serialisation, still searchable.
    return reader() if reader is not None else client.dump(key)


def scan_redis(redis_url: str, env: Mapping[str, str], scanner: Scanner) -> tuple[int, list[Hit]]:
    """Scan every key and value of every non-empty Redis database; return (keys, hits)."""
    from shared.adapters.redis_connect import RedisOptions, build_sync_redis

    options = RedisOptions.from_environment({**env, "REDIS_URL": redis_url})
    first = build_sync_redis(options, socket_timeout=10)
    try:
        databases = [int(name[2:]) for name in first.info("keyspace") if name.startswith("db")]
    finally:
        first.close()
    base = redis_url.rsplit("/", 1)[0] if redis_url.rstrip("/").count("/") > 2 else redis_url
    keys, hits = 0, []
    for db in databases:
        client = build_sync_redis(
            RedisOptions.from_environment({**env, "REDIS_URL": f"{base}/{db}"}), socket_timeout=10
        )
        try:
            for key in client.scan_iter(count=1000):
                keys += 1
                kind = _text(client.type(key))
                value = _redis_value(client, key, kind)
                text = f"{_text(key)}\n{_text(value)}"
                hits += scanner.scan(f"redis db{db} {kind} {_text(key)[:80]!r}", text)
        finally:
            client.close()
    return keys, hits


def tables_connection_string(tables_url: str) -> str:
    """Return a connection string for the stack's Azurite Tables URL (the development key)."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
        f"AccountKey={AZURITE_KEY};TableEndpoint={tables_url};"
    )


def _entities(service: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    for table in service.list_tables():
        client = service.get_table_client(table.name)
        for entity in client.list_entities(results_per_page=1000):
            yield table.name, dict(entity)


def scan_tables(tables_url: str, scanner: Scanner) -> tuple[int, list[Hit]]:
    """Scan every property of every row of every table; return (rows, hits)."""
    from azure.data.tables import TableServiceClient

    rows, hits = 0, []
    with TableServiceClient.from_connection_string(tables_connection_string(tables_url)) as svc:
        for table, entity in _entities(svc):
            rows += 1
            record = _text(entity)
            row = f"{entity.get('PartitionKey', '')}/{entity.get('RowKey', '')}"
            for name, value in entity.items():
                where = f"table {table} {scanner.mask(row)[:120]} .{name}"
                hits += scanner.scan(where, _text(value), record)
    return rows, hits


def read_logs(paths: Iterable[Path]) -> dict[str, str]:
    """Read each file as text, by its path (bytes that are not UTF-8 replaced)."""
    return {str(path): path.read_text(errors="replace") for path in paths}


def stack_logs(stack: ProcessGroup) -> dict[str, str]:
    """Read every log and data file of a stack's parts that exists now (data goes on stop)."""
    return read_logs(path for path in stack.log_files() if path.exists())


def scan_logs(logs: Mapping[str, str], scanner: Scanner) -> list[Hit]:
    """Scan named log texts line by line (markers are read from the line)."""
    hits = []
    for name, text in logs.items():
        for number, line in enumerate(text.splitlines(), start=1):
            hits += scanner.scan(f"log {name}:{number}", line)
    return hits


@dataclass
class ScanReport:
    """What a scan looked at and what it found."""

    secrets: list[str]
    redis_keys: int = 0
    table_rows: int = 0
    log_files: int = 0
    hits: list[Hit] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Describe the scan and every hit, one line each."""
        head = (
            f"secrets scan: {len(self.secrets)} secrets x spellings in {self.redis_keys} Redis "
            f"keys, {self.table_rows} table rows, {self.log_files} log files: "
            f"{len(self.hits)} hits"
        )
        return [head] + [
            f"  {h.secret} ({h.form}) in {h.where}: ...{h.snippet}..." for h in self.hits
        ]


def scan_stack(
    urls: Mapping[str, Any],
    values: Mapping[str, str],
    logs: Mapping[str, str] | None = None,
    marker_re: re.Pattern[str] | None = None,
) -> ScanReport:
    """Scan a running stack's Redis and Tables, and the given logs, for the settings' secrets."""
    secrets = secrets_from_settings(values)
    scanner = Scanner(secrets, marker_re)
    report = ScanReport(secrets=[s.name for s in secrets])
    if "redis" in urls:
        report.redis_keys, hits = scan_redis(str(urls["redis"]), values, scanner)
        report.hits += hits
    if "tables" in urls:
        report.table_rows, hits = scan_tables(str(urls["tables"]), scanner)
        report.hits += hits
    if logs:
        report.log_files = len(logs)
        report.hits += scan_logs(logs, scanner)
    return report


def scan_logs_only(
    values: Mapping[str, str], logs: Mapping[str, str], marker_re: re.Pattern[str] | None = None
) -> ScanReport:
    """Scan log texts alone (after the stack has stopped and its logs are complete)."""
    return scan_stack({}, values, logs, marker_re)


def main(argv: list[str] | None = None) -> int:
    """Scan a running stack named by its JSON line; exit 1 when a secret is found."""
    parser = argparse.ArgumentParser(prog="python -m bench.secrets_scan", description=__doc__)
    parser.add_argument(
        "--stack", required=True, help="the JSON line python -m local.stack printed"
    )
    parser.add_argument("--settings", type=Path, help="settings file (default: the line's)")
    parser.add_argument("--log", type=Path, action="append", default=[], help="a log file to scan")
    args = parser.parse_args(argv)
    urls = json.loads(args.stack)
    values = read_local_settings(args.settings or Path(urls["settings"]))
    logs = read_logs(args.log)
    report = scan_stack(urls, values, logs)
    print("\n".join(report.lines()))
    return 1 if report.hits else 0


if __name__ == "__main__":
    sys.exit(main())
