"""Run the local stack in this process, with settings a fuzz run needs, and read its logs."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import stack_args, stack_settings
from bench.secrets_scan import stack_logs

# The fuzzer sends thousands of authenticated alerts a minute; at the local strategy's 600 a
# minute the controls would be answered 429. The limiter has its own tests (tests/unit).
FUZZ_RATE_LIMIT_PER_MIN = 6000  # the most the strategy file allows


def fuzz_settings(folder: Path) -> Path:
    """Write fresh local settings whose strategy file is the local one with no rate limit."""
    from local.stack import LOCAL_STRATEGIES

    strategies, n = re.subn(
        r"rate_limit_per_min = \d+",
        f"rate_limit_per_min = {FUZZ_RATE_LIMIT_PER_MIN}",
        LOCAL_STRATEGIES.read_text(encoding="utf-8"),
    )
    if n == 0:
        raise RuntimeError(f"{LOCAL_STRATEGIES} no longer sets rate_limit_per_min")
    strategies_file = folder / "strategies.fuzz.toml"
    strategies_file.write_text(strategies, encoding="utf-8")
    return stack_settings(folder, strategies_file)


@contextlib.contextmanager
def local_stack(folder: Path) -> Iterator[tuple[dict[str, Any], Callable[[], dict[str, str]]]]:
    """Run the local stack in this process; yield its URLs and a reader of every part's log."""
    from local.stack import Stack

    stack = Stack(stack_args(fuzz_settings(folder)))
    at_stop: dict[str, str] = {}

    def logs() -> dict[str, str]:
        # Read again: a part's log is complete only once the part has stopped.
        return at_stop | stack_logs(stack)

    try:
        yield stack.start(), logs
    finally:
        # Redis's append-only file keeps every write, deleted keys' values too; it is removed
        # with the stack, so it is read now.
        at_stop.update(stack_logs(stack))
        stack.stop()
