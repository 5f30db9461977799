"""Each azd package ships what its service runs and nothing else (local/package.py models azd).

The repository-level tests run on the real working tree with local/node/node_modules installed
(scripts/bootstrap puts Azurite there, ~365 MB): before .webappignore existed the worker package
held it, .git, .tools and the tests (D7). The tmp_path tests pin the azd rules package.py copies.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from local.package import Service, lay_out, package_files

ROOT = Path(__file__).resolve().parents[2]

REQUIRED: dict[Service, set[str]] = {
    "functions": {"requirements.txt", "host.json", "function_app.py", "functions/", "shared/"},
    "worker": {"requirements.txt", "worker/", "shared/"},
}
# Top-level entries a package may hold: what the service runs, plus the trader's strategy file.
ALLOWED_TOP: dict[Service, set[str]] = {
    "functions": {"requirements.txt", "host.json", "function_app.py", "functions", "shared"},
    "worker": {"requirements.txt", "worker", "shared"},
}
FORBIDDEN_PARTS = {
    ".git", ".venv", ".tools", "tests", "bench", "local", "infra", "docs", "node_modules",
    "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "scripts", ".github",
}  # fmt: skip
# Measured on this tree (Dec 2026): functions 95 files / 0.64 MB, worker 104 files / 0.76 MB.
# 2 MB leaves room for growth and still fails at once if a virtualenv or node_modules slips in.
MAX_BYTES = 2_000_000


def _top(path: str) -> str:
    return path.split("/", 1)[0]


@pytest.fixture(scope="module")
def node_modules_present() -> None:
    if not (ROOT / "local" / "node" / "node_modules").is_dir():
        pytest.fail("run scripts/bootstrap first: the test needs local/node/node_modules present")


@pytest.mark.usefixtures("node_modules_present")
@pytest.mark.parametrize("service", ["functions", "worker"])
def test_package_with_bootstrapped_tree_holds_only_what_the_service_runs(service: Service) -> None:
    files = package_files(ROOT, service)
    for required in REQUIRED[service]:
        if required.endswith("/"):
            assert any(f.startswith(required) for f in files), required
        else:
            assert required in files, required
    extra = {_top(f) for f in files} - ALLOWED_TOP[service] - {"strategies.toml"}
    assert not extra, f"{service} package ships {sorted(extra)}"
    for f in files:
        assert not FORBIDDEN_PARTS.intersection(f.split("/")), f
        assert not f.endswith((".pyc", ".md")), f
    size = sum((ROOT / f).stat().st_size for f in files)
    assert size < MAX_BYTES, f"{service} package is {size} bytes"


@pytest.mark.parametrize("service", ["functions", "worker"])
def test_package_with_strategies_file_present_ships_it(service: Service, tmp_path: Path) -> None:
    for name in (".funcignore", ".webappignore"):
        (tmp_path / name).write_text((ROOT / name).read_text(encoding="utf-8"), encoding="utf-8")
    for rel in ("requirements.txt", "strategies.toml", "strategies.example.toml", "README.md"):
        (tmp_path / rel).write_text("x\n", encoding="utf-8")
    files = package_files(tmp_path, service)
    assert "strategies.toml" in files
    assert "strategies.example.toml" not in files
    assert "README.md" not in files


@pytest.mark.parametrize("service", ["functions", "worker"])
def test_packaged_modules_with_first_party_imports_resolve_inside_the_package(
    service: Service,
) -> None:
    files = package_files(ROOT, service)
    shipped = {_top(f).removesuffix(".py") for f in files}
    first_party = {p.name.removesuffix(".py") for p in ROOT.iterdir() if not p.name.startswith(".")}
    for rel in (f for f in files if f.endswith(".py")):
        tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".", 1)[0]
                # local, tests, bench (or the other service) are never imported at runtime.
                assert root not in first_party or root in shipped, f"{rel} imports {name}"


def test_package_files_with_ignore_file_applies_it_and_drops_azd_fixed_exclusions(
    tmp_path: Path,
) -> None:
    (tmp_path / ".funcignore").write_text("/tests/\n*.log\n", encoding="utf-8")
    for rel in (
        "function_app.py", "tests/test_x.py", "debug.log", "local.settings.json",
        "sub/local.settings.json", ".azure/env/.env", "__pycache__/m.pyc",
    ):  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x", encoding="utf-8")
    # With an ignore file azd adds no Python defaults: __pycache__ ships unless listed.
    assert package_files(tmp_path, "functions") == ["__pycache__/m.pyc", "function_app.py"]


def test_package_files_without_ignore_file_uses_azd_python_defaults(tmp_path: Path) -> None:
    for rel in ("app.py", "env/pyvenv.cfg", "env/lib/x.py", "__pycache__/m.pyc", "tests/t.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x", encoding="utf-8")
    # local.settings.json is dropped for function apps only.
    (tmp_path / "local.settings.json").write_text("{}", encoding="utf-8")
    assert package_files(tmp_path, "worker") == ["app.py", "local.settings.json", "tests/t.py"]


def test_lay_out_with_worker_copies_exactly_the_package(tmp_path: Path) -> None:
    dest = lay_out(ROOT, "worker", tmp_path / "worker")
    copied = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert copied == package_files(ROOT, "worker")
