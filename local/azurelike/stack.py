"""Run the local stack the way Azure runs the apps: ``python -m local.stack --azure-like``.

Every dependency demands what it demands in Azure. Redis admits no one without an Entra
token (``local.redis_acl``; tokens from a per-app managed-identity endpoint,
``local.azurelike.identities``, that expire after ``--token-lifetime-s``). Azurite's Table
service speaks HTTPS only to holders of a token (``local.azurelike.azurite``), with a CA
made for the run (``local.azurelike.tls``). The apps run what would ship: the packages azd
would zip, on the runtime venv built from requirements.txt alone, from working directories
that are not the repository, with the app settings the IaC declares
(``local.azurelike.settings``) and Key Vault references resolved from a local vault.

There is no Service Bus emulator here, so ``QUEUE_BACKEND=local`` (the Redis-backed queue,
delivered by the dev host) is the one behavioural stand-in; Application Insights is off.

Once everything answers it prints one JSON line, like the normal stack, plus ``identity``
(the identities' status page: token counts per resource), ``ca`` (the run's CA), ``settings``
(the function app's resolved settings in local.settings.json form, with the function keys
and webhook secrets) and ``logs`` (each app's stderr). The run's folder is removed on exit.

``--token-lifetime-s 20`` makes every token short-lived, to watch renewal happen;
``--omit-secret tradovate-password`` leaves a secret out of the local vault, so its reference
stays unresolved, as on a first deploy before the secrets are stored (the worker then refuses
to start, and so does the stack).
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from local.azurelike.azurite import AzuriteTablesOAuth
from local.azurelike.identities import Identities
from local.azurelike.layout import Layout, lay_out_everything, runtime_python
from local.azurelike.processes import platform_environment
from local.azurelike.settings import Locals, app_settings, local_vault, resolve_references
from local.azurelike.tls import TlsFiles, make_tls_files
from local.redis_acl import AclRedisServer
from local.services import ProcessGroup, ServiceError


class AzureLikeStack(ProcessGroup):
    """Own every part of the Azure-like stack and stop them in reverse order."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__()
        self.args = args
        self.root = Path(tempfile.mkdtemp(prefix="tradebridge-azure-like-"))
        self._exit.callback(shutil.rmtree, self.root, True)
        self.logs = self.root / "logs"
        self.logs.mkdir()

    def start(self) -> dict[str, Any]:
        """Start every part, in dependency order, and return the URL map."""
        try:
            return self._start()
        except ValueError as exc:  # the IaC could not be turned into local settings
            raise ServiceError(str(exc)) from exc

    def _start(self) -> dict[str, Any]:
        args = self.args
        python = runtime_python()
        layout = lay_out_everything(self.root / "apps")
        tls = make_tls_files(self.root / "tls")
        redis_server = AclRedisServer(args.host, args.redis_port or None)
        self.service(redis_server)
        azurite = AzuriteTablesOAuth(args.host, args.azurite_port or None, tls)
        self.service(azurite)
        identities = self._exit.enter_context(
            Identities(args.host, redis_server.admin_url, args.token_lifetime_s)
        )
        identity_status = identities.start()
        sim = self._spawn_simulator()
        locals_ = Locals(
            redis_url=redis_server.url,
            tables_uri=azurite.endpoint,
            tradovate_base_url=str(sim["rest"]),
            tradovate_md_ws_url=str(sim["md_ws"]),
            function_client_id=identities.principals["functions"].client_id,
            worker_client_id=identities.principals["worker"].client_id,
            strategy_ids=layout.strategy_ids,
        )
        vault = local_vault(layout.strategy_ids)
        for name in args.omit_secret:
            vault.pop(name, None)
        functions = resolve_references(app_settings("functions", locals_), vault)
        functions["DEVHOST_FUNCTION_KEYS"] = secrets.token_urlsafe(24)
        functions["DEVHOST_MASTER_KEY"] = secrets.token_urlsafe(24)
        worker = resolve_references(app_settings("worker", locals_), vault)
        settings_file = self._write_settings(functions)
        urls = self._spawn_apps(python, layout, tls, identities, functions, worker)
        return {
            **urls,
            "redis": redis_server.url,
            "tables": azurite.endpoint,
            "tradovate": sim["rest"], "tradovate_ws": sim["ws"],
            "tradovate_md_ws": sim["md_ws"], "tradovate_admin": sim["admin"],
            "identity": identity_status,
            "ca": str(tls.ca_cert),
            "settings": str(settings_file),
            "logs": str(self.logs),
            "app_root": str(layout.functions),
        }  # fmt: skip

    def _spawn_simulator(self) -> dict[str, object]:
        # The simulator stands in for Tradovate, not for our code: it runs from the repository.
        command = [sys.executable, "-m", "local.tradovate_sim", "--host", self.args.host]
        return self.spawn("tradovate", [*command, "--port", str(self.args.tradovate_port)], None)

    def _write_settings(self, values: dict[str, str]) -> Path:
        path = self.root / "functions.settings.json"
        path.touch(mode=0o600)
        document = {"IsEncrypted": False, "Values": values}
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        return path

    def _spawn_apps(
        self,
        python: Path,
        layout: Layout,
        tls: TlsFiles,
        identities: Identities,
        functions: dict[str, str],
        worker: dict[str, str],
    ) -> dict[str, Any]:
        host = self.args.host
        # What the platform adds to the app settings: the identity endpoint and the trust store.
        func_env = platform_environment(
            functions,
            {
                **identities.environment("functions"),
                **tls.trust_environment(),
                "PYTHONPATH": layout.host_pythonpath(),
            },
        )
        worker_env = platform_environment(
            worker, {**identities.environment("worker"), **tls.trust_environment()}
        )
        devhost = [str(python), "-m", "local.devhost", "--host", host]
        devhost += ["--app-root", str(layout.functions)]
        # Two hosts, as Flex Consumption runs HTTP and the other triggers as separate groups.
        background = self._spawn(
            "functions-background", [*devhost, "--port", "0", "--only", "queue,timer"],
            layout.workdir, func_env,
        )  # fmt: skip
        front = self._spawn(
            "functions", [*devhost, "--port", str(self.args.functions_port), "--only", "http"],
            layout.workdir, func_env,
        )  # fmt: skip
        # App Service starts the worker in its wwwroot (the package) with `python -m worker`.
        health = self._spawn(
            "worker",
            [str(python), "-m", "worker", "--host", host, "--port", str(self.args.worker_port)],
            layout.worker, worker_env,
        )  # fmt: skip
        return {
            "functions": front["functions"],
            "functions_background": background["functions"],
            "worker": health["healthz"],
        }

    def _spawn(
        self, name: str, command: list[str], cwd: Path, env: dict[str, str]
    ) -> dict[str, object]:
        return self.spawn(name, command, env, cwd=cwd, log_path=self.logs / f"{name}.log")
