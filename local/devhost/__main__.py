"""Run the dev host: ``python -m local.devhost [--port 7071] [--app-root DIR] [--settings F]``.

``--app-root`` (default: this repository) is the folder holding ``function_app.py``, like the
Functions host's script root: it goes first on ``sys.path`` before anything else is imported,
so ``function_app`` and the ``shared`` package it uses come from that folder (a laid-out
deployment package in the Azure-like stack), never from the dev host's own location or the
working directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from local.devhost.host import DevHostConfig

# The repository root (local/devhost/__main__.py is two folders below it).
_DEFAULT_APP_ROOT = Path(__file__).resolve().parents[2]
_TRIGGER_GROUPS = ("http", "queue", "timer")  # local.devhost.host.TRIGGER_GROUPS, checked there


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.devhost", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071, help="0 picks a free port")
    parser.add_argument(
        "--app-root", type=Path, default=_DEFAULT_APP_ROOT,
        help="folder holding function_app.py, host.json and the app's packages",
    )  # fmt: skip
    parser.add_argument(
        "--settings",
        type=Path,
        default=None,
        help="local.settings.json whose Values become app settings",
    )
    parser.add_argument(
        "--only",
        default=",".join(_TRIGGER_GROUPS),
        help="trigger groups to run, comma-separated (http, queue, timer), like one Flex "
        "Consumption instance group; the default runs all",
    )
    return parser.parse_args(argv)


def _put_first_on_path(app_root: Path) -> None:
    """Make ``app_root`` the first import location, as the Python worker does for the script
    root; a copy of it elsewhere on the path (or in the working directory) must not win."""
    root = str(app_root)
    while root in sys.path:
        sys.path.remove(root)
    sys.path.insert(0, root)


async def _serve(config: DevHostConfig) -> int:
    from local.devhost.host import DevHost
    from local.devhost.loader import IndexingError
    from shared.domain.errors import ConfigError

    host = DevHost(config)
    try:
        await host.start()
    except (IndexingError, ConfigError, ValueError, OSError) as exc:
        print(f"devhost: {exc}", file=sys.stderr)
        await host.stop()
        return 2
    print(json.dumps({"functions": host.url}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await host.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Load settings into the environment the way the Functions host does, then serve."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    args.app_root = args.app_root.resolve()
    _put_first_on_path(args.app_root)
    # Imported only now, so `shared` resolves from the app root put first above.
    from local.devhost.host import DevHostConfig
    from shared.config import read_local_settings
    from shared.domain.errors import ConfigError
    from shared.telemetry import install_json_logging

    # The same JSON lines as the worker (time, level, logger, message, correlation id), with
    # token-like strings masked; the host adds its keys to the mask once it has read them.
    install_json_logging(os.environ.get("LOG_LEVEL", "INFO"))
    # The Azure SDKs log every HTTP request at INFO; the Functions host shows them only on demand.
    logging.getLogger("azure").setLevel(logging.WARNING)
    settings_path = args.settings or (args.app_root / "local.settings.json")
    if settings_path.exists():
        try:
            for name, value in read_local_settings(settings_path).items():
                os.environ.setdefault(name, value)
        except ConfigError as exc:
            print(f"devhost: {exc.message}", file=sys.stderr)
            return 2
    groups = frozenset(g.strip() for g in args.only.split(",") if g.strip())
    try:
        config = DevHostConfig.from_environment(args.app_root, args.host, args.port, groups)
    except ValueError as exc:
        print(f"devhost: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(config))


if __name__ == "__main__":
    sys.exit(main())
