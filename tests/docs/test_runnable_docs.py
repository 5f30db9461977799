"""Every runnable block of the README and the docs works as written, against a real local stack.

The stack is the one a reader starts with the README's first command (``python -m local.demo
--keep``: Redis, Azurite, the simulator, both dev hosts and the worker, after the demo's own
alert), with its own settings and state file so it never meets a stack a person runs. Each
block runs in bash (``set -euo pipefail``) from the repository root, page by page in the order
written, exactly as a reader pastes it; the text its page says it prints must be in its output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from tests.docs.blocks import ROOT, Runnable, runnable_blocks

pytestmark = pytest.mark.integration

BLOCKS = runnable_blocks()


@pytest.fixture(scope="module")
def reader_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Run what the README's first command runs (``scripts/dev --keep``, after the bootstrap):
    the demo's alert end to end, then the stack kept running for the reader's second terminal."""
    run = tmp_path_factory.mktemp("reader")
    state = run / "stack.json"
    demo = subprocess.Popen(
        [
            sys.executable, "-m", "local.demo", "--keep",
            "--settings", str(run / "local.settings.json"),
            "--state-file", str(state),
            "--logs", str(run / "logs"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    output, pump = _read_until(demo, "The stack keeps running", timeout_s=150)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEBRIDGE_", "NO_COLOR"))}
    env.update(TRADEBRIDGE_STACK_STATE=str(state), HOME=str(run), NO_COLOR="1")
    try:
        assert "orders at the Tradovate simulator" in output, output[-3000:]
        assert state.exists()
        yield env
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait(timeout=10)
        pump.join(timeout=10)  # it reads the demo's output to its end
        assert demo.stdout is not None
        demo.stdout.close()


def _read_until(
    proc: subprocess.Popen[str], marker: str, timeout_s: float
) -> tuple[str, threading.Thread]:
    lines: list[str] = []
    done = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if marker in line:
                done.set()
        done.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    done.wait(timeout_s)
    text = "".join(lines)
    if marker not in text:
        proc.kill()
        pytest.fail(f"the demo did not keep the stack running:\n{text[-3000:]}")
    return text, reader


def test_the_docs_have_runnable_blocks_on_the_pages_a_new_user_reads() -> None:
    pages = {block.page for block in BLOCKS}
    assert {"README.md", "docs/getting-started.md", "docs/runbook.md"} <= pages


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_runnable_block_works_as_written(reader_env: dict[str, str], block: Runnable) -> None:
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + block.commands],
        cwd=ROOT,
        env=reader_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{block.id} failed ({result.returncode}):\n{output[-3000:]}"
    assert block.expect in output, f"{block.id}: {block.expect!r} not in:\n{output[-3000:]}"


def test_a_block_that_fails_is_reported(reader_env: dict[str, str]) -> None:
    # The harness itself: a command that fails makes the block fail, as a reader would see it.
    broken = Runnable("probe", 0, "scripts/tradebridge signal no-such-signal\n", "never")
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + broken.commands],
        cwd=ROOT, env=reader_env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "tradebridge:" in result.stderr
    assert "Traceback" not in result.stderr
