"""Find the blocks of the docs that tests execute.

- Alert examples: every ```json and ```text block on the alert-format pages (docs/alerts/).
- Runnable blocks: a ```bash block right after a ``<!-- runnable: expect="TEXT" -->`` comment,
  in README.md and every page of docs/. The block's commands run in one shell, in order, from
  the repository root; TEXT must appear in what they print.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALERT_PAGES = sorted((ROOT / "docs" / "alerts").glob("*.md"))
_ALERT_BLOCK = re.compile(r"^```(?:json|text)\n(.*?)^```", re.M | re.S)
_RUNNABLE = re.compile(r'^<!-- runnable: expect="([^"]+)" -->\n```bash\n(.*?)^```', re.M | re.S)


@dataclass(frozen=True)
class Runnable:
    """One runnable block: where it is, its commands, and the text its output must hold."""

    page: str
    index: int
    commands: str
    expect: str

    @property
    def id(self) -> str:
        """Name the block in test ids."""
        return f"{self.page}#{self.index}"


def alert_examples() -> list[tuple[str, str]]:
    """Return (page, block) for every alert example."""
    return [
        (page.name, block)
        for page in ALERT_PAGES
        for block in _ALERT_BLOCK.findall(page.read_text(encoding="utf-8"))
    ]


def doc_pages() -> list[Path]:
    """Return README.md and every docs page."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def runnable_blocks() -> list[Runnable]:
    """Return every runnable block, page by page, in order."""
    found: list[Runnable] = []
    for page in doc_pages():
        text = page.read_text(encoding="utf-8")
        name = str(page.relative_to(ROOT))
        for index, (expect, commands) in enumerate(_RUNNABLE.findall(text)):
            found.append(Runnable(name, index, commands, expect))
    return found
