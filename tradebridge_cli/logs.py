"""``tradebridge logs [COMPONENT] [--follow] [-n N]``: the local stack's log files.

``python -m local.stack`` writes one log file per part (``redis``, ``azurite``, ``tradovate``,
``functions``, ``functions-background``, ``worker``) into its log folder (``--logs DIR``, by
default a new temporary folder) and records the folder in its state file. This command finds
it there, prints where it is, and tails the files: the last ``-n`` lines of each (or of
COMPONENT's), then, with ``--follow``, every line appended until Ctrl-C (or ``--for``).

A deployment in Azure keeps no log files to tail: there the command says where its logs are
(Application Insights; ``az webapp log tail``) and exits 2.

The command registers on ``tradebridge_cli.app.main`` when this module is imported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from tradebridge_cli.app import Options, main, pass_options
from tradebridge_cli.config import normalise_url, running_stack
from tradebridge_cli.errors import ConfigError

POLL_S = 0.25
_BLOCK = 64 * 1024
IN_AZURE = (
    "a deployment in Azure keeps no log files here: its logs are in Application Insights "
    "(the portal's Logs: traces, requests, exceptions), and `az webapp log tail -g RG -n APP` "
    "streams an app's live"
)


def log_folder(options: Options, env: dict[str, str] | None = None) -> Path:
    """Return the running local stack's log folder, or refuse (exit 2) for a deployment."""
    config = options.config()
    stack = running_stack(env)
    urls: dict[str, Any] = (stack or {}).get("urls") or {}
    functions = urls.get("functions")
    local = config.source == "local stack" or (
        isinstance(functions, str) and normalise_url(functions) == config.url
    )
    if stack is None or not local:
        raise ConfigError(IN_AZURE)
    folder = urls.get("logs")
    if not isinstance(folder, str):
        raise ConfigError("the running local stack records no log folder: restart it")
    return Path(folder)


def log_files(folder: Path) -> dict[str, Path]:
    """Return the folder's log files by component (their names without ``.log``)."""
    try:
        return {p.stem: p for p in sorted(folder.glob("*.log")) if p.is_file()}
    except OSError as exc:
        raise ConfigError(f"cannot read the log folder {folder} ({exc.strerror})") from None


def last_lines(path: Path, count: int) -> list[str]:
    """Return the last ``count`` lines of a file, reading only as much of its end as needed."""
    if count <= 0:
        return []
    with path.open("rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        data, start = b"", end
        while start > 0 and data.count(b"\n") <= count:
            start = max(0, start - _BLOCK)
            handle.seek(start)
            data = handle.read(end - start)
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-count:]


def _pick(files: dict[str, Path], component: str | None) -> dict[str, Path]:
    if component is None:
        return files
    if component not in files:
        known = ", ".join(files) or "none yet"
        raise ConfigError(f"no log of {component!r} in the local stack (its logs: {known})")
    return {component: files[component]}


def follow_files(
    files: dict[str, Path],
    *,
    for_s: float | None,
    emit: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Print each line appended to ``files`` (prefixed by its component when there are
    several) until Ctrl-C or ``for_s`` seconds."""
    offsets = {name: path.stat().st_size for name, path in files.items()}
    partial = dict.fromkeys(files, b"")
    deadline = None if for_s is None else time.monotonic() + for_s
    try:
        while deadline is None or time.monotonic() < deadline:
            for name, path in files.items():
                size = path.stat().st_size if path.exists() else 0
                if size < offsets[name]:  # truncated or replaced: read it from the start
                    offsets[name], partial[name] = 0, b""
                if size == offsets[name]:
                    continue
                with path.open("rb") as handle:
                    handle.seek(offsets[name])
                    chunk = partial[name] + handle.read(size - offsets[name])
                offsets[name] = size
                *complete, partial[name] = chunk.split(b"\n")
                for raw in complete:
                    line = raw.decode("utf-8", errors="replace").rstrip("\r")
                    emit(f"{name} | {line}" if len(files) > 1 else line)
            sleep(
                POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic()))
            )
    except KeyboardInterrupt:
        pass  # Ctrl-C is how one stops following: not a failure


def show_tails(files: dict[str, Path], count: int, emit: Callable[[str], None]) -> None:
    """Print the last ``count`` lines of each file, under a header when there are several."""
    for name, path in files.items():
        if len(files) > 1:
            emit(f"==> {name} ({path}) <==")
        for line in last_lines(path, count):
            emit(line)


@main.command("logs")
@click.argument("component", required=False)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines (Ctrl-C stops).")
@click.option("-n", "count", type=click.IntRange(0, 100_000), default=20, show_default=True,
              help="Lines to show from the end of each file.")  # fmt: skip
@click.option("--for", "for_s", type=click.FloatRange(min=0), help="With --follow: stop after S s.")
@pass_options
def logs(
    options: Options, /, component: str | None, follow: bool, count: int, for_s: float | None
) -> None:
    """Show where the local stack's logs are and tail them (all, or COMPONENT's)."""
    folder = log_folder(options)
    files = _pick(log_files(folder), component)
    click.echo(f"logs of the local stack: {folder}")
    names: Sequence[str] = list(files)
    click.echo(f"components: {', '.join(names) or 'none yet'}")
    show_tails(files, count, click.echo)
    if follow:
        follow_files(files, for_s=for_s, emit=click.echo)
