"""Run the fuzzer as ``python -m bench.fuzz`` (``python -m bench.fuzz_webhook`` is the same)."""

from __future__ import annotations

import sys

from bench.fuzz.run import main

if __name__ == "__main__":
    sys.exit(main())
