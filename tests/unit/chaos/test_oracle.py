"""The chaos run's oracle: each documented rule by hand, then agreement with the real planner
over random alert sequences rendered, parsed and planned as the webhook and executor do."""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bench.chaos.alerts import (
    draw_rules,
    native_body,
    pickmytrade_body,
    pickmytrade_can_say,
    spec_when_flat,
    spec_when_held,
    traderspost_body,
    traderspost_can_say,
)
from bench.chaos.oracle import AlertSpec, Rules, Step, replay, step
from bench.chaos.strategies import chaos_book, lanes
from shared.domain.alerts import parse_alert
from shared.domain.broker import Account, Contract, ContractSpec, Product
from shared.domain.planning import Book, plan
from shared.domain.policy import RiskState
from shared.domain.risk import Denial
from shared.services.policy_builder import policy_for

D = Decimal
NOW = datetime(2024, 11, 5, 15, 0, tzinfo=UTC)
LOOSE = Rules(allow_add=True, opposite="reverse")
A, R, S = AlertSpec, Rules, Step  # short names for the table below
BOOK = chaos_book()
LANES = lanes(BOOK)


@pytest.mark.parametrize(
    ("p", "spec", "rules", "expected"),
    [
        # entries, scaled and rounded down, default quantity when none
        (0, A("buy", qty=2), R(multiplier=D(2)), S(4, "done")),
        (0, A("sell"), R(multiplier=D("1.5")), S(-1, "done")),
        (0, A("buy", qty=1), R(multiplier=D("0.5")), S(0, "denied", "zero_quantity")),
        # adding
        (2, A("buy", qty=1), R(allow_add=False), S(2, "denied", "add_not_allowed")),
        (2, A("buy", qty=1), R(allow_add=True), S(3, "done")),
        (2, A("add", qty=1), R(allow_add=False), S(3, "done")),
        (-2, A("add", qty=1), R(), S(-3, "done")),
        (0, A("add", qty=1), R(), S(0, "denied", "no_direction")),
        # opposite signals
        (2, A("sell", qty=1), R(opposite="reverse"), S(-1, "done")),
        (2, A("sell", qty=3), R(opposite="exit_only"), S(0, "done")),
        (2, A("sell"), R(opposite="ignore"), S(2, "denied", "opposite_signal_ignored")),
        # exits: partial (scaled, at most the position), full, close, flat, from flat
        (3, A("exit", qty=1), R(multiplier=D(2)), S(1, "done")),
        (-3, A("exit", qty=5), R(), S(0, "done")),
        (3, A("exit"), R(), S(0, "done")),
        (3, A("close", qty=1), R(), S(0, "done")),
        (-3, A("flat"), R(), S(0, "done")),
        (0, A("exit"), R(), S(0, "done")),
        # reversals
        (3, A("reverse"), LOOSE, S(-3, "done")),
        (3, A("reverse", qty=1), R(multiplier=D(2)), S(-2, "done")),
        (0, A("reverse"), R(), S(0, "denied", "no_direction")),
        (0, A("reverse", side="sell", qty=2), R(), S(-2, "done")),
        # target positions
        (0, A("buy", position="long", size=2), R(multiplier=D(2)), S(4, "done")),
        (3, A("buy", position="long", size=1), R(), S(1, "done")),
        (1, A("buy", position="long", size=3), R(), S(1, "denied", "worst_case_add")),
        (1, A("buy", position="long", size=3), LOOSE, S(3, "done")),
        (2, A("sell", position="short", size=1), R(opposite="exit_only"), S(0, "done")),
        (2, A("buy", position="flat", size=0), R(), S(0, "done")),
        (1, A("buy", position="long"), R(), S(1, "denied", "add_not_allowed")),
        (1, A("buy", qty=2, position="long"), LOOSE, S(3, "done")),
        (-1, A("buy", position="long"), LOOSE, S(1, "done")),
        # max_position: refused, or a reversal clamped to its closing part
        (3, A("buy", qty=2), R(allow_add=True, max_position=4), S(3, "denied", "max_position")),
        (-2, A("buy", qty=3), R(opposite="reverse", max_position=2), S(0, "done", clamped=True)),
        (2, A("reverse", qty=5), R(max_position=4), S(0, "done", clamped=True)),
        # max_order_qty: only the opening part is bounded
        (0, A("buy", qty=4), R(max_order_qty=3), S(0, "denied", "max_order_qty")),
        (-4, A("buy", qty=3), R(opposite="reverse", max_order_qty=3), S(3, "done")),
        (-2, A("buy", qty=4), R(opposite="reverse", max_order_qty=3), S(0, "done", clamped=True)),
        (5, A("exit"), R(max_order_qty=2), S(0, "done")),
        # PickMyTrade's position rules: (reverse_order_close, pyramid, same_direction_ignore)
        (2, A("sell", qty=1, rules=(True, None, None)), R(), S(-1, "done")),
        (2, A("sell", qty=1, rules=(False, None, None)), R(opposite="reverse"), S(1, "done")),
        (1, A("sell", qty=3, rules=(False, None, None)), R(), S(-2, "done")),
        (2, A("buy", qty=1, rules=(None, True, None)), R(), S(2, "denied", "add_not_allowed")),
        (2, A("buy", qty=1, rules=(None, True, None)), LOOSE, S(3, "done")),
        (2, A("buy", qty=1, rules=(False, None, None)), LOOSE, S(3, "done")),
        (2, A("buy", qty=1, rules=(False, False, None)), R(), S(2, "denied", "add_not_allowed")),
        (2, A("buy", qty=1, rules=(True, True, True)), LOOSE,
         S(2, "denied", "same_direction_ignored")),
        (1, A("buy", qty=2, rules=(True, False, None)), R(), S(2, "done")),  # afresh, no add
        (2, A("buy", qty=2, rules=(True, None, None)), R(), S(2, "done")),  # afresh, same size
        (2, A("buy", qty=3, rules=(True, None, None)), R(max_order_qty=2),
         S(0, "done", clamped=True)),  # the entry opens 3: refused, the close kept
        (0, A("buy", qty=1, rules=(True, True, True)), R(), S(1, "done")),  # flat: an entry
    ],
)  # fmt: skip
def test_step_with_each_documented_rule_gives_planner_semantics(
    p: int, spec: AlertSpec, rules: Rules, expected: Step
) -> None:
    assert step(p, spec, rules) == expected


