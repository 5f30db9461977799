"""Run the worker: ``python -m worker [--host H] [--port P]``.

App Service starts it with ``python -m worker`` and probes ``/healthz`` on ``$PORT`` (8000 when
unset). Once the health endpoint listens it prints one JSON line (``{"worker": url,
"healthz": url}``) for the local stack, then runs until SIGTERM or SIGINT, when it closes the
sockets, marks the cache as no longer live and exits 0. A configuration error exits 2, and so
does ``PAPER=true`` against Tradovate's live environment (shared/config.py). While an app
setting still holds an unresolved Key Vault reference (a first deploy, before the secrets are
stored), it waits idle, reading them from Key Vault itself (worker/awaiting.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from typing import Any

from shared.adapters.secrets import KeyVaultSecretStore, build_secret_client
from shared.config import load_settings
from shared.domain.errors import ConfigError
from shared.telemetry import configure_telemetry, install_json_logging, secret_values
from worker.app import WorkerApp
from worker.awaiting import Reference, unresolved_references, wait_for_secrets, waiting_health
from worker.health import HealthServer

logger = logging.getLogger("worker")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
    # App Service reaches the container on all interfaces; the local stack passes 127.0.0.1.
    parser.add_argument("--host", default="0.0.0.0", help="address for /healthz")  # nosec B104 - App Service's front end reaches it; the site's public access is off  # noqa: S104
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", "8000")), help="0 = any free port"
    )
    return parser.parse_args(argv)


def _announce(host: str, port: int) -> None:
    # For a bind to every interface, the URL shown (to the local stack) is the loopback one.
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # nosec B104 - compared, not bound  # noqa: S104
    url = f"http://{shown}:{port}"
    print(json.dumps({"worker": url, "healthz": f"{url}/healthz"}), flush=True)


async def _await_secrets(args: argparse.Namespace, stop: asyncio.Event) -> int | None:
    """Wait for unresolved Key Vault references; return the health port used, None if stopped."""
    references = unresolved_references(os.environ)
    vault_uri = os.environ.get("KEY_VAULT_URI", "")
    if not references or not vault_uri:
        return 0  # nothing to wait for here: load_settings reports the problem
    logging.basicConfig(level=logging.INFO)
    health: dict[str, Any] = waiting_health(references)
    server = HealthServer(lambda: health, args.host, args.port)
    port = await server.start()
    _announce(args.host, port)
    logger.error("worker waiting for secrets: %s", health["message"])
    store = KeyVaultSecretStore(
        lambda: build_secret_client(vault_uri, os.environ.get("AZURE_CLIENT_ID") or None)
    )

    def pending(left: list[Reference]) -> None:
        health.update(waiting_health(left))

    try:
        done = await wait_for_secrets(references, store, os.environ, stop=stop, on_pending=pending)
    finally:
        await store.close()
        await server.stop()
    return port if done else None


async def _run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    waited = await _await_secrets(args, stop)
    if waited is None:
        return 0  # stopped while waiting: nothing was started
    settings = load_settings()
    install_json_logging(settings.log_level, secrets=secret_values(settings))
    configure_telemetry(settings, logger_name="")
    port_arg = waited or args.port  # keep the port the platform already probes
    app = WorkerApp.from_settings(settings, host=args.host, port=port_arg)
    port = await app.start()
    if not waited:
        _announce(args.host, port)
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
        # The code names the refusal for log queries (e.g. paper_live_environment).
        print(f"worker: {exc.message} [{exc.code}]", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
