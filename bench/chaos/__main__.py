"""Run: ``python -m bench.chaos [--alerts 1000] [--seed 1] [--kills 4] [--redis-restarts 1]
[--socket-drops 3] [--json OUT]``; exits 1 when an invariant is violated."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.chaos.report import judge, print_verdict, write_json
from bench.chaos.run import Options, run


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kills", type=int, default=4, help="executor SIGKILLs and restarts")
    parser.add_argument("--redis-restarts", type=int, default=1)
    parser.add_argument("--socket-drops", type=int, default=3)
    parser.add_argument(
        "--worker-kills", type=int, default=0, help="worker SIGKILLs, restarted 3 s later"
    )
    parser.add_argument(
        "--rest-faults",
        type=int,
        default=None,
        help="simulator 5xx/429/p-ticket injections (default: alerts / 25)",
    )
    parser.add_argument(
        "--post-s",
        type=float,
        default=None,
        help="how long the posting lasts (default: 0.06 s an alert, >= 20 s)",
    )
    parser.add_argument("--drain-s", type=float, default=180.0)
    parser.add_argument("--lock-s", type=int, default=20, help="QUEUE_LOCK_DURATION_S (5-300)")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=20.0,
        help="latency the simulator adds to every order request",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    return parser.parse_args(argv)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the chaos run, print its table, and return 0 only if every invariant held."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    options = Options(
        alerts=args.alerts,
        seed=args.seed,
        kills=args.kills,
        redis_restarts=args.redis_restarts,
        socket_drops=args.socket_drops,
        worker_kills=args.worker_kills,
        rest_faults=args.rest_faults,
        post_s=args.post_s,
        drain_s=args.drain_s,
        lock_s=args.lock_s,
        latency_ms=args.latency_ms,
    )
    verdict = judge(run(options))
    print_verdict(
        verdict,
        f"chaos run: {args.alerts} alerts, seed {args.seed}, {args.kills} kills, "
        f"{args.redis_restarts} redis restarts, {args.socket_drops} socket drops, "
        f"{args.worker_kills} worker kills",
    )
    if args.json is not None:
        write_json(verdict, args.json)
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
