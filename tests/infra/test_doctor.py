"""azure-functions-doctor finds no failed check on the function app (the repository root).

The doctor (PyPI azure-functions-doctor, third-party, yeongseon) is a static checker: it never
imports the app. scripts/bootstrap installs the pinned version (DOCTOR_VERSION there) into
.tools/doctor; this test never installs it, and stops with "run scripts/bootstrap" when it is
missing or at another pin. The scan takes about 30 s on an idle machine and about twice that
with both cores busy, hence the timeout below. Besides "no fail", every warning it raises must be
one judged below, so a new finding is read by a person instead of scrolling past.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCTOR = ROOT / ".tools" / "doctor" / "bin" / "azure-functions-doctor"

# rule_id -> why the warning does not apply to this project (checked against the doctor 0.23.1
# source in .tools/doctor/.../azure_functions_doctor/handlers/).
JUDGED_WARNINGS = {
    # It looks for `app.register_functions(bp)` by the alias name; function_app.py registers
    # `ops_http.bp`, `webhook_http.bp`, ... (attribute access), which its matcher misses.
    "check_blueprint_registration": "false positive: blueprints registered as module.bp",
    # Wants an activated .venv/venv or VIRTUAL_ENV; the tests run .venv/bin/* directly.
    "check_venv": "no activated virtualenv in a subprocess; not a deploy concern",
    # cryptography (via azure-identity/msal) has wheels for the Functions Linux image; deploys
    # use the remote build, which is exactly the doctor's recommendation.
    "check_native_dependency_risk": "remote build already in use",
    # It greps every *.bicep/*.json for the key linuxFxVersion. The only one is the worker's
    # App Service site (infra/bicep/modules/sites.bicep, workerApp); the Flex app declares
    # functionAppConfig.runtime {name: python, version: 3.12} as the doctor asks.
    "check_flex_runtime_config": "false positive: linuxFxVersion is on the App Service worker",
    # It resolves `connection=` names against local.settings.json only (absent in a clone; the
    # postprovision hook writes ServiceBusConnection__fullyQualifiedNamespace into it) and scans
    # tests/fixtures too. In Azure the Bicep/Terraform set the identity-based group
    # ServiceBusConnection__fullyQualifiedNamespace/__credential/__clientId.
    "check_binding_connection_resolution": "settings come from the templates, not a local file",
    # local.settings.json is generated (postprovision hook or the local stack) and gitignored.
    "check_local_settings": "generated file, absent in a clean clone by design",
    # Core Tools are not used: azd deploys, and the local stack has its own dev host.
    "check_func_cli": "Functions Core Tools not used",
    "check_func_core_tools_version": "Functions Core Tools not used",
    # APPLICATIONINSIGHTS_CONNECTION_STRING is an app setting from the templates, not a local env.
    "check_app_insights": "set by the templates in Azure",
}


def _require_installed() -> None:
    bootstrap = (ROOT / "scripts" / "bootstrap").read_text(encoding="utf-8")
    match = re.search(r'^DOCTOR_VERSION="([^"]+)"', bootstrap, re.MULTILINE)
    assert match, 'scripts/bootstrap pins the doctor with a DOCTOR_VERSION="..." line'
    stamp = DOCTOR.parents[1] / ".tradebridge-version"
    installed = stamp.read_text(encoding="utf-8") if stamp.exists() else "nothing"
    if not DOCTOR.exists() or installed != match.group(1):
        pytest.fail(
            f"{DOCTOR.parents[1]} has {installed}, not the pinned azure-functions-doctor "
            f"{match.group(1)}: run scripts/bootstrap (tests never install tools)",
            pytrace=False,
        )


def _items(report: dict[str, object]) -> list[dict[str, str]]:
    results = report["results"]
    assert isinstance(results, list)
    return [item for group in results for item in group["items"]]


@pytest.mark.timeout(300)
def test_doctor_with_repository_root_reports_no_failed_and_only_judged_warnings() -> None:
    _require_installed()
    result = subprocess.run(
        [str(DOCTOR), "doctor", "--path", str(ROOT), "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    items = _items(json.loads(result.stdout))
    assert len(items) > 20, "the doctor ran its rule set"
    failed = [(i["rule_id"], i["value"]) for i in items if i["status"] == "fail"]
    assert not failed
    unjudged = [
        (i["rule_id"], i["value"][:300])
        for i in items
        if i["status"] == "warn" and i["rule_id"] not in JUDGED_WARNINGS
    ]
    assert not unjudged, "new doctor warning: fix it or judge it in JUDGED_WARNINGS"
