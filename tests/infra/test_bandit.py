"""bandit finds no HIGH and no unjustified MEDIUM issue in the code that ships.

The runtime code is what the Functions host and the App Service worker run: function_app.py,
functions/, shared/ and worker/ (not tests/, local/ or bench/). A MEDIUM finding is either fixed
or justified on its own line with ``# nosec BXXX - <reason>``, which bandit then leaves out of
its results. A bare ``# nosec``, one without a reason, and a stale one that no longer matches a
finding (a second run with --ignore-nosec tells) all fail here. Nothing is skipped in a config
file: bandit runs its default rule set, and no .bandit file may sit in the scanned folders. LOW
findings do not fail on their own; the MEDIUM test lists them for reading when it fails.

scripts/bootstrap installs bandit, pinned (BANDIT_VERSION there), into .tools/bandit; this test
never installs it, and stops with "run scripts/bootstrap" when it is missing or at another pin.
Each scan takes about 2 s.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".tools" / "bandit"
RUNTIME = ("function_app.py", "functions", "shared", "worker")

# "# nosec B104 - reason" or "# nosec B104, B603 - reason"; the reason runs to the next "#"
# (ruff's own pragma for the same rule may follow it on the line).
_NOSEC = re.compile(r"#\s*nosec\b(?P<rest>[^#]*)")
_JUSTIFIED = re.compile(r"^\s+(?P<ids>B\d{3}(?:\s*,\s*B\d{3})*)\s+-\s+(?P<reason>\S.*?)\s*$")


def _require_installed() -> None:
    bootstrap = (ROOT / "scripts" / "bootstrap").read_text(encoding="utf-8")
    match = re.search(r'^BANDIT_VERSION="([^"]+)"', bootstrap, re.MULTILINE)
    assert match, 'scripts/bootstrap pins bandit with a BANDIT_VERSION="..." line'
    stamp = VENV / ".tradebridge-version"
    installed = stamp.read_text(encoding="utf-8") if stamp.exists() else "nothing"
    if not (VENV / "bin" / "bandit").exists() or installed != match.group(1):
        pytest.fail(
            f"{VENV} has {installed}, not the pinned bandit {match.group(1)}: "
            "run scripts/bootstrap (tests never install tools)",
            pytrace=False,
        )


def _runtime_files() -> Iterator[Path]:
    for name in RUNTIME:
        path = ROOT / name
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def _bandit(output: Path, *options: str) -> dict[str, Any]:
    _require_installed()
    # The report goes to a file, not stdout: bandit writes its warnings to stdout too.
    command = [str(VENV / "bin" / "bandit"), "--recursive", "--format", "json", "-o", str(output)]
    result = subprocess.run(
        [*command, *options, *RUNTIME],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    # Exit 1 means "issues found", which includes LOW ones; the tests below judge them.
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    report: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    return report


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _bandit(tmp_path_factory.mktemp("bandit") / "report.json")


def _nosec_comments() -> Iterator[tuple[str, int, str]]:
    for path in _runtime_files():
        source = path.read_text(encoding="utf-8")
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                for match in _NOSEC.finditer(token.string):
                    yield str(path.relative_to(ROOT)), token.start[0], match.group("rest")


def _shown(findings: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{f['test_id']} {f['issue_severity']} {f['filename']}:{f['line_number']} {f['issue_text']}"
        for f in findings
    )


def test_bandit_with_runtime_code_scans_every_file_with_the_default_rule_set(
    report: dict[str, Any],
) -> None:
    assert not report["errors"], report["errors"]
    assert report["metrics"]["_totals"]["loc"] > 5000, "bandit read the runtime code"
    scanned = {Path(name).resolve() for name in report["metrics"] if name != "_totals"}
    assert scanned == {path.resolve() for path in _runtime_files()}
    hidden_config = [
        str(path.relative_to(ROOT))
        for name in RUNTIME
        for path in (ROOT / name).rglob(".bandit")
        if (ROOT / name).is_dir()
    ]
    assert not hidden_config, "bandit reads these and may skip rules; justify inline instead"


def test_bandit_with_runtime_code_finds_no_high_severity_issue(report: dict[str, Any]) -> None:
    high = [f for f in report["results"] if f["issue_severity"] == "HIGH"]
    assert not high, _shown(high)


def test_bandit_with_runtime_code_finds_no_unjustified_medium_issue(
    report: dict[str, Any],
) -> None:
    medium = [f for f in report["results"] if f["issue_severity"] == "MEDIUM"]
    assert not medium, (
        "fix each, or justify it on the flagged line with '# nosec BXXX - <reason>':\n"
        + _shown(medium)
        + "\n(LOW, for reading:)\n"
        + _shown([f for f in report["results"] if f["issue_severity"] == "LOW"])
    )


def test_nosec_with_runtime_code_names_a_test_id_and_a_reason() -> None:
    unjustified = [
        f"{where}:{line}: nosec{rest}"
        for where, line, rest in _nosec_comments()
        if not (justified := _JUSTIFIED.match(rest)) or len(justified.group("reason")) < 10
    ]
    assert not unjustified, "write '# nosec BXXX - <reason>':\n" + "\n".join(unjustified)


def test_nosec_with_runtime_code_each_matches_a_finding(tmp_path: Path) -> None:
    everything = _bandit(tmp_path / "everything.json", "--ignore-nosec")
    found = {
        (str(Path(f["filename"])), line, f["test_id"])
        for f in everything["results"]
        for line in f["line_range"]
    }
    stale = [
        f"{where}:{line}: {test_id}"
        for where, line, rest in _nosec_comments()
        for test_id in re.findall(r"B\d{3}", rest.split(" - ")[0])
        if (where, line, test_id) not in found
    ]
    assert not stale, "a nosec that matches no finding any more: remove it\n" + "\n".join(stale)
