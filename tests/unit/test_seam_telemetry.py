"""The Application Insights exporter's credential, at the seam between our code and the distro.

Both IaC sets turn local (key) auth off on Application Insights, so ingestion succeeds only with
an Entra token for an identity holding Monitoring Metrics Publisher. Microsoft documents two
ways for Python: ``configure_azure_monitor(credential=ManagedIdentityCredential(client_id=...))``
(learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication?tabs=python), or the
``APPLICATIONINSIGHTS_AUTHENTICATION_STRING`` app setting, which azure-monitor-opentelemetry-
exporter reads itself when no ``credential`` is passed (its README, option ``credential``; the
installed version does so in ``export/_base.py::_get_authentication_credential``). Tradebridge uses
the app setting, so these tests pin both halves: our call passes no ``credential`` key at all,
and the installed exporter turns the setting into a token for the user-assigned identity.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local import bicep_reader as bicep
from shared import telemetry
from tests.adapters.test_seam_keyvault import IdentityEndpoint, identity_endpoint
from tests.conftest import make_settings
from tests.infra import tf_reader

__all__ = ["identity_endpoint"]  # the loopback managed-identity endpoint fixture

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "3c1e5a7b-9d2f-4e6a-8b0c-2d4f6a8b0c1e"
CONNECTION_STRING = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
    "IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;"
    "LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/;"
    "ApplicationId=11111111-1111-1111-1111-111111111111"
)
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Run configure_telemetry with an Entra authentication string; return what it configured."""
    monkeypatch.setenv(
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING", f"ClientId={CLIENT_ID};Authorization=AAD"
    )
    monkeypatch.setattr(telemetry, "_configured", False)  # process-global; restored afterwards
    logger = logging.getLogger("tradebridge.test.seam_telemetry")
    calls: list[dict[str, Any]] = []
    settings = make_settings(applicationinsights_connection_string=CONNECTION_STRING)

    configured = telemetry.configure_telemetry(
        settings, logger_name=logger.name, configure=lambda **kwargs: calls.append(kwargs)
    )

    assert configured is True
    [kwargs] = calls
    yield kwargs
    logger.handlers.clear()


def test_configure_telemetry_with_authentication_string_leaves_the_credential_to_the_exporter(
    captured: dict[str, Any],
) -> None:
    from azure.monitor.opentelemetry.exporter.export._base import (
        _get_authentication_credential,
    )

    assert captured["connection_string"] == CONNECTION_STRING
    # The exporter reads APPLICATIONINSIGHTS_AUTHENTICATION_STRING only when the ``credential``
    # key is absent: ``credential=None`` would silently switch Entra auth off, and with local
    # auth off Application Insights would then refuse every export.
    assert "credential" not in captured
    assert _get_authentication_credential(**captured, credential=None) is None


def test_exporter_credential_with_authentication_string_signs_in_as_its_client_id(
    captured: dict[str, Any], identity_endpoint: IdentityEndpoint
) -> None:
    from azure.identity import ManagedIdentityCredential
    from azure.monitor.opentelemetry.exporter.export._base import (
        _get_authentication_credential,
    )

    # configure_azure_monitor hands its keyword arguments, plus defaults of its own (none of
    # them ``credential``), to each exporter, whose constructor calls exactly this.
    credential = _get_authentication_credential(**captured)

    # learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication?tabs=python:
    # "We recommend ManagedIdentityCredential ... For user-assigned, provide the client_id".
    assert isinstance(credential, ManagedIdentityCredential)
    try:
        # The exporter's default audience (azure-monitor-opentelemetry-exporter _constants.py).
        credential.get_token("https://monitor.azure.com//.default")
    finally:
        credential.close()
    [(query, header)] = identity_endpoint.requests
    # learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference:
    # client_id selects the user-assigned identity.
    assert query["client_id"] == CLIENT_ID
    assert query["resource"].rstrip("/") == "https://monitor.azure.com"
    assert header == identity_endpoint.header


# --- what both IaC sets give each app -------------------------------------------------------


def _text(value: Any) -> str:
    return value.text if isinstance(value, bicep.Expr) else str(value)


