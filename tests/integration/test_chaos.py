"""A reduced chaos run through the whole local stack: every invariant holds under faults.

Runs ``bench.chaos`` in this process (``python -m bench.chaos --alerts 100 --kills 1
--redis-restarts 1 --socket-drops 1 --worker-kills 1``, with a 5 s session lock so the killed
executor's sessions move on quickly): 100 alerts over four strategies and both simulator
accounts, each re-sent up to four times, while the executor is SIGKILLed and restarted,
redis-server is restarted, the worker is SIGKILLed and started again 3 s later (its cache
still reads ``synced`` meanwhile), the simulator's sockets are cut and its order endpoints
answer 5xx (before and after doing the work), 429 and p-tickets. On a failure the message is
the run's table with the first lines behind each broken invariant; the same run is
``python -m bench.chaos --alerts 100 --kills 1 --redis-restarts 1 --socket-drops 1
--worker-kills 1 --rest-faults 8 --post-s 15 --lock-s 5``.
"""

from __future__ import annotations

import contextlib
import io

import pytest

from bench.chaos.report import judge, print_verdict
from bench.chaos.run import Options, run

pytestmark = pytest.mark.integration

OPTIONS = Options(
    alerts=100,
    seed=1,
    kills=1,
    redis_restarts=1,
    socket_drops=1,
    worker_kills=1,
    rest_faults=8,
    post_s=15.0,
    drain_s=40.0,
    lock_s=5,
)


@pytest.mark.timeout(150)
def test_chaos_with_kills_restarts_and_broker_faults_breaks_no_invariant() -> None:
    verdict = judge(run(OPTIONS))
    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        print_verdict(verdict, "reduced chaos run")
    figures = verdict.figures
    print(table.getvalue())  # shown with pytest -s

    # The faults happened (the simulator counts the REST ones it served).
    faults = ("kills", "redis restarts", "socket drops", "worker kills")
    assert [figures[name] for name in faults] == [1, 1, 1, 1], table.getvalue()
    rest_faults = ("5xx before", "5xx after", "429", "p-tickets")
    assert sum(figures[name] for name in rest_faults) > 0, table.getvalue()
    # Stale plans count only summaries that record their basis; the others are not judged.
    assert verdict.violations == dict.fromkeys(verdict.violations, 0), table.getvalue()
