"""Lay out what would run in Azure: the two deployment packages, the strategy file they ship,
the runtime interpreter, and a copy of the dev host that stands in for the Functions host.

The packages are exactly what ``azd`` zips (``local.package.lay_out``). The interpreter is
the runtime venv built from ``requirements.txt`` alone (``scripts/bootstrap``:
``.tools/runtime``), so a dependency the code imports but the export misses fails here as it
would in Azure. The dev host runs from a copy of only its own modules plus
``.tools/host-extras`` (croniter), and never has this repository on its path: ``shared`` can
only come from the laid-out package it serves.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from local.package import lay_out
from local.services import REPO_ROOT, ServiceError
from shared.strategies import load_strategies

RUNTIME_PYTHON = REPO_ROOT / ".tools" / "runtime" / "bin" / "python"
HOST_EXTRAS = REPO_ROOT / ".tools" / "host-extras"
LOCAL_STRATEGIES = REPO_ROOT / "local" / "strategies.local.toml"
# The stand-in host's own code: the dev host and the local queue it delivers from.
_HOST_FILES = ("local/__init__.py", "local/services.py", "local/queue_processor.py")
_HOST_PACKAGE = "local/devhost"
_SECRET_LINE = re.compile(r"^secret\s*=\s*\{[^}\n]*\}\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Layout:
    """Where each piece was laid out for one run."""

    functions: Path
    worker: Path
    host: Path
    workdir: Path
    strategy_ids: tuple[str, ...]

    def host_pythonpath(self) -> str:
        """Return the dev host's PYTHONPATH: its own code and its one extra, never the repo."""
        return f"{self.host}:{HOST_EXTRAS}"


def runtime_python() -> Path:
    """Return the runtime venv's interpreter, or raise ``ServiceError`` saying how to build it."""
    if not RUNTIME_PYTHON.exists() or not HOST_EXTRAS.is_dir():
        raise ServiceError(
            f"{RUNTIME_PYTHON} or {HOST_EXTRAS} is missing; run scripts/bootstrap to build the "
            "runtime venv from requirements.txt"
        )
    return RUNTIME_PYTHON


def deployed_strategies(source: Path) -> tuple[str, tuple[str, ...]]:
    """Return the strategy file as a deployment ships it, and its strategy ids.

    In Azure the webhook secret of strategy ``<id>`` is the Key Vault secret
    ``webhook-secret-<id>``, in the app setting ``WEBHOOK_SECRET_<ID>`` (app.bicep
    ``webhookSecretSettings``); the local file names environment variables instead, so each
    strategy's ``secret`` is rewritten to the Key Vault name the IaC uses.
    """
    text = source.read_text(encoding="utf-8")
    ids = tuple(load_strategies(source))
    out = []
    for index, section in enumerate(re.split(r"(?m)^(?=\[strategies\.)", text)):
        header = re.match(r"\[strategies\.([A-Za-z0-9_-]+)\]\s*$", section.split("\n", 1)[0])
        if index and header is not None and header.group(1) in ids:
            name = f'secret = {{ key_vault_secret = "webhook-secret-{header.group(1)}" }}'
            section = _SECRET_LINE.sub(name, section, count=1)
        out.append(section)
    return "".join(out), ids


def lay_out_everything(root: Path, strategies: Path = LOCAL_STRATEGIES) -> Layout:
    """Lay out both packages, their strategy file and the stand-in host under ``root``."""
    text, ids = deployed_strategies(strategies)
    functions = lay_out(REPO_ROOT, "functions", root / "functions")
    worker = lay_out(REPO_ROOT, "worker", root / "worker")
    for package in (functions, worker):
        (package / "strategies.toml").write_text(text, encoding="utf-8")
    host = root / "host"
    for rel in _HOST_FILES:
        (host / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, host / rel)
    shutil.copytree(
        REPO_ROOT / _HOST_PACKAGE,
        host / _HOST_PACKAGE,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    workdir = root / "cwd"  # neither the repo nor a package: a cwd-relative path breaks
    workdir.mkdir()
    return Layout(functions, worker, host, workdir, ids)