def _bicep_app(kind: str) -> tuple[dict[str, str], str]:
    """Return an app's settings and the expression for its identity's client id."""
    app = bicep.parse_file(ROOT / "infra" / "bicep" / "modules" / "app.bicep")
    sites = bicep.parse_file(ROOT / "infra" / "bicep" / "modules" / "sites.bicep")
    site = bicep.unwrap(sites.modules[f"{kind}App"][1])["params"]
    assert site["siteConfig"]["appSettings"] == bicep.Expr(f"{kind}AppSettings")
    sites_call = bicep.unwrap(app.modules["sites"][1])["params"]
    [identity_param] = site["managedIdentities"]["userAssignedResourceIds"]
    identity = re.fullmatch(r"(\w+)\.outputs\.resourceId", _text(sites_call[_text(identity_param)]))
    assert identity is not None
    settings = bicep.resolve(app.variables[f"{kind}AppSettings"], app.variables)
    return {k: _text(v) for k, v in settings.items()}, f"${{{identity.group(1)}.outputs.clientId}}"


def _terraform_app(kind: str) -> tuple[dict[str, str], str]:
    tf = tf_reader.load_dir(ROOT / "infra" / "terraform")
    rtype = {"function": "azurerm_function_app_flex_consumption", "worker": "azurerm_linux_web_app"}
    app = tf.resources[(rtype[kind], "func" if kind == "function" else "worker")]
    merged = re.search(r"merge\(([\w., ]+)\)", app["app_settings"])
    assert merged is not None
    settings: dict[str, str] = {}
    for ref in merged.group(1).split(","):
        value = tf_reader.resolve("${" + ref.strip() + "}", tf)
        if isinstance(value, dict):
            settings.update(value)
    [identity_block] = app["identity"]
    [identity_id] = identity_block["identity_ids"]
    identity = re.fullmatch(r"\$\{(azurerm_user_assigned_identity\.\w+)\.id\}", identity_id)
    assert identity is not None
    return settings, f"${{{identity.group(1)}.client_id}}"


def _app_insights_local_auth_disabled() -> dict[str, object]:
    tf = tf_reader.load_dir(ROOT / "infra" / "terraform")
    observability = bicep.parse_file(ROOT / "infra" / "bicep" / "modules" / "observability.bicep")
    return {
        "terraform": tf.resources[("azurerm_application_insights", "main")][
            "local_authentication_disabled"
        ],
        "bicep": bicep.unwrap(observability.modules["appInsights"][1])["params"][
            "disableLocalAuth"
        ],
    }


def test_app_insights_iac_with_both_sets_turns_local_auth_off() -> None:
    # learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication ("Disable local
    # authentication"):
    # with local auth off, only Entra-authenticated telemetry is ingested.
    assert _app_insights_local_auth_disabled() == {"terraform": True, "bicep": True}


@pytest.mark.parametrize("iac", ["bicep", "terraform"])
@pytest.mark.parametrize("kind", ["function", "worker"])
def test_app_iac_with_local_auth_off_names_the_apps_own_identity_for_ingestion(
    iac: str, kind: str
) -> None:
    settings, client_id = (_bicep_app if iac == "bicep" else _terraform_app)(kind)
    # learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication (Environment variable
    # configuration): user-assigned identity = "Authorization=AAD;ClientId={client id}".
    # Parsed as the exporter parses it: ';'-separated, '='-split, keys case-insensitive.
    fields = dict(part.split("=", 1) for part in settings[
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"
    ].split(";"))  # fmt: skip
    assert {k.lower(): v for k, v in fields.items()} == {
        "authorization": "AAD",
        "clientid": client_id,
    }
    # The distro must run once: the worker's own exporter would export everything twice.
    assert telemetry.WORKER_SELF_CONFIG_SETTING not in settings


@pytest.mark.parametrize("iac", ["bicep", "terraform"])
def test_app_insights_iac_with_entra_ingestion_grants_each_app_metrics_publisher(iac: str) -> None:
    if iac == "terraform":
        tf = tf_reader.load_dir(ROOT / "infra" / "terraform")
        assignments = [
            (ra["principal"], ra["scope"], ra["role_id"])
            for ra in tf.locals["role_assignments"].values()
        ]
    else:
        rbac = bicep.parse_file(ROOT / "infra" / "bicep" / "modules" / "rbac.bicep")
        assignments = [
            (ra["principal"], ra["scope"], ra["roleId"]) for ra in rbac.variables["roleAssignments"]
        ]
    # learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication (step 2): the identity
    # needs Monitoring Metrics Publisher on the Application Insights resource.
    publishers = {who for who, scope, role in assignments if role == MONITORING_METRICS_PUBLISHER}
    assert publishers == {"func", "worker"}
    assert {scope for _, scope, role in assignments if role == MONITORING_METRICS_PUBLISHER} == {
        "appinsights"
    }
