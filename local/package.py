"""Reproduce the file set `azd package` / `azd deploy` zips for each service of azure.yaml.

Both services use `project: .`, so the package is the repository root filtered by the ignore file
azd honours for the service's host, plus the exclusions azd always applies. The rules below are
azd's own (`createDeployableZip` in Azure/azure-dev `cli/azd/pkg/project/project_utils.go`, read at
commit ae35809f, Aug 2026; ignore file per host in `service_target.go` `IgnoreFile()`):

- `host: function` honours `.funcignore`; `host: appservice` honours `.webappignore`
  (https://learn.microsoft.com/azure/developer/azure-developer-cli/service-packaging-ignore-files).
  The syntax is gitignore's; azd parses it with github.com/denormal/go-gitignore, we with pathspec's
  `GitIgnoreSpec`, both relative to the service root.
- Always excluded: every directory named `.azure`, every file named like the ignore file itself
  and, for `host: function` only, every file named `local.settings.json`.
- Only when the ignore file is absent, the Python defaults apply: directories holding a
  `pyvenv.cfg` (virtualenvs) and `__pycache__` directories. With an ignore file present azd does
  *not* add them, so our ignore files must list them (azd's functional test
  `Test_CLI_Package_ZipDeploy_Exclusions` ships `__pycache__/file` when `.webappignore` exists).
- An excluded directory is not descended into (the zip walk skips it), and symlinks are followed.

The local "Azure-like" stack (local/stack.py) lays packages out with `lay_out` so it runs exactly
what would ship; tests/infra/test_packages.py asserts what each package holds.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

import pathspec

Service = Literal["functions", "worker"]

# azure.yaml service name -> the ignore file azd reads for that service's host.
IGNORE_FILES: dict[Service, str] = {"functions": ".funcignore", "worker": ".webappignore"}

_MAX_SYMLINK_DEPTH = 40  # azd's rzip gives up at the same depth, like the `zip` tool


def package_files(app_root: Path, service: Service) -> list[str]:
    """Return the sorted relative POSIX paths of the files azd would package for `service`."""
    ignore_name = IGNORE_FILES[service]
    ignore_path = app_root / ignore_name
    spec: pathspec.GitIgnoreSpec | None = None
    if ignore_path.is_file():
        # azd strips a UTF-8 BOM before parsing; utf-8-sig does the same.
        lines = ignore_path.read_text(encoding="utf-8-sig").splitlines()
        spec = pathspec.GitIgnoreSpec.from_lines(lines)
    files: list[str] = []
    _walk(app_root, "", service, ignore_name, spec, files, depth=0)
    return sorted(files)


def lay_out(app_root: Path, service: Service, dest: Path) -> Path:
    """Copy exactly the files of `service`'s package into `dest` and return `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel in package_files(app_root, service):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(app_root / rel, target)
    return dest


def _excluded(
    entry: os.DirEntry[str],
    rel: str,
    is_dir: bool,
    service: Service,
    ignore_name: str,
    spec: pathspec.GitIgnoreSpec | None,
) -> bool:
    name = entry.name
    if is_dir and name == ".azure":
        return True
    if not is_dir and name == ignore_name:
        return True
    if service == "functions" and not is_dir and name == "local.settings.json":
        return True
    if spec is not None:
        return spec.match_file(rel + "/" if is_dir else rel)
    if is_dir:
        return name.lower() == "__pycache__" or Path(entry.path, "pyvenv.cfg").exists()
    return False


def _walk(
    directory: Path,
    prefix: str,
    service: Service,
    ignore_name: str,
    spec: pathspec.GitIgnoreSpec | None,
    out: list[str],
    depth: int,
) -> None:
    if depth > _MAX_SYMLINK_DEPTH:
        return
    with os.scandir(directory) as entries:
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            is_dir = entry.is_dir(follow_symlinks=True)
            if _excluded(entry, rel, is_dir, service, ignore_name, spec):
                continue
            if is_dir:
                next_depth = depth + 1 if entry.is_symlink() else depth
                _walk(Path(entry.path), f"{rel}/", service, ignore_name, spec, out, next_depth)
            elif entry.is_file(follow_symlinks=True):
                out.append(rel)
