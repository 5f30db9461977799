"""The chaos run (``python -m bench.chaos``): alerts through the real local stack under faults.

Modules, in the order a run uses them: ``strategies`` (the run's own strategy file and the
oracle's rules), ``alerts`` (seeded alerts, their bodies and re-sends), ``post`` (posting over
HTTP), ``faults`` (kills, Redis restarts, socket drops, simulator 5xx/429/p-tickets),
``run`` (the stack, the drain, what is collected), ``oracle`` (the intended positions),
``invariants`` (the checks, pure) and ``report`` (the verdict, the table, the JSON).
"""
