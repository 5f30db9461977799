"""Run the worker: ``python -m worker [--host H] [--port P]``.

App Service starts it with ``python -m worker`` and probes ``/healthz`` on ``$PORT`` (8000 when
unset). Once the health endpoint listens it prints one JSON line (``{"worker": url,
"healthz": url}``) for the local stack, then runs until SIGTERM or SIGINT, when it closes the
sockets, marks the cache as no longer live and exits 0. A configuration error exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

from shared.config import load_settings
from shared.domain.errors import ConfigError
from shared.telemetry import configure_telemetry, install_json_logging, secret_values
from worker.app import WorkerApp

logger = logging.getLogger("worker")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
    # App Service reaches the container on all interfaces; the local stack passes 127.0.0.1.
    parser.add_argument("--host", default="0.0.0.0", help="address for /healthz")  # noqa: S104
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", "8000")), help="0 = any free port"
    )
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> int:
    settings = load_settings()
    install_json_logging(settings.log_level, secrets=secret_values(settings))
    configure_telemetry(settings, logger_name="")
    app = WorkerApp.from_settings(settings, host=args.host, port=args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    port = await app.start()
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
    url = f"http://{shown}:{port}"
    print(json.dumps({"worker": url, "healthz": f"{url}/healthz"}), flush=True)
    await stop.wait()
    logger.info("worker stopping on a signal")
    await app.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Start the worker and return its exit status."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        return asyncio.run(_run(args))
    except ConfigError as exc:
        print(f"worker: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
