"""The generated reference pages match the code, and every key and setting has a meaning."""

from __future__ import annotations

import re

from local import docs_reference
from shared.config import Settings
from shared.strategies import Strategy


def test_generated_pages_are_up_to_date() -> None:
    for path, text in docs_reference.pages().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: run python -m local.docs_reference"
        )


def test_every_strategy_key_is_documented_with_a_meaning() -> None:
    page = docs_reference.strategy_page()
    for name in Strategy.model_fields:
        row = re.search(rf"^\| `{name}` \|.*\| (.+) \|$", page, re.M)
        assert row is not None, name
        assert len(row.group(1)) > 10, name
    rows = re.findall(r"^\| `[a-z_]+` \| .* \| (.*) \|$", page, re.M)
    assert len(rows) > 40
    assert all(len(meaning) > 10 for meaning in rows)


def test_every_setting_of_the_model_is_on_the_settings_page() -> None:
    page = docs_reference.settings_page()
    listed = set(re.findall(r"^\| `([A-Za-z0-9_]+)` \|", page, re.M))
    for name, field in Settings.model_fields.items():
        aliases = {name.upper()}
        if field.validation_alias is not None:
            choices = getattr(field.validation_alias, "choices", [field.validation_alias])
            aliases |= {str(c) for c in choices}
        assert aliases & listed, f"setting {name} is missing from docs/reference/settings.md"


def test_a_setting_without_a_comment_points_to_the_one_it_shares_a_comment_with() -> None:
    text = """{ "Values": {
    // --- group ---------
    // Keys for the host, and the admin key.
    "A": "",
    "B": "x",

    "C": "1"
    } }"""
    [(title, rows)] = docs_reference.read_example(text)
    assert title == "group"
    assert rows == [
        ("A", '""', "Keys for the host, and the admin key."),
        ("B", '"x"', "See `A` above."),
        ("C", '"1"', ""),
    ]
