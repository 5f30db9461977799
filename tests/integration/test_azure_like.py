"""python -m local.stack --azure-like: an alert goes end to end while every dependency demands
the authentication Azure demands, across an expiry of every Entra token."""

from __future__ import annotations

import json
import re
import ssl
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from azure.data.tables import TableServiceClient
from azure.identity import ManagedIdentityCredential

from local.azurelike.identities import STORAGE_RESOURCE
from local.azurelike.layout import lay_out_everything, runtime_python
from local.azurelike.processes import platform_environment
from local.azurelike.settings import Locals, app_settings, local_vault, resolve_references
from local.identity import REDIS_RESOURCE
from local.services import ReadyLineProcess, ServiceError
from local.tradovate_sim import SimulatorServer

pytestmark = pytest.mark.integration

TOKEN_LIFETIME_S = 20.0
T = TypeVar("T")
# A log line at ERROR or worse, in the dev host's text format or the apps' JSON format.
_ERROR_LINE = re.compile(r'^\S+ \S+ (ERROR|CRITICAL) |"level": "(ERROR|CRITICAL)"', re.MULTILINE)


def wait_for(probe: Callable[[], T | None], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (found := probe()) is not None:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


class AzureLike:
    """The running stack, and how a test talks to it as TradingView and an operator would."""

    def __init__(self, urls: dict[str, Any], proc: ReadyLineProcess) -> None:
        self.urls = urls
        self.proc = proc
        self.values = json.loads(Path(urls["settings"]).read_text())["Values"]
        self.started = time.monotonic()
        self.n = 0

    def identity(self) -> dict[str, Any]:
        return dict(httpx.get(self.urls["identity"], timeout=5).json())

    def post(self, **alert: Any) -> httpx.Response:
        self.n += 1
        key = self.values["DEVHOST_FUNCTION_KEYS"].split(",")[0]
        body = {
            "secret": self.values["WEBHOOK_SECRET_DEMO"],
            "alert_id": f"azure-like-{time.time_ns()}-{self.n}",
            **alert,
        }
        url = f"{self.urls['functions']}/api/webhook/demo?code={key}"
        return httpx.post(url, json=body, timeout=15)

    def sim_state(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.urls['tradovate_admin']}/state", timeout=10).json())

    def mark(self, root: str) -> str:
        prices = httpx.get(
            f"{self.urls['tradovate_admin']}/price", params={"symbol": root}, timeout=10
        ).json()
        return str(next(iter(prices.values()))["price"])

    def rows(self, table: str, column: str, value: str) -> list[dict[str, Any]]:
        """Read the rows whose ``column`` is ``value`` from Azurite over HTTPS, signed in as
        the operator's managed identity."""
        operator = self.identity()["operator"]
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("IDENTITY_ENDPOINT", operator["IDENTITY_ENDPOINT"])
            patch.setenv("IDENTITY_HEADER", operator["IDENTITY_HEADER"])
            credential = ManagedIdentityCredential(client_id=operator["AZURE_CLIENT_ID"])
            with TableServiceClient(
                self.urls["tables"], credential=credential, connection_verify=self.urls["ca"]
            ) as service:
                names = {t.name for t in service.list_tables()}
                if table not in names:
                    return []
                client = service.get_table_client(table)
                query = f"{column} eq @value"
                return list(client.query_entities(query, parameters={"value": value}))

    def dead_letters(self) -> list[Any]:
        master = self.values["DEVHOST_MASTER_KEY"]
        report = httpx.get(
            f"{self.urls['functions_background']}/admin/queues/signals",
            headers={"x-functions-key": master},
            timeout=10,
        ).json()
        return list(report["dead_letters"])

    def error_lines(self) -> dict[str, list[str]]:
        found = {}
        for log in sorted(Path(self.urls["logs"]).glob("*.log")):
            lines = [m.group(0) for m in _ERROR_LINE.finditer(log.read_text(errors="replace"))]
            if lines:
                found[log.name] = [
                    line
                    for line in log.read_text(errors="replace").splitlines()
                    if _ERROR_LINE.search(line)
                ][:5]
        return found


@pytest.fixture(scope="module")
def azure_like() -> Iterator[AzureLike]:
    proc = ReadyLineProcess(
        [sys.executable, "-m", "local.stack", "--azure-like",
         "--token-lifetime-s", str(TOKEN_LIFETIME_S)],
        timeout_s=90,
    )  # fmt: skip
    urls = proc.start()
    stack = AzureLike(urls, proc)
    try:
        yield stack
    finally:
        code = proc.stop()
    assert code == 0, proc.log_text[-3000:]


def _fills_on_both_accounts(stack: AzureLike, action: str, count: int) -> list[Any] | None:
    state = stack.sim_state()
    fills = [f for f in state["fills"] if f["action"] == action]
    return fills if len(fills) >= count else None


def _fill_rows(stack: AzureLike, signal_id: str, count: int) -> list[Any] | None:
    rows = stack.rows("tbFills", "signal_id", signal_id)
    return rows if len(rows) >= count else None


def test_alerts_fill_record_and_journal_across_token_expiry(azure_like: AzureLike) -> None:
    stack = azure_like
    assert stack.urls["tables"].startswith("https://")
    assert "@" not in stack.urls["redis"]  # no credentials: only an Entra token gets in
    # Without a token Azurite refuses, as a storage account with shared keys off does.
    trust = ssl.create_default_context(cafile=stack.urls["ca"])
    refused = httpx.get(f"{stack.urls['tables']}/Tables", verify=trust, timeout=5)
    assert refused.status_code in {401, 403}

    first = stack.post(intent="buy", symbol="NQ1!", quantity=1, price=stack.mark("MNQ"))
    assert first.status_code == 202, first.text
    signal_id = first.json()["id"]
    wait_for(lambda: _fills_on_both_accounts(stack, "Buy", 2), 30, "the entry fills")
    positions = {p["accountId"]: p["netPos"] for p in stack.sim_state()["positions"]}
    assert (positions.get(10001), positions.get(10002)) == (1, 2)
    # The worker recorded both fills (its identity, over HTTPS) and the webhook journaled it.
    wait_for(lambda: _fill_rows(stack, signal_id, 2), 30, "the worker's fill rows")
    [journal] = wait_for(
        lambda: stack.rows("tbAlerts", "PartitionKey", "demo") or None, 20, "the journal"
    )
    assert journal["RowKey"] == signal_id

    # Outlive every token issued so far, then trade again on renewed ones.
    time.sleep(max(0.0, TOKEN_LIFETIME_S + 3 - (time.monotonic() - stack.started)))
    second = stack.post(intent="sell", symbol="NQ1!", quantity=1, price=stack.mark("MNQ"))
    assert second.status_code == 202, second.text
    second_id = second.json()["id"]
    wait_for(lambda: _fills_on_both_accounts(stack, "Sell", 2), 30, "the exit fills")
    wait_for(lambda: _fill_rows(stack, second_id, 2), 30, "the worker's exit fill rows")

    issued = stack.identity()["apps"]
    for app in ("functions", "worker"):
        assert issued[app]["issued"][REDIS_RESOURCE] >= 2, (app, issued[app])
        assert issued[app]["issued"][STORAGE_RESOURCE] >= 1, (app, issued[app])
    assert stack.dead_letters() == []
    assert stack.error_lines() == {}
    assert stack.proc.alive


def test_unresolved_key_vault_reference_is_refused_before_any_login(
    tmp_path: Path, tradovate_sim: SimulatorServer
) -> None:
    """The worker, run from its package with the IaC's settings, refuses a password that is
    still a Key Vault reference: it exits 2 and never sends it to the broker."""
    layout = lay_out_everything(tmp_path)
    local = Locals(
        redis_url="redis://127.0.0.1:1/0",  # never reached: the settings are refused first
        tables_uri="https://127.0.0.1:1/devstoreaccount1",
        tradovate_base_url=tradovate_sim.base_url,
        tradovate_md_ws_url=tradovate_sim.md_ws_url,
        function_client_id="func",
        worker_client_id="worker",
        strategy_ids=layout.strategy_ids,
    )
    vault = local_vault(layout.strategy_ids)
    del vault["tradovate-password"]
    settings = resolve_references(app_settings("worker", local), vault)
    assert settings["TRADOVATE_PASSWORD"].startswith("@Microsoft.KeyVault(")
    # As App Service runs it: from the package folder, with only the app settings.
    proc = ReadyLineProcess(
        [str(runtime_python()), "-m", "worker", "--host", "127.0.0.1", "--port", "0"],
        cwd=layout.worker,
        env=platform_environment(settings, {}),
        log_path=tmp_path / "worker.log",
        timeout_s=20,
    )
    with pytest.raises(ServiceError, match="did not become ready"):
        proc.start()
    assert proc.returncode == 2
    assert "TRADOVATE_PASSWORD" in proc.log_text
    assert "Key Vault reference" in proc.log_text
    assert tradovate_sim.admin("GET", "/stats")["logins"] == 0
