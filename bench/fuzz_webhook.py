"""Fuzz the webhook over HTTP through the dev host: ``python -m bench.fuzz_webhook``.

The fuzzer lives in :mod:`bench.fuzz` (its docstring says what it checks); this module keeps
the command's name.
"""

from __future__ import annotations

import sys

from bench.fuzz.run import main

if __name__ == "__main__":
    sys.exit(main())
