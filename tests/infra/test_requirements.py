"""The committed requirements.txt is uv.lock's runtime export, and it alone runs both apps.

What Azure installs is requirements.txt only (Flex remote build; App Service Oryx build with
SCM_DO_BUILD_DURING_DEPLOYMENT). D2: aiohttp was a dev dependency, so in a venv built from the
export the async Key Vault / Tables / identity clients raised ImportError. D3: no requirements.txt
shipped at all. scripts/bootstrap builds .tools/runtime from requirements.txt alone (uv pip sync)
and installs nothing else into it; these tests only use it, they never install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from local.package import Service, lay_out

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools" / "uv" / "bin" / "uv"
RUNTIME = ROOT / ".tools" / "runtime"
RUNTIME_PYTHON = RUNTIME / "bin" / "python"
# The exact command whose output is committed (uv writes it into the file's header).
EXPORT = ["export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "-o"]


def _names(requirements: str) -> set[str]:
    names = set()
    for line in requirements.splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if match:
            names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def _clean_env() -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}


def test_requirements_with_fresh_uv_export_is_identical(tmp_path: Path) -> None:
    assert UV.exists(), "run scripts/bootstrap: it installs the pinned uv into .tools/uv"
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy2(ROOT / name, tmp_path / name)
    env = {**_clean_env(), "UV_OFFLINE": "1", "UV_PYTHON_DOWNLOADS": "never"}
    result = subprocess.run(
        [str(UV), *EXPORT, "requirements.txt", "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    fresh = (tmp_path / "requirements.txt").read_text(encoding="utf-8")
    committed = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert committed == fresh, "stale: rerun the export named in requirements.txt's header"


def test_requirements_with_runtime_dependencies_lists_them_and_never_the_worker_package() -> None:
    names = _names((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    assert {"aiohttp", "redis-entraid", "pydantic", "azure-functions"} <= names
    # The platform manages the Python worker (Azure-Samples/functions-e2e-sb-vnet requirements.txt).
    assert "azure-functions-worker" not in names


@pytest.fixture(scope="module")
def runtime_python() -> Path:
    if not RUNTIME_PYTHON.exists():
        pytest.fail("run scripts/bootstrap: it builds .tools/runtime from requirements.txt")
    stamp = RUNTIME / ".tradebridge-requirements"
    committed = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    if not stamp.exists() or stamp.read_text(encoding="utf-8") != committed:
        pytest.fail("run scripts/bootstrap: .tools/runtime is older than requirements.txt")
    return RUNTIME_PYTHON


def _run_in(python: Path, cwd: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", code],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_runtime_venv_with_requirements_only_holds_nothing_else(runtime_python: Path) -> None:
    code = (
        "import importlib.metadata as m, re\n"
        "print('\\n'.join(re.sub(r'[-_.]+', '-', d.metadata['Name']).lower()"
        " for d in m.distributions()))"
    )
    result = _run_in(runtime_python, ROOT, code)
    assert result.returncode == 0, result.stderr
    installed = set(result.stdout.split())
    assert installed <= _names((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    assert sys.prefix != str(RUNTIME)


ASYNC_CLIENTS = """
import asyncio
from azure.data.tables.aio import TableServiceClient
from azure.identity.aio import DefaultAzureCredential
from azure.keyvault.secrets.aio import SecretClient

async def main():
    credential = DefaultAzureCredential()
    tables = TableServiceClient("https://acct.table.core.windows.net", credential=credential)
    secrets = SecretClient(vault_url="https://kv.vault.azure.net", credential=credential)
    await tables.close()
    await secrets.close()
    await credential.close()

asyncio.run(main())
print("ok")
"""


@pytest.mark.parametrize(
    ("service", "entry"), [("functions", "function_app"), ("worker", "worker.app")]
)
def test_runtime_venv_with_laid_out_package_imports_the_app_and_builds_async_clients(
    runtime_python: Path, tmp_path: Path, service: Service, entry: str
) -> None:
    # Run from the package azd would ship, so neither the repository nor .venv is importable.
    package = lay_out(ROOT, service, tmp_path / service)
    result = _run_in(runtime_python, package, f"import {entry}\n{ASYNC_CLIENTS}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
