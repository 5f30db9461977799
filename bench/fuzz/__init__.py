"""Fuzz the webhook over HTTP through the dev host: ``python -m bench.fuzz_webhook``.

``--requests N [--seed S]`` starts the whole local stack in this process (fresh settings in a
temporary folder) or, with ``--stack '<JSON line>'``, uses a running one, then sends N hostile
requests spread evenly over the categories in :data:`bench.fuzz.categories.CATEGORIES`,
interleaved in a seeded order. Request ``i`` of a category is built from
``Random("{seed}/{category}/{i}")`` alone, so any one request can be rebuilt without the rest
(``--show CATEGORY:I``), and every category cycles through all of its shapes.

Invariants, counted per category:

* no 5xx (no dependency is stopped on purpose, so not even a 503);
* no request slower than 100 ms of the app's own time (``X-Process-Time-ms``); one that gets no
  answer within TradingView's 3 s counts as slow and as a timeout (wall time is recorded apart);
* no order at the simulator, no queue message and no ledger entry from a refused request:
  every one must belong to a signal id a 202 answered with;
* every 4xx has a JSON body with ``code`` and ``message``;
* no secret at rest (:mod:`bench.secrets_scan`: Redis, Tables, every process's log);
* shapes with a definite answer get it (the control alerts 202, bodies over the limit 413...).

A shape that timed out once is not sent again in the run (each costs the host seconds of CPU
that would be charged to the requests behind it), and the run waits until the host answers
again. It prints a table and each violated (shape, invariant) with its smallest request, and
exits 1 on any violation.
"""