def test_replay_with_sequence_threads_the_position_through() -> None:
    specs = [AlertSpec("buy", qty=2), AlertSpec("buy", qty=1), AlertSpec("exit", qty=2)]
    steps = replay(specs, Rules(allow_add=True))
    assert [s.position for s in steps] == [2, 3, 1]
    assert replay(specs, Rules(allow_add=False))[1] == Step(2, "denied", "add_not_allowed")


def test_reducing_with_exit_intents_and_flat_target_only() -> None:
    assert AlertSpec("exit").reducing
    assert AlertSpec("sell", position="flat", size=0).reducing
    assert not AlertSpec("reverse").reducing
    assert not AlertSpec("sell", position="short", size=1).reducing


_CONTRACTS = {
    root: ContractSpec(Contract(100 + n, f"{root}Z4"), Product(n, root, D("0.25"), D(5)))
    for n, root in enumerate(("MNQ", "ES", "CL", "MES"), start=1)
}


def _planned(p: int, body: bytes, lane_index: int) -> tuple[int, str, str | None, bool]:
    """Plan one rendered alert as the webhook (parse, symbol map) and executor (policy) do."""
    lane = LANES[lane_index]
    strategy = BOOK[lane.strategy]
    parsed = parse_alert(body.decode())
    signal = dataclasses.replace(parsed.signal, symbol=strategy.trade_symbol(parsed.signal.symbol))
    result = plan(
        signal,
        Book(net_pos=p),
        _CONTRACTS[lane.root],
        RiskState(now=NOW),
        policy_for(strategy, lane.account, lane.rules.multiplier),
        Account(lane.account_id, lane.account),
        signal_id="sig-1",
    )
    if isinstance(result, Denial):
        return p, "denied", str(result.reason), False
    return result.position_after, "done", None, result.withheld is not None


@pytest.mark.parametrize("seed", range(12))
def test_oracle_with_random_sequences_agrees_with_planner(seed: int) -> None:
    rng = random.Random(seed)
    for index, lane in enumerate(LANES):
        p = 0
        for n in range(60):
            spec = spec_when_held(rng, p) if p else spec_when_flat(rng)
            symbol = {"MNQ": "NQ1!", "ES": "ES1!", "CL": "CL1!", "MES": "MES1!"}[lane.root]
            bodies = [(native_body(spec, symbol, f"a{n}"), spec)]
            if traderspost_can_say(spec):  # read by TradersPost's rules
                sent = dataclasses.replace(spec, traderspost=True)
                bodies.append((traderspost_body(spec, symbol, f"a{n}"), sent))
            if pickmytrade_can_say(spec):  # with PickMyTrade's position rules
                ruled = dataclasses.replace(spec, rules=draw_rules(rng))
                bodies.append((pickmytrade_body(ruled, symbol, f"a{n}"), ruled))
            expected = step(p, spec, lane.rules)
            for body, read_as in bodies:
                got = _planned(p, json.dumps(body).encode(), index)
                wanted = step(p, read_as, lane.rules)
                want = (wanted.position, wanted.outcome, wanted.code, wanted.clamped)
                assert got == want, (lane, p, body)
            p = expected.position
