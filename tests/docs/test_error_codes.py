"""Every webhook error code and every denial reason in the code is on the troubleshooting page."""

from __future__ import annotations

import re

import pytest

from tests.docs.codes import ROOT, denial_codes, webhook_codes

PAGE = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
DOCUMENTED = set(re.findall(r"`([a-z][a-z0-9_]+)`", PAGE))


def test_the_code_scan_finds_codes_from_each_kind_of_source() -> None:
    codes = webhook_codes()
    # a literal code= keyword, a reader's fail() helper, a module constant, a class default
    assert {"ip_not_allowed", "malformed_json", "conflicting_position", "rate_limited"} <= codes


@pytest.mark.parametrize("code", sorted(webhook_codes()))
def test_webhook_code_is_documented(code: str) -> None:
    assert code in DOCUMENTED, f"{code} is not explained in docs/troubleshooting.md"


@pytest.mark.parametrize("reason", sorted(denial_codes()))
def test_denial_reason_is_documented(reason: str) -> None:
    section = PAGE.split("## Denials", 1)[1].split("\n## ", 1)[0]
    assert f"`{reason}`" in section, f"{reason} is not in the Denials table"
