"""checkov over both template sets passes with only the documented skip list.

scripts/bootstrap installs checkov, pinned, into .tools/checkov; this test never installs it
(an install from PyPI does not fit in a test timeout on a fresh, busy machine). It stops with
"run scripts/bootstrap" when the tool is missing or at another pin, and runs scripts/checkov
with TRADEBRIDGE_NO_INSTALL=1 so the script cannot install either. The scan takes about 11 s
on an idle machine and about twice that with both cores busy, hence the timeout below.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".tools" / "checkov"


def _pinned_version() -> str:
    bootstrap = (ROOT / "scripts" / "bootstrap").read_text(encoding="utf-8")
    match = re.search(r'^CHECKOV_VERSION="([^"]+)"', bootstrap, re.MULTILINE)
    assert match, 'scripts/bootstrap pins checkov with a CHECKOV_VERSION="..." line'
    return match.group(1)


def _require_installed() -> None:
    stamp = VENV / ".tradebridge-version"
    installed = stamp.read_text(encoding="utf-8") if stamp.exists() else "nothing"
    pinned = _pinned_version()
    if not (VENV / "bin" / "checkov").exists() or installed != pinned:
        pytest.fail(
            f"{VENV} has {installed}, not the pinned checkov {pinned}: run scripts/bootstrap "
            "(tests never install tools)",
            pytrace=False,
        )


@pytest.mark.timeout(300)
def test_checkov_with_both_template_sets_finds_no_failed_check() -> None:
    _require_installed()
    result = subprocess.run(
        [str(ROOT / "scripts" / "checkov")],
        cwd=ROOT,
        env={**os.environ, "TRADEBRIDGE_NO_INSTALL": "1"},
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "installing" not in result.stderr
    assert "Failed checks: 0" in result.stdout


def test_checkov_skip_list_with_every_entry_has_a_reason() -> None:
    config_text = (ROOT / "infra" / ".checkov.yaml").read_text(encoding="utf-8")
    skips = re.findall(r"^  - (CKV2?_AZURE_\d+) +# *(.*)$", config_text, re.MULTILINE)
    listed = re.findall(r"^  - (CKV\S*)", config_text, re.MULTILINE)
    assert skips
    assert len(skips) == len(listed), "every skipped check needs a reason on its line"
    for check, reason in skips:
        assert len(reason) > 20, check
