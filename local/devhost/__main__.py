"""Run the dev host: ``python -m local.devhost [--port 7071] [--settings local.settings.json]``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from local.devhost.host import TRIGGER_GROUPS, DevHost, DevHostConfig
from local.devhost.loader import IndexingError
from local.services import REPO_ROOT
from shared.config import read_local_settings
from shared.domain.errors import ConfigError


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.devhost", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071, help="0 picks a free port")
    parser.add_argument("--app-root", type=Path, default=REPO_ROOT)
    parser.add_argument(
        "--settings",
        type=Path,
        default=None,
        help="local.settings.json whose Values become app settings",
    )
    parser.add_argument(
        "--only",
        default=",".join(sorted(TRIGGER_GROUPS)),
        help="trigger groups to run, comma-separated (http, queue, timer), like one Flex "
        "Consumption instance group; the default runs all",
    )
    return parser.parse_args(argv)


async def _serve(config: DevHostConfig) -> int:
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
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
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
